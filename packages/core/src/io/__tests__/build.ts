/**
 * Builds safetensors bytes by hand for the tests, independently of the library's writer: an 8-byte
 * little-endian length, the header text as given (padding is the caller's choice), then the data bytes.
 */
export function buildFile(header: string | object, data: Uint8Array = new Uint8Array(0), declaredLength?: bigint): Uint8Array {
  const text = typeof header === "string" ? header : JSON.stringify(header);
  const json = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, declaredLength ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** Concatenates byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Little-endian bytes of numbers written with the given DataView setter. */
export function le(kind: "f32" | "f64" | "i32" | "u16" | "u8" | "i8" | "i16" | "u32", values: readonly number[]): Uint8Array {
  const size = { f32: 4, f64: 8, i32: 4, u16: 2, u8: 1, i8: 1, i16: 2, u32: 4 }[kind];
  const out = new Uint8Array(size * values.length);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => {
    const at = i * size;
    switch (kind) {
      case "f32": view.setFloat32(at, v, true); break;
      case "f64": view.setFloat64(at, v, true); break;
      case "i32": view.setInt32(at, v, true); break;
      case "u16": view.setUint16(at, v, true); break;
      case "u8": view.setUint8(at, v); break;
      case "i8": view.setInt8(at, v); break;
      case "i16": view.setInt16(at, v, true); break;
      case "u32": view.setUint32(at, v, true); break;
    }
  });
  return out;
}

/** Little-endian 64-bit integers. */
export function le64(values: readonly bigint[], signed = true): Uint8Array {
  const out = new Uint8Array(8 * values.length);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => (signed ? view.setBigInt64(8 * i, v, true) : view.setBigUint64(8 * i, v, true)));
  return out;
}

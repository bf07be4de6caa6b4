/**
 * 16-bit float formats ↔ float32, bit-exact with PyTorch's casts.
 *
 * IEEE 754 binary16 (F16: 1 sign, 5 exponent, 10 mantissa bits) and bfloat16 (BF16: the top 16 bits of a
 * float32). Narrowing rounds to nearest, ties to even (what `torch.Tensor.to(torch.float16 / bfloat16)` does),
 * overflows to ±inf, keeps -0, and turns NaN into the canonical quiet NaN like c10 does; F16 subnormals are produced and read exactly.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The binary16 bit pattern nearest to the float32 value `x` (ties to even). */
export function float32ToFloat16Bits(x: number): number {
  f32[0] = x;
  return bitsFloat32ToFloat16(u32[0] as number);
}

function bitsFloat32ToFloat16(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) {
    // inf stays inf; any NaN becomes the canonical quiet NaN with its sign (c10's fp16_ieee_from_fp32_value).
    return mantissa === 0 ? sign | 0x7c00 : sign | 0x7e00;
  }
  const e = exponent - 127 + 15; // re-biased exponent
  if (e >= 0x1f) return sign | 0x7c00; // ≥ 2^16: beyond the largest finite half even before rounding
  if (e <= 0) {
    // Subnormal half (or zero): the value is m · 2^-24 with m = significand >> (14 - e).
    if (e < -10) return sign; // < 2^-25: rounds to ±0 (exactly 2^-25 is a tie, handled below when e = -10)
    const significand = mantissa | 0x800000;
    const shift = 14 - e;
    let half = significand >>> shift;
    const rest = significand & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && (half & 1) === 1)) half += 1; // may carry into the smallest normal: correct
    return sign | half;
  }
  let half = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1)) half += 1; // a carry may reach 0x7c00 = inf: correct
  return sign | half;
}

/** The float32 (exactly representable) value of the binary16 bit pattern `h`. */
export function float16BitsToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >>> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1024 + mantissa) * 2 ** (exponent - 25);
}

/** The bfloat16 bit pattern nearest to the float32 value `x` (ties to even). */
export function float32ToBFloat16Bits(x: number): number {
  f32[0] = x;
  return bitsFloat32ToBFloat16(u32[0] as number);
}

function bitsFloat32ToBFloat16(bits: number): number {
  if ((bits & 0x7fffffff) > 0x7f800000) return 0x7fc0; // any NaN → canonical quiet NaN (c10's round_to_nearest_even)
  // Adding 0x7fff plus the lowest kept bit rounds to nearest-even; a carry into the exponent gives inf.
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** The float32 value of the bfloat16 bit pattern `b` (exact). */
export function bfloat16BitsToFloat32(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0] as number;
}

/** All 2^16 binary16 values as float32, built on first use: decoding a tensor is then one lookup per element. */
let float16Table: Float32Array | undefined;
function float16Lookup(): Float32Array {
  if (float16Table === undefined) {
    float16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) float16Table[h] = float16BitsToFloat32(h);
  }
  return float16Table;
}

/** Decodes `count` little-endian binary16 values starting at `view`'s byte `offset`. */
export function decodeFloat16(view: DataView, offset: number, count: number): Float32Array {
  const table = float16Lookup();
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = table[view.getUint16(offset + 2 * i, true)] as number;
  return out;
}

/** Decodes `count` little-endian bfloat16 values starting at `view`'s byte `offset`. */
export function decodeBFloat16(view: DataView, offset: number, count: number): Float32Array {
  const out = new Float32Array(count);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < count; i++) outBits[i] = view.getUint16(offset + 2 * i, true) << 16;
  return out;
}

/** Encodes float32 values as little-endian binary16 into `view` at byte `offset`. */
export function encodeFloat16(values: Float32Array, view: DataView, offset: number): void {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < values.length; i++) view.setUint16(offset + 2 * i, bitsFloat32ToFloat16(bits[i] as number), true);
}

/** Encodes float32 values as little-endian bfloat16 into `view` at byte `offset`. */
export function encodeBFloat16(values: Float32Array, view: DataView, offset: number): void {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < values.length; i++) view.setUint16(offset + 2 * i, bitsFloat32ToBFloat16(bits[i] as number), true);
}

/**
 * Independent float64 references for the safetensors tests (test-only; not exported by the package).
 *
 * Nearest 16-bit float by exhaustive search: every finite positive value of the format is computed from the
 * IEEE definition (sign · 2^(e-bias) · (1 + m/2^p), subnormals 2^(1-bias) · m/2^p) in float64, and a number is
 * rounded by binary search over that sorted list, ties to the even bit pattern. Infinity is the list's last
 * entry at the first value the exponent cannot hold (2^16 for F16, 2^128 for BF16), so rounding past
 * max + ½ulp gives inf exactly as IEEE round-to-nearest-even does.
 */

interface HalfFormat {
  readonly exponentBits: number;
  readonly mantissaBits: number;
}
export const F16: HalfFormat = { exponentBits: 5, mantissaBits: 10 };
export const BF16: HalfFormat = { exponentBits: 8, mantissaBits: 7 };

/** The value of a 16-bit pattern under the IEEE definition, computed in float64. */
export function halfValue(format: HalfFormat, bits: number): number {
  const { exponentBits, mantissaBits } = format;
  const sign = bits & 0x8000 ? -1 : 1;
  const e = (bits >> mantissaBits) & ((1 << exponentBits) - 1);
  const m = bits & ((1 << mantissaBits) - 1);
  const bias = (1 << (exponentBits - 1)) - 1;
  if (e === (1 << exponentBits) - 1) return m === 0 ? sign * Infinity : NaN;
  if (e === 0) return sign * Math.pow(2, 1 - bias) * (m / Math.pow(2, mantissaBits));
  return sign * Math.pow(2, e - bias) * (1 + m / Math.pow(2, mantissaBits));
}

const tables = new Map<HalfFormat, { values: number[]; bits: number[] }>();
function positiveTable(format: HalfFormat): { values: number[]; bits: number[] } {
  let table = tables.get(format);
  if (table === undefined) {
    const infBits = ((1 << format.exponentBits) - 1) << format.mantissaBits;
    const values: number[] = [];
    const bits: number[] = [];
    for (let b = 0; b < infBits; b++) {
      values.push(halfValue(format, b));
      bits.push(b);
    }
    const bias = (1 << (format.exponentBits - 1)) - 1;
    values.push(Math.pow(2, bias + 1)); // where the next binade would start: stands for inf
    bits.push(infBits);
    table = { values, bits };
    tables.set(format, table);
  }
  return table;
}

/** The bit pattern nearest to `x` (ties to even), NaN → the canonical quiet NaN PyTorch writes. */
export function nearestHalfBits(format: HalfFormat, x: number): number {
  if (Number.isNaN(x)) return format === F16 ? 0x7e00 : 0x7fc0;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  const { values, bits } = positiveTable(format);
  const last = values.length - 1;
  if (a >= (values[last] as number)) return sign | (bits[last] as number);
  let lo = 0;
  let hi = last; // values[lo] <= a < values[hi]
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if ((values[mid] as number) <= a) lo = mid;
    else hi = mid;
  }
  const below = a - (values[lo] as number);
  const above = (values[hi] as number) - a;
  const pick = below < above ? lo : above < below ? hi : (bits[lo] as number) % 2 === 0 ? lo : hi;
  return sign | (bits[pick] as number);
}

/** The value `x` takes after rounding to the format (what a reader gets back). */
export function roundToHalf(format: HalfFormat, x: number): number {
  return halfValue(format, nearestHalfBits(format, x));
}

/** Bytes per element of each safetensors dtype the reference reads. */
export const SIZE: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I32: 4, I64: 8, U8: 1, I8: 1, I16: 2, U16: 2, BOOL: 1 };

/** An independent reading of a tensor's little-endian bytes (DataView), for checking the reader. */
export function referenceValues(dtype: string, bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = bytes.length / (SIZE[dtype] as number);
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    switch (dtype) {
      case "F32": out.push(view.getFloat32(4 * i, true)); break;
      case "F16": out.push(halfValue(F16, view.getUint16(2 * i, true))); break;
      case "BF16": out.push(halfValue(BF16, view.getUint16(2 * i, true))); break;
      case "F64": out.push(Math.fround(view.getFloat64(8 * i, true))); break;
      case "I32": out.push(view.getInt32(4 * i, true)); break;
      case "I64": out.push(Number(view.getBigInt64(8 * i, true))); break;
      case "U8": out.push(view.getUint8(i)); break;
      case "I8": out.push(view.getInt8(i)); break;
      case "I16": out.push(view.getInt16(2 * i, true)); break;
      case "U16": out.push(view.getUint16(2 * i, true)); break;
      case "BOOL": out.push(view.getUint8(i) === 0 ? 0 : 1); break;
      default: throw new Error(`reference: unexpected dtype ${dtype}`);
    }
  }
  return out;
}

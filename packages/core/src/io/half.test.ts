import fc from "fast-check";
import { describe, expect, it } from "vitest";

import { bfloat16BitsToFloat32, float16BitsToFloat32, float32ToBFloat16Bits, float32ToFloat16Bits } from "./half.js";
import { BF16, F16, halfValue, nearestHalfBits } from "./__tests__/reference.js";

describe("F16 / BF16 conversion", () => {
  it("decodes every 16-bit pattern to its IEEE value", () => {
    const same = (a: number, b: number): boolean => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
    const wrong: string[] = [];
    for (let bits = 0; bits < 65536; bits++) {
      if (!same(float16BitsToFloat32(bits), halfValue(F16, bits))) wrong.push(`F16 0x${bits.toString(16)}`);
      if (!same(bfloat16BitsToFloat32(bits), halfValue(BF16, bits))) wrong.push(`BF16 0x${bits.toString(16)}`);
    }
    expect(wrong).toEqual([]);
  });

  it("rounds chosen values like IEEE round-to-nearest-even", () => {
    // Hand-derived bit patterns: 1/3 → 0x3555 (0.333251953125) in F16 and 0x3EAB (0.333984375) in BF16;
    // 65504 is F16's max; 65519 rounds down to it; 65520 is the tie above it → inf; 1e-8 is below half the
    // smallest F16 subnormal (2^-25) → +0; 2^-25 itself ties to 0 (even); 3·2^-26 rounds up to 2^-24;
    // 2049 ties between 2048 (even mantissa) and 2050 → 2048; 2051 ties → 2052 (even).
    const cases: [number, number][] = [
      [1 / 3, 0x3555], [-1 / 3, 0xb555], [65504, 0x7bff], [65519, 0x7bff], [65520, 0x7c00], [1e-8, 0x0000],
      [2 ** -25, 0x0000], [3 * 2 ** -26, 0x0001], [2 ** -24, 0x0001], [2 ** -14, 0x0400], [2049, 0x6800],
      [2051, 0x6802], [-0, 0x8000], [Infinity, 0x7c00], [-Infinity, 0xfc00], [1e6, 0x7c00],
    ];
    for (const [x, bits] of cases) expect([x, float32ToFloat16Bits(x)]).toEqual([x, bits]);
    expect(float32ToFloat16Bits(NaN) & 0x7e00).toBe(0x7e00);

    // BF16: 1 + 2^-8 is the tie between 1 (0x3F80, even) and 1 + 2^-7 → 1; 1 + 3·2^-8 ties → 1 + 2^-6 (0x3F82).
    const bcases: [number, number][] = [
      [1 / 3, 0x3eab], [1 + 2 ** -8, 0x3f80], [1 + 3 * 2 ** -8, 0x3f82], [65504, 0x4780], [-0, 0x8000],
      [Infinity, 0x7f80], [3.4e38, 0x7f80], [-Infinity, 0xff80],
    ];
    for (const [x, bits] of bcases) expect([x, float32ToBFloat16Bits(x)]).toEqual([x, bits]);
    expect(float32ToBFloat16Bits(NaN)).toBe(0x7fc0);
  });

  it("matches an exhaustive nearest-value search on random float32 values", () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true }), (x) => {
        expect(float32ToFloat16Bits(x)).toBe(nearestHalfBits(F16, x));
        expect(float32ToBFloat16Bits(x)).toBe(nearestHalfBits(BF16, x));
      }),
      { numRuns: 3000, seed: 7 },
    );
    // Dense near F16's subnormal/normal boundary and overflow edge, where rounding is most delicate.
    fc.assert(
      fc.property(fc.oneof(fc.float({ min: 0, max: Math.fround(2 ** -13), noNaN: true }), fc.float({ min: 60000, max: 70000, noNaN: true })), (x) => {
        expect(float32ToFloat16Bits(x)).toBe(nearestHalfBits(F16, x));
      }),
      { numRuns: 3000, seed: 11 },
    );
  });
});

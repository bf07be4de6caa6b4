import { describe, it, expect } from "vitest";
import { mean, median, percentile, summarize } from "./stats.js";

describe("stats", () => {
  it("percentile interpolates linearly between closest ranks (numpy's default)", () => {
    // numpy.percentile([1, 2, 3, 4], [10, 50, 90]) = [1.3, 2.5, 3.7]
    const v = [4, 1, 3, 2];
    expect(percentile(v, 10)).toBeCloseTo(1.3, 12);
    expect(percentile(v, 50)).toBeCloseTo(2.5, 12);
    expect(percentile(v, 90)).toBeCloseTo(3.7, 12);
    expect(percentile(v, 0)).toBe(1);
    expect(percentile(v, 100)).toBe(4);
  });

  it("median of an odd count is the middle value; the input is not reordered", () => {
    const v = [9, 1, 5];
    expect(median(v)).toBe(5);
    expect(v).toEqual([9, 1, 5]);
  });

  it("summarize matches hand-computed figures", () => {
    const s = summarize([10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110]);
    // rank for p10 = 0.1·10 = 1 → 20; p90 rank 9 → 100
    expect(s).toEqual({ n: 11, median: 60, p10: 20, p90: 100, mean: 60, min: 10, max: 110 });
    expect(mean([1, 2])).toBe(1.5);
  });

  it("rejects empty input and bad percentiles with clear errors", () => {
    expect(() => summarize([])).toThrow(/no values/);
    expect(() => percentile([1], 101)).toThrow(/\[0, 100\]/);
  });
});

/**
 * Summary statistics for timings. Percentiles use linear interpolation between closest ranks (numpy's
 * default `method="linear"`), so figures match what the Python peer reports with `numpy.percentile`.
 */

export interface Summary {
  /** Number of samples summarised. */
  n: number;
  median: number;
  p10: number;
  p90: number;
  mean: number;
  min: number;
  max: number;
}

/** The q-th percentile (0 ≤ q ≤ 100) of `values`, linear interpolation between closest ranks. */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) throw new Error("percentile: no values; time at least one step.");
  if (!(q >= 0 && q <= 100)) throw new Error(`percentile: q must be in [0, 100], got ${q}.`);
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (q / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return a + (b - a) * (rank - lo);
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

export function mean(values: readonly number[]): number {
  if (values.length === 0) throw new Error("mean: no values.");
  let s = 0;
  for (const v of values) s += v;
  return s / values.length;
}

export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) throw new Error("summarize: no values; time at least one step.");
  return {
    n: values.length,
    median: median(values),
    p10: percentile(values, 10),
    p90: percentile(values, 90),
    mean: mean(values),
    min: Math.min(...values),
    max: Math.max(...values),
  };
}

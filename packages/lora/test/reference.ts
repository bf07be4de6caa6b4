/**
 * Float64 reference maths for the LoRA tests: plain row-major matrices, written independently of the code
 * under test (no tfjs), so every expectation is computed a second way.
 */
import { tf } from "@peftjs/core";
import type { Tensor } from "@peftjs/core";

export interface Mat {
  rows: number;
  cols: number;
  data: Float64Array;
}

export function mat(rows: number, cols: number, data?: ArrayLike<number>): Mat {
  const d = new Float64Array(rows * cols);
  if (data !== undefined) {
    if (data.length !== rows * cols) throw new Error(`mat: ${rows}×${cols} needs ${rows * cols} values, got ${data.length}`);
    for (let i = 0; i < d.length; i++) d[i] = data[i]!;
  }
  return { rows, cols, data: d };
}

export function get(a: Mat, i: number, j: number): number {
  return a.data[i * a.cols + j]!;
}

/** A 2-D tensor's float32 values as a float64 matrix. */
export function fromTensor(t: Tensor): Mat {
  if (t.rank !== 2) throw new Error(`fromTensor: expected rank 2, got ${t.rank}`);
  return mat(t.shape[0] ?? 0, t.shape[1] ?? 0, t.dataSync());
}

export function matmul(a: Mat, b: Mat): Mat {
  if (a.cols !== b.rows) throw new Error(`matmul: ${a.rows}×${a.cols} · ${b.rows}×${b.cols}`);
  const out = mat(a.rows, b.cols);
  for (let i = 0; i < a.rows; i++) {
    for (let k = 0; k < a.cols; k++) {
      const x = get(a, i, k);
      for (let j = 0; j < b.cols; j++) out.data[i * b.cols + j]! += x * get(b, k, j);
    }
  }
  return out;
}

export function transpose(a: Mat): Mat {
  const out = mat(a.cols, a.rows);
  for (let i = 0; i < a.rows; i++) for (let j = 0; j < a.cols; j++) out.data[j * a.rows + i] = get(a, i, j);
  return out;
}

export function add(a: Mat, b: Mat): Mat {
  const out = mat(a.rows, a.cols);
  for (let i = 0; i < a.data.length; i++) out.data[i] = a.data[i]! + b.data[i]!;
  return out;
}

export function scale(a: Mat, s: number): Mat {
  const out = mat(a.rows, a.cols);
  for (let i = 0; i < a.data.length; i++) out.data[i] = a.data[i]! * s;
  return out;
}

/** a + bias broadcast over rows. */
export function addRow(a: Mat, bias: ArrayLike<number>): Mat {
  const out = mat(a.rows, a.cols);
  for (let i = 0; i < a.rows; i++) for (let j = 0; j < a.cols; j++) out.data[i * a.cols + j] = get(a, i, j) + bias[j]!;
  return out;
}

/** Scales column j by f[j]. */
export function scaleCols(a: Mat, f: ArrayLike<number>): Mat {
  const out = mat(a.rows, a.cols);
  for (let i = 0; i < a.rows; i++) for (let j = 0; j < a.cols; j++) out.data[i * a.cols + j] = get(a, i, j) * f[j]!;
  return out;
}

/** Scales row i by f[i]. */
export function scaleRows(a: Mat, f: ArrayLike<number>): Mat {
  const out = mat(a.rows, a.cols);
  for (let i = 0; i < a.rows; i++) for (let j = 0; j < a.cols; j++) out.data[i * a.cols + j] = get(a, i, j) * f[i]!;
  return out;
}

/** L2 norm of each row. */
export function rowNorms(a: Mat): Float64Array {
  const out = new Float64Array(a.rows);
  for (let i = 0; i < a.rows; i++) {
    let s = 0;
    for (let j = 0; j < a.cols; j++) s += get(a, i, j) ** 2;
    out[i] = Math.sqrt(s);
  }
  return out;
}

/** Rows of a picked by index. */
export function pickRows(a: Mat, ids: readonly number[]): Mat {
  const out = mat(ids.length, a.cols);
  ids.forEach((id, i) => {
    for (let j = 0; j < a.cols; j++) out.data[i * a.cols + j] = get(a, id, j);
  });
  return out;
}

/** max |actual − expected| / max |expected| (1 when expected is all zeros). */
export function relErr(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`relErr: lengths ${actual.length} vs ${expected.length}`);
  let diff = 0;
  let scaleMax = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!));
    scaleMax = Math.max(scaleMax, Math.abs(expected[i]!));
  }
  return diff / (scaleMax > 0 ? scaleMax : 1);
}

/** max |actual − expected|. */
export function maxAbsDiff(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`maxAbsDiff: lengths ${actual.length} vs ${expected.length}`);
  let diff = 0;
  for (let i = 0; i < expected.length; i++) diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!));
  return diff;
}

/** A deterministic pseudo-random generator (mulberry32) for test data. */
export function rng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A float32 tensor of uniform values in [−scale, scale). */
export function randomTensor(shape: number[], seed: number, scaleBy = 1): Tensor {
  const next = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const values = Float32Array.from({ length: n }, () => (2 * next() - 1) * scaleBy);
  return tf.tensor(values, shape, "float32");
}

/** Orthonormal columns (m×k) from Gram–Schmidt on random vectors, float64. */
export function randomOrthonormal(m: number, k: number, seed: number): Mat {
  const next = rng(seed);
  const q = mat(m, k);
  for (let j = 0; j < k; j++) {
    const v = Float64Array.from({ length: m }, () => 2 * next() - 1);
    for (let pass = 0; pass < 2; pass++) {
      for (let p = 0; p < j; p++) {
        let dot = 0;
        for (let i = 0; i < m; i++) dot += get(q, i, p) * v[i]!;
        for (let i = 0; i < m; i++) v[i]! -= dot * get(q, i, p);
      }
    }
    const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    for (let i = 0; i < m; i++) q.data[i * k + j] = v[i]! / norm;
  }
  return q;
}

/**
 * Geometric merges of whole tensors: SLERP, NuSLERP, the Karcher (Riemannian) mean and Model Stock, as
 * mergekit defines them (`merge_methods/slerp.py`, `nuslerp.py`, `karcher.py`, `model_stock.py`). Pure
 * (`tf.tidy`); inputs are left alone.
 */
import { tf } from "@peftjs/core";
import type { Tensor } from "@peftjs/core";
import { MergeArgumentError } from "./sparsify.js";

function sameShape(a: Tensor, b: Tensor, where: string): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new MergeArgumentError(`${where}: shapes [${a.shape.join(", ")}] and [${b.shape.join(", ")}] differ.`);
  }
}

function checkT(t: number, where: string): void {
  if (typeof t !== "number" || !Number.isFinite(t)) throw new MergeArgumentError(`${where}: t must be a finite number, got ${String(t)}.`);
}

export interface SlerpOptions {
  /** |cos θ| above this is treated as colinear and interpolated linearly (mergekit's 0.9995). */
  dotThreshold?: number;
  /** Norms at or below this are not normalised (mergekit's 1e-8). */
  eps?: number;
}

/**
 * Spherical linear interpolation of two tensors seen as flat vectors (mergekit `slerp`):
 * θ = arccos(v̂₀·v̂₁), result = sin((1−t)θ)/sin θ · v₀ + sin(tθ)/sin θ · v₁ on the UNNORMALISED tensors;
 * falls back to lerp (1−t)v₀ + t·v₁ when |v̂₀·v̂₁| > dotThreshold (near-parallel, where sin θ → 0).
 * Branch-free on the device (no sync read).
 */
export function slerp(t: number, v0: Tensor, v1: Tensor, options: SlerpOptions = {}): Tensor {
  checkT(t, "slerp");
  sameShape(v0, v1, "slerp");
  const threshold = options.dotThreshold ?? 0.9995;
  const eps = options.eps ?? 1e-8;
  return tf.tidy(() => {
    const unit = (v: Tensor): Tensor => {
      const norm = tf.sqrt(tf.sum(tf.square(v)));
      return tf.where(tf.greater(norm, eps), tf.div(v, tf.maximum(norm, eps)), v);
    };
    const dot = tf.sum(tf.mul(unit(v0), unit(v1)));
    const lerped = tf.add(tf.mul(v0, 1 - t), tf.mul(v1, t));
    const theta = tf.acos(tf.clipByValue(dot, -1, 1));
    const sinTheta = tf.sin(theta);
    const safeSin = tf.where(tf.greater(tf.abs(sinTheta), 0), sinTheta, tf.onesLike(sinTheta));
    const s0 = tf.div(tf.sin(tf.mul(theta, 1 - t)), safeSin);
    const s1 = tf.div(tf.sin(tf.mul(theta, t)), safeSin);
    const slerped = tf.add(tf.mul(v0, s0), tf.mul(v1, s1));
    return tf.where(tf.greater(tf.abs(dot), threshold), lerped, slerped);
  });
}

export interface NuSlerpOptions {
  /** Interpolate each row (mergekit `nuslerp_row_wise`: vectors along axis 0) instead of each last-axis vector. */
  rowWise?: boolean;
  /** Treat the whole tensor as one vector (mergekit `nuslerp_flatten`, default true). */
  flatten?: boolean;
  /** |sin θ| below this counts as colinear → lerp (mergekit's 1e-8). */
  eps?: number;
}

/**
 * mergekit `nuslerp`: slerp per vector (the last axis, or axis 0 with rowWise, or the whole tensor with
 * flatten), lerp where the vectors are colinear. Normalisation clamps norms at 1e-7 as mergekit does.
 */
export function nuslerp(t: number, v0: Tensor, v1: Tensor, options: NuSlerpOptions = {}): Tensor {
  checkT(t, "nuslerp");
  sameShape(v0, v1, "nuslerp");
  const flatten = options.flatten ?? true;
  const eps = options.eps ?? 1e-8;
  return tf.tidy(() => {
    const shape = v0.shape;
    const toVectors = (v: Tensor): Tensor => {
      if (flatten || v.rank < 2) return tf.reshape(v, [1, -1]);
      const moved = options.rowWise === true ? tf.transpose(v, [...Array.from({ length: v.rank - 1 }, (_, i) => i + 1), 0]) : v;
      return tf.reshape(moved, [-1, moved.shape[moved.rank - 1]!]);
    };
    const a = toVectors(v0);
    const b = toVectors(v1);
    const normalise = (x: Tensor): Tensor => tf.div(x, tf.maximum(tf.sqrt(tf.sum(tf.square(x), -1, true)), 1e-7));
    const cos = tf.sum(tf.mul(normalise(a), normalise(b)), -1, true);
    const theta = tf.acos(tf.clipByValue(cos, -1, 1));
    const sinTheta = tf.sin(theta);
    const colinear = tf.less(tf.abs(sinTheta), eps);
    const safeSin = tf.where(colinear, tf.onesLike(sinTheta), sinTheta);
    const slerped = tf.div(tf.add(tf.mul(tf.sin(tf.mul(theta, 1 - t)), a), tf.mul(tf.sin(tf.mul(theta, t)), b)), safeSin);
    const lerped = tf.add(tf.mul(a, 1 - t), tf.mul(b, t));
    const res = tf.where(tf.broadcastTo(colinear, a.shape), lerped, slerped);
    if (flatten || v0.rank < 2) return tf.reshape(res, shape);
    if (options.rowWise !== true) return tf.reshape(res, shape);
    const movedShape = [...shape.slice(1), shape[0]];
    const back = tf.reshape(res, movedShape);
    return tf.transpose(back, [v0.rank - 1, ...Array.from({ length: v0.rank - 1 }, (_, i) => i)]);
  });
}

export interface KarcherOptions {
  /** Default 10 (mergekit's). */
  maxIter?: number;
  /** Default 1e-5 (mergekit's). */
  tol?: number;
}

/**
 * Karcher (Riemannian) mean on the unit sphere, times the weighted mean norm (mergekit
 * `karcher_merge_tensors`): u starts at the normalised weighted mean of the unit vectors, then
 * u ← cos‖T‖·u + sin‖T‖·T/‖T‖ with T = Σ aᵢ·θᵢ/sin θᵢ·(uᵢ − cos θᵢ·u), until ‖T‖ < tol; result (Σ aᵢ‖xᵢ‖)·u.
 * Reads scalars synchronously to decide convergence (cpu / wasm / tensorflow backends).
 */
export function karcherMean(tensors: readonly Tensor[], alphas?: readonly number[], options: KarcherOptions = {}): Tensor {
  if (tensors.length === 0) throw new MergeArgumentError("karcherMean: no tensors to merge.");
  for (const t of tensors) sameShape(tensors[0]!, t, "karcherMean");
  const weights = alphas ?? tensors.map(() => 1 / tensors.length);
  if (weights.length !== tensors.length) throw new MergeArgumentError(`karcherMean: ${tensors.length} tensors but ${weights.length} weights.`);
  const maxIter = options.maxIter ?? 10;
  const tol = options.tol ?? 1e-5;
  if (tensors.length === 1) return tf.clone(tensors[0]!);
  return tf.tidy(() => {
    const norms = tensors.map((t) => tf.norm(t).dataSync()[0]!);
    const units = tensors.map((t, i) => (norms[i] === 0 ? tf.zerosLike(t) : tf.div(t, norms[i]!)));
    const valid = norms.map((n, i) => (n > tol ? i : -1)).filter((i) => i >= 0);
    if (valid.length === 0) return tf.zerosLike(tensors[0]!);
    const alphaSum = valid.reduce((s, i) => s + weights[i]!, 0);
    const a = valid.map((i) => weights[i]! / alphaSum);
    const us = valid.map((i) => units[i]!);
    let u: Tensor = us.reduce((acc, ui, j) => tf.add(acc, tf.mul(ui, a[j]!)), tf.zerosLike(us[0]!));
    const normU = tf.norm(u).dataSync()[0]!;
    u = normU < tol ? us[0]! : tf.div(u, normU);
    for (let iter = 0; iter < maxIter; iter++) {
      let tangent: Tensor = tf.zerosLike(u);
      for (let j = 0; j < us.length; j++) {
        const dot = Math.min(1, Math.max(-1, tf.sum(tf.mul(u, us[j]!)).dataSync()[0]!));
        const theta = Math.acos(dot);
        if (theta < tol) continue;
        tangent = tf.add(tangent, tf.mul(tf.sub(us[j]!, tf.mul(u, dot)), (a[j]! * theta) / Math.sin(theta)));
      }
      const normT = tf.norm(tangent).dataSync()[0]!;
      if (normT < tol) break;
      u = tf.add(tf.mul(u, Math.cos(normT)), tf.mul(tangent, Math.sin(normT) / normT));
      const un = tf.norm(u).dataSync()[0]!;
      if (un > tol) u = tf.div(u, un);
    }
    const scale = weights.reduce((s, w, i) => s + w * norms[i]!, 0);
    return tf.mul(u, scale);
  });
}

export interface ModelStockOptions {
  /** One interpolation ratio per row (last-axis vector; a vector is one row) instead of per tensor. */
  filterWise?: boolean;
}

/**
 * Model Stock (Jang et al. 2024; mergekit `ModelStockMergeTask`): with offsets δᵢ = wᵢ − w₀ from the base w₀
 * and cos θ the mean pairwise cosine of the offsets, t = N·cos θ / (1 + (N−1)·cos θ) and
 * result = t·mean(wᵢ) + (1 − t)·w₀. Needs at least two fine-tuned tensors. Cosines divide by
 * max(‖δᵢ‖‖δⱼ‖, 1e-6) and are clamped to [−1, 1], as mergekit.
 */
export function modelStock(base: Tensor, tensors: readonly Tensor[], options: ModelStockOptions = {}): Tensor {
  if (tensors.length < 2) throw new MergeArgumentError(`modelStock needs at least two fine-tuned tensors besides the base, got ${tensors.length}.`);
  for (const t of tensors) sameShape(base, t, "modelStock");
  return tf.tidy(() => {
    const rows = (x: Tensor): Tensor => (options.filterWise === true ? (x.rank < 2 ? tf.reshape(x, [1, -1]) : tf.reshape(x, [-1, x.shape[x.rank - 1]!])) : tf.reshape(x, [1, -1]));
    const w0 = rows(base);
    const ws = tensors.map(rows);
    const offsets = ws.map((w) => tf.sub(w, w0));
    const cosines: Tensor[] = [];
    for (let i = 0; i < offsets.length; i++) {
      for (let j = i + 1; j < offsets.length; j++) {
        const normProduct = tf.mul(tf.norm(offsets[i]!, "euclidean", -1), tf.norm(offsets[j]!, "euclidean", -1));
        const cos = tf.div(tf.sum(tf.mul(offsets[i]!, offsets[j]!), -1), tf.maximum(normProduct, 1e-6));
        cosines.push(tf.clipByValue(cos, -1, 1));
      }
    }
    const cos = tf.expandDims(tf.mean(tf.stack(cosines), 0), -1); // [rows, 1]
    const n = ws.length;
    const t = tf.div(tf.mul(cos, n), tf.add(tf.mul(cos, n - 1), 1));
    const avg = tf.div(tf.addN(ws), n);
    const merged = tf.add(tf.mul(t, avg), tf.mul(tf.sub(1, t), w0));
    return tf.reshape(merged, base.shape);
  });
}

/**
 * Sparsification of one task vector τ (fine-tuned − base, or a LoRA factor): the "trim" and "drop" steps of
 * TIES, DARE, Model Breadcrumbs and DELLA. Every function is pure (`tf.tidy`, inputs untouched) and returns a
 * new tensor of the input's shape.
 *
 * Sources: PEFT `utils/merge_utils.py` (`magnitude_based_pruning`, `random_pruning`, `prune`) and mergekit
 * `mergekit/sparsify.py` (`magnitude`, `bernoulli`, `magnitude_outliers`, `della_magprune`,
 * `rescaled_masked_tensor`).
 */
import { tf } from "@peftjs/core";
import type { Tensor } from "@peftjs/core";

/**
 * How a randomly pruned tensor is rescaled:
 * - `"inverse"`: ÷ density, so that E[result] = τ (DARE paper; PEFT `random_pruning(rescale=True)`);
 * - `"l1"` / `"l2"` / `"linf"`: × ‖τ‖/‖masked‖ in that norm (mergekit `rescaled_masked_tensor`; its DARE
 *   default is `"l1"`), skipped when either norm is below 1e-7 like mergekit;
 * - `null`: no rescaling.
 */
export type Rescale = "inverse" | "l1" | "l2" | "linf" | null;

export class MergeArgumentError extends Error {
  override name = "MergeArgumentError";
}

export function checkDensity(density: number, where: string): void {
  if (typeof density !== "number" || !Number.isFinite(density) || density < 0) {
    throw new MergeArgumentError(`${where}: density must be a number ≥ 0 (the fraction of entries kept), got ${String(density)}.`);
  }
}

/** mergekit's `rescaled_masked_tensor`: masked × (‖τ‖/‖masked‖) in the given norm; masked unchanged when either norm < eps. */
export function rescaleToNorm(tensor: Tensor, masked: Tensor, norm: "l1" | "l2" | "linf", eps = 1e-7): Tensor {
  return tf.tidy(() => {
    const measure = (x: Tensor): Tensor =>
      norm === "l1" ? tf.sum(tf.abs(x)) : norm === "l2" ? tf.sqrt(tf.sum(tf.square(x))) : tf.max(tf.abs(x));
    const before = measure(tensor);
    const after = measure(masked);
    const small = tf.logicalOr(tf.less(before, eps), tf.less(after, eps));
    // Branch-free (no sync read): where the rescale is skipped the factor is 1.
    const factor = tf.where(small, tf.onesLike(before), tf.div(before, tf.maximum(after, eps)));
    return tf.mul(masked, factor);
  });
}

/** 0/1 mask `[n]` with ones at the k entries of `flat` (rank 1) with the largest |value|. */
function topMagnitudeMask(flat: Tensor, k: number): Tensor {
  return tf.tidy(() => {
    const n = flat.size;
    if (k <= 0) return tf.zeros([n]);
    if (k >= n) return tf.ones([n]);
    const { indices } = tf.topk(tf.abs(flat), k, true);
    return tf.scatterND(tf.reshape(indices, [k, 1]), tf.ones([k]), [n]);
  });
}

/**
 * Keeps the ⌊density·numel⌋ entries of largest magnitude, zeroes the rest (TIES "trim"; PEFT
 * `magnitude_based_pruning`, mergekit `magnitude`). density ≥ 1 keeps everything. Ties at the threshold are
 * broken by position (tfjs `topk`), as torch breaks them by its sort; which of two equal magnitudes survives
 * is not specified by either tool.
 */
export function magnitudePrune(tensor: Tensor, density: number, rescale: "l1" | "l2" | "linf" | null = null): Tensor {
  checkDensity(density, "magnitudePrune");
  return tf.tidy(() => {
    if (density >= 1) return tf.clone(tensor);
    const k = Math.floor(density * tensor.size);
    const mask = tf.reshape(topMagnitudeMask(tf.reshape(tensor, [-1]), k), tensor.shape);
    const masked = tf.mul(tensor, mask);
    return rescale === null ? masked : rescaleToNorm(tensor, masked, rescale);
  });
}

export interface RandomPruneOptions {
  /** Seed of the Bernoulli mask: the same seed gives the same mask (tfjs `randomUniform`'s seeded generator). */
  seed: number;
  /** Default `"inverse"` (PEFT's DARE). mergekit's DARE uses `"l1"`. */
  rescale?: Rescale;
}

/** A seeded 0/1 Bernoulli mask: each entry is 1 with probability p (a scalar or a tensor of probabilities). */
export function bernoulliMask(shape: number[], p: number | Tensor, seed: number): Tensor {
  return tf.tidy(() => tf.cast(tf.less(tf.randomUniform(shape, 0, 1, "float32", seed), p), "float32"));
}

/**
 * DARE "drop and rescale" (Yu et al. 2023): keeps each entry with probability `density` (seeded Bernoulli
 * mask), then rescales (PEFT `random_pruning`, mergekit `bernoulli`). density ≥ 1 keeps everything unchanged.
 */
export function randomPrune(tensor: Tensor, density: number, options: RandomPruneOptions): Tensor {
  checkDensity(density, "randomPrune");
  const rescale = options.rescale === undefined ? "inverse" : options.rescale;
  return tf.tidy(() => {
    if (density >= 1) return tf.clone(tensor);
    const masked = tf.mul(tensor, bernoulliMask(tensor.shape, density, options.seed));
    if (rescale === null) return masked;
    if (rescale === "inverse") return density === 0 ? masked : tf.div(masked, density);
    return rescaleToNorm(tensor, masked, rescale);
  });
}

/**
 * Model Breadcrumbs (Davari & Belilovsky 2023; mergekit `magnitude_outliers`): drops the `gamma` fraction of
 * largest magnitudes (outliers) and the smallest ones, keeping ⌊density·numel⌋ entries in between. When
 * density + gamma > 1 fewer outliers are dropped so that the density is met.
 */
export function magnitudeOutliers(tensor: Tensor, density: number, gamma = 0.01, rescale: "l1" | "l2" | "linf" | null = null): Tensor {
  checkDensity(density, "magnitudeOutliers");
  if (!(gamma >= 0 && gamma < 1)) throw new MergeArgumentError(`magnitudeOutliers: gamma must be in [0, 1), got ${gamma}.`);
  return tf.tidy(() => {
    if (density >= 1) return tf.clone(tensor);
    const n = tensor.size;
    const target = Math.floor(density * n);
    let nTop = Math.floor(gamma * n);
    let nBot = n - target - nTop;
    if (nBot < 0) {
      nTop += nBot;
      nBot = 0;
    }
    const flat = tf.reshape(tensor, [-1]);
    // Keep the (n − nBot) largest, minus the nTop largest: mergekit's indices[n_bot:-n_top] of an ascending sort.
    // (mergekit's slice with n_top = 0 is `[n_bot:-0]`, which is empty: it keeps nothing. That is a mergekit
    // quirk for gamma·numel < 1; here n_top = 0 keeps the n − n_bot largest, the documented intent.)
    const keep = tf.sub(topMagnitudeMask(flat, n - nBot), topMagnitudeMask(flat, nTop));
    const masked = tf.mul(tensor, tf.reshape(keep, tensor.shape));
    return rescale === null ? masked : rescaleToNorm(tensor, masked, rescale);
  });
}

export interface DellaOptions {
  seed: number;
  /** Half-width of the keep-probability range (default 0.15, mergekit's). */
  epsilon?: number;
  /** mergekit's DELLA default is `"l1"` (its `rescale` parameter on). */
  rescale?: "l1" | "l2" | "linf" | null;
}

/**
 * DELLA MagPrune (Deep et al. 2024; mergekit `della_magprune`): within each row (the last axis; a vector is
 * one row), keep probability rises linearly with the magnitude rank from density − ε (smallest) to density + ε
 * (largest); then a seeded Bernoulli mask and the norm rescale.
 */
export function dellaMagprune(tensor: Tensor, density: number, options: DellaOptions): Tensor {
  checkDensity(density, "dellaMagprune");
  const epsilon = options.epsilon ?? 0.15;
  const rescale = options.rescale === undefined ? "l1" : options.rescale;
  if (density >= 1) return tf.clone(tensor);
  if (density <= 0) return tf.zerosLike(tensor);
  if (density + epsilon >= 1 || density - epsilon <= 0) {
    throw new MergeArgumentError(`dellaMagprune: epsilon must be chosen so that density ± epsilon is in (0, 1); got density ${density}, epsilon ${epsilon}.`);
  }
  return tf.tidy(() => {
    const rows = tensor.rank < 2 ? tf.reshape(tensor, [1, -1]) : tf.reshape(tensor, [-1, tensor.shape[tensor.rank - 1]!]);
    const cols = rows.shape[1]!;
    // rank of each entry's magnitude within its row, 1..cols (argsort of argsort, as mergekit)
    const order = tf.topk(tf.neg(tf.abs(rows)), cols, true).indices; // ascending magnitude
    const positions = tf.tile(tf.reshape(tf.range(0, cols, 1, "float32"), [1, cols]), [rows.shape[0], 1]);
    const ranks = scatterRows(order, positions, rows.shape[0], cols); // 0-based rank
    // rank_norm = (rank − min)/(max − min) with min 0, max cols − 1. A one-column row has 0/0 in mergekit
    // (NaN, which torch.bernoulli refuses); here it gets rank_norm 0.
    const rankNorm = tf.clipByValue(tf.div(ranks, Math.max(cols - 1, 1)), 0, 1);
    const probs = tf.add(density - epsilon, tf.mul(rankNorm, 2 * epsilon));
    const mask = bernoulliMask(rows.shape, probs, options.seed);
    const masked = tf.reshape(tf.mul(rows, mask), tensor.shape);
    return rescale === null ? masked : rescaleToNorm(tensor, masked, rescale);
  });
}

/** out[r, idx[r, j]] = values[r, j] for a `[rows, cols]` index tensor (a permutation per row). */
function scatterRows(idx: Tensor, values: Tensor, rows: number, cols: number): Tensor {
  return tf.tidy(() => {
    const rowIds = tf.tile(tf.reshape(tf.range(0, rows, 1, "int32"), [rows, 1]), [1, cols]);
    const flatIdx = tf.add(tf.mul(rowIds, tf.scalar(cols, "int32")), tf.cast(idx, "int32"));
    return tf.reshape(tf.scatterND(tf.reshape(flatIdx, [-1, 1]), tf.reshape(values, [-1]), [rows * cols]), [rows, cols]);
  });
}

/**
 * Merging task vectors τᵢ (fine-tuned − base, or LoRA factors) with weights wᵢ: task arithmetic, magnitude
 * prune, TIES, DARE and their combinations, in the two flavours the field uses.
 *
 * - PEFT (`utils/merge_utils.py`, used by `add_weighted_adapter`): the sign is elected on the UNWEIGHTED trimmed
 *   tensors, and the disjoint mean divides by the COUNT of agreeing entries (min 1).
 * - mergekit (`merge_methods/generalized_task_arithmetic.py`, `GTATask.execute`): the sign is elected on the
 *   WEIGHTED deltas, and (with `normalize`) the sum divides by the SUM of agreeing weights (0 → 1).
 *
 * All functions are pure (`tf.tidy`) and leave their inputs alone.
 */
import { tf } from "@peftjs/core";
import type { Tensor } from "@peftjs/core";
import { MergeArgumentError, checkDensity, dellaMagprune, magnitudeOutliers, magnitudePrune, randomPrune } from "./sparsify.js";
import type { Rescale } from "./sparsify.js";

/** PEFT's `majority_sign_method`: elect on the sum of values ("total", the TIES paper) or the count of signs ("frequency"). mergekit calls them "sum" and "count". */
export type MajoritySignMethod = "total" | "frequency";

export type TiesVariant = "peft" | "mergekit";

function checkInputs(tensors: readonly Tensor[], weights: readonly number[], where: string): void {
  if (tensors.length === 0) throw new MergeArgumentError(`${where}: no tensors to merge.`);
  if (weights.length !== tensors.length) {
    throw new MergeArgumentError(`${where}: ${tensors.length} tensors but ${weights.length} weights; pass one weight per tensor.`);
  }
  const shape = tensors[0]!.shape;
  tensors.forEach((t, i) => {
    if (t.shape.length !== shape.length || t.shape.some((d, j) => d !== shape[j])) {
      throw new MergeArgumentError(`${where}: tensor ${i} has shape [${t.shape.join(", ")}], tensor 0 has [${shape.join(", ")}]; all must have one shape.`);
    }
  });
  weights.forEach((w, i) => {
    if (typeof w !== "number" || !Number.isFinite(w)) throw new MergeArgumentError(`${where}: weight ${i} must be a finite number, got ${String(w)}.`);
  });
}

/** The weights as a `[n, 1, …, 1]` tensor that broadcasts against the stacked `[n, …shape]` (PEFT `reshape_weight_task_tensors`). */
function weightColumn(weights: readonly number[], rank: number): Tensor {
  return tf.tensor(weights, [weights.length, ...Array<number>(rank).fill(1)], "float32");
}

/** A seed per input tensor, derived from one seed, so that each task vector gets its own mask. */
export function seedFor(seed: number, index: number): number {
  return (Math.imul(Math.floor(seed) | 0, 1000003) + Math.imul(index + 1, 2654435761 | 0)) >>> 1;
}

/**
 * 0/1 mask (same shape as `stacked`, `[n, …]`): entry i agrees with the elected sign. The sign is +1 where the
 * sum over i (of values for "total", of signs for "frequency") is ≥ 0, else −1 (a tie elects +); zero entries
 * never agree. PEFT `calculate_majority_sign_mask`, mergekit `get_mask`.
 */
export function majoritySignMask(stacked: Tensor, method: MajoritySignMethod = "total"): Tensor {
  if (method !== "total" && method !== "frequency") {
    throw new MergeArgumentError(`majoritySignMethod must be "total" or "frequency", got ${JSON.stringify(method)}.`);
  }
  return tf.tidy(() => {
    const sign = tf.sign(stacked);
    const magnitude = tf.sum(method === "total" ? stacked : sign, 0);
    const majority = tf.where(tf.greaterEqual(magnitude, 0), tf.onesLike(magnitude), tf.neg(tf.onesLike(magnitude)));
    return tf.cast(tf.equal(sign, majority), "float32");
  });
}

/** Σ wᵢτᵢ (Ilharco et al. 2023; PEFT `task_arithmetic`). */
export function taskArithmetic(tensors: readonly Tensor[], weights: readonly number[]): Tensor {
  checkInputs(tensors, weights, "taskArithmetic");
  return tf.tidy(() => weightedSum(tf.stack(tensors as Tensor[]), weights));
}

function weightedSum(stacked: Tensor, weights: readonly number[]): Tensor {
  return tf.sum(tf.mul(stacked, weightColumn(weights, stacked.rank - 1)), 0);
}

/** Magnitude-prune each τᵢ to `density`, then Σ wᵢτᵢ (PEFT `magnitude_prune`). */
export function magnitudePruneMerge(tensors: readonly Tensor[], weights: readonly number[], density: number): Tensor {
  checkInputs(tensors, weights, "magnitudePruneMerge");
  checkDensity(density, "magnitudePruneMerge");
  return tf.tidy(() => weightedSum(tf.stack(tensors.map((t) => magnitudePrune(t, density))), weights));
}

/** PEFT `disjoint_merge`: Σᵢ (wᵢτᵢ)·maskᵢ / max(Σᵢ maskᵢ, 1). */
function disjointMeanByCount(weighted: Tensor, mask: Tensor): Tensor {
  return tf.div(tf.sum(tf.mul(weighted, mask), 0), tf.maximum(tf.sum(mask, 0), 1));
}

export interface TiesOptions {
  /** Fraction of entries each τᵢ keeps in the trim step (PEFT requires it; mergekit's default is 1). */
  density: number;
  /** Default "total". */
  majoritySignMethod?: MajoritySignMethod;
  /** Default "peft": unweighted election, count divisor. "mergekit": weighted election, weight-sum divisor. */
  variant?: TiesVariant;
}

/**
 * TIES-Merging (Yadav et al. 2023): trim (magnitude prune) → elect sign → disjoint mean. See the file comment
 * for how the "peft" and "mergekit" variants differ.
 */
export function ties(tensors: readonly Tensor[], weights: readonly number[], options: TiesOptions): Tensor {
  checkInputs(tensors, weights, "ties");
  checkDensity(options.density, "ties");
  const variant = options.variant ?? "peft";
  return tf.tidy(() => {
    const trimmed = tf.stack(tensors.map((t) => magnitudePrune(t, options.density)));
    return consensusMerge(trimmed, weights, options.majoritySignMethod ?? "total", variant);
  });
}

/** The elect + disjoint-merge step shared by TIES and DARE-TIES, on already sparsified `[n, …]` task vectors. */
function consensusMerge(sparse: Tensor, weights: readonly number[], method: MajoritySignMethod, variant: TiesVariant): Tensor {
  const w = weightColumn(weights, sparse.rank - 1);
  const weighted = tf.mul(sparse, w);
  if (variant === "peft") return disjointMeanByCount(weighted, majoritySignMask(sparse, method));
  if (variant !== "mergekit") throw new MergeArgumentError(`variant must be "peft" or "mergekit", got ${JSON.stringify(variant)}.`);
  const mask = majoritySignMask(weighted, method);
  return divideByAgreeingWeights(tf.sum(tf.mul(weighted, mask), 0), w, mask);
}

/** mergekit: divisor = Σᵢ wᵢ·maskᵢ, with exact zeros replaced by 1. */
function divideByAgreeingWeights(mixed: Tensor, w: Tensor, mask: Tensor): Tensor {
  const divisor = tf.sum(tf.mul(tf.mul(tf.onesLike(mask), w), mask), 0);
  return tf.div(mixed, tf.where(tf.equal(divisor, 0), tf.onesLike(divisor), divisor));
}

export interface DareOptions {
  density: number;
  /** Masks are seeded per input from this seed (`seedFor(seed, i)`). */
  seed: number;
  /** Default "inverse" (÷ density, PEFT). mergekit's DARE rescales to the L1 norm ("l1"). */
  rescale?: Rescale;
}

function dareDrop(tensors: readonly Tensor[], options: DareOptions): Tensor {
  return tf.stack(tensors.map((t, i) => randomPrune(t, options.density, { seed: seedFor(options.seed, i), rescale: options.rescale ?? "inverse" })));
}

/** DARE then Σ wᵢτᵢ (PEFT `dare_linear`). With density 1 it is exactly task arithmetic. */
export function dareLinear(tensors: readonly Tensor[], weights: readonly number[], options: DareOptions): Tensor {
  checkInputs(tensors, weights, "dareLinear");
  checkDensity(options.density, "dareLinear");
  return tf.tidy(() => weightedSum(dareDrop(tensors, options), weights));
}

/** DARE then TIES' elect + disjoint mean (PEFT `dare_ties`). With density 1 it is exactly TIES with density 1. */
export function dareTies(
  tensors: readonly Tensor[],
  weights: readonly number[],
  options: DareOptions & { majoritySignMethod?: MajoritySignMethod; variant?: TiesVariant },
): Tensor {
  checkInputs(tensors, weights, "dareTies");
  checkDensity(options.density, "dareTies");
  return tf.tidy(() => consensusMerge(dareDrop(tensors, options), weights, options.majoritySignMethod ?? "total", options.variant ?? "peft"));
}

// ---------------------------------------------------------------------------------------------------------
// mergekit's generalized task arithmetic (the engine behind its task_arithmetic, ties, dare_*, breadcrumbs*,
// della* methods).

export type Sparsification = "magnitude" | "random" | "magnitude_outliers" | "della_magprune";

export interface TaskVectorInput {
  /** τ = fine-tuned − base. */
  delta: Tensor;
  weight: number;
  /** Default 1 (mergekit's). */
  density?: number;
  /** Breadcrumbs' outlier fraction (default 0.01). */
  gamma?: number;
  /** DELLA's ε (default 0.15). */
  epsilon?: number;
}

export interface GeneralizedTaskArithmeticOptions {
  sparsification: Sparsification | null;
  /** Sign election on the weighted deltas: mergekit "sum" (= PEFT "total") or "count" (= "frequency"); null: none. */
  consensus: MajoritySignMethod | null;
  /** Divide by the (agreeing) weight sum. */
  normalize: boolean;
  /** Rescale sparsified deltas to their L1 norm (mergekit `rescale`). */
  rescale: boolean;
  /** mergekit `lambda`: scales the merged delta (default 1). */
  lambda?: number;
  /** Seed for the random sparsifications. */
  seed?: number;
}

/**
 * The merged delta of mergekit's `GTATask.execute` (without `+ base`): sparsify each τᵢ, weight, optional sign
 * consensus on the weighted deltas, sum, optional division by the (agreeing) weight sum, × λ.
 */
export function generalizedTaskArithmetic(inputs: readonly TaskVectorInput[], options: GeneralizedTaskArithmeticOptions): Tensor {
  checkInputs(
    inputs.map((i) => i.delta),
    inputs.map((i) => i.weight),
    "generalizedTaskArithmetic",
  );
  const seed = options.seed ?? 0;
  const rescale = options.rescale ? "l1" : null;
  return tf.tidy(() => {
    const deltas = inputs.map((input, i) => {
      const density = input.density ?? 1;
      switch (options.sparsification) {
        case null:
          return input.delta;
        case "magnitude":
          return magnitudePrune(input.delta, density, rescale);
        case "random":
          return randomPrune(input.delta, density, { seed: seedFor(seed, i), rescale });
        case "magnitude_outliers":
          return magnitudeOutliers(input.delta, density, input.gamma ?? 0.01, rescale);
        case "della_magprune":
          return dellaMagprune(input.delta, density, { seed: seedFor(seed, i), epsilon: input.epsilon ?? 0.15, rescale });
        default:
          throw new MergeArgumentError(`unknown sparsification ${JSON.stringify(options.sparsification)}.`);
      }
    });
    const stacked = tf.stack(deltas);
    const w = weightColumn(
      inputs.map((i) => i.weight),
      stacked.rank - 1,
    );
    const weighted = tf.mul(stacked, w);
    let mixed: Tensor;
    if (options.consensus !== null) {
      const mask = majoritySignMask(weighted, options.consensus);
      mixed = tf.sum(tf.mul(weighted, mask), 0);
      if (options.normalize) mixed = divideByAgreeingWeights(mixed, w, mask);
    } else {
      mixed = tf.sum(weighted, 0);
      if (options.normalize) {
        // mergekit: divisor = Σ wᵢ, replaced by 1 when |Σ wᵢ| < 1e-8.
        const sum = inputs.reduce((a, i) => a + i.weight, 0);
        mixed = tf.div(mixed, Math.abs(sum) < 1e-8 ? 1 : sum);
      }
    }
    const lambda = options.lambda ?? 1;
    return lambda === 1 ? mixed : tf.mul(mixed, lambda);
  });
}

/**
 * SCE (Wan et al. 2024; mergekit `sce_merge`), the merged delta: Select the entries with the top `selectTopk`
 * fraction of variance across models, Calculate per-model weights ∝ mean(τᵢ²), Erase entries against the
 * elected sign, then the weighted disjoint mean.
 */
export function sce(deltas: readonly Tensor[], selectTopk = 1): Tensor {
  checkInputs(
    deltas,
    deltas.map(() => 1),
    "sce",
  );
  checkDensity(selectTopk, "sce (selectTopk)");
  return tf.tidy(() => {
    let tvs = tf.stack(deltas as Tensor[]);
    if (selectTopk < 1) {
      // mergekit `sce_mask`: k = ⌊(number of entries with non-zero variance)·density⌋ largest variances.
      const variance = tf.moments(tvs, 0).variance;
      const nonzero = tf.sum(tf.cast(tf.notEqual(variance, 0), "int32")).arraySync() as number;
      const k = Math.floor(nonzero * selectTopk);
      const flat = tf.reshape(variance, [-1]);
      let mask: Tensor;
      if (k === 0) mask = tf.zerosLike(flat);
      else {
        const { indices } = tf.topk(tf.abs(flat), k, true);
        mask = tf.scatterND(tf.reshape(indices, [k, 1]), tf.ones([k]), [flat.size]);
      }
      tvs = tf.mul(tvs, tf.expandDims(tf.reshape(mask, variance.shape), 0));
    }
    const erase = majoritySignMask(tvs, "total");
    const axes = Array.from({ length: tvs.rank - 1 }, (_, i) => i + 1);
    const energy = axes.length > 0 ? tf.mean(tf.square(tvs), axes) : tf.square(tvs);
    const energySum = tf.sum(energy);
    // weights = energy / Σ energy, or uniform 1/n when |Σ energy| < 1e-6 (mergekit `sce_weight`).
    const n = deltas.length;
    const uniform = tf.fill(energy.shape, 1 / n);
    const tvWeights = tf.where(tf.less(tf.abs(energySum), 1e-6), uniform, tf.div(energy, energySum));
    const erased = tf.mul(tf.reshape(tvWeights, [n, ...Array<number>(tvs.rank - 1).fill(1)]), erase);
    return tf.div(tf.sum(tf.mul(tvs, erased), 0), tf.maximum(tf.sum(erased, 0), 1e-6));
  });
}

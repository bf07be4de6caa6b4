/**
 * `addWeightedAdapter`: a new LoRA adapter made from existing ones (peft `LoraModel.add_weighted_adapter`,
 * `_svd_generalized_task_arithmetic_weighted_adapter`, `_generalized_task_arithmetic_weighted_adapter`).
 *
 * Notation: ΔWᵢ = sᵢ·BᵢAᵢ (in the `[out, in]` view), wᵢ the user weights.
 * - `cat`: A = rows wᵢsᵢAᵢ stacked, B = columns Bᵢ side by side, rank Σrᵢ: B·A = Σ wᵢΔWᵢ exactly.
 * - `svd`, `ties_svd`, `dare_linear_svd`, `dare_ties_svd`, `magnitude_prune_svd`: the merge function on the
 *   ΔWᵢ, then the best rank-r factors by SVD (optionally clamped).
 * - `linear`, `ties`, `dare_linear`, `dare_ties`, `magnitude_prune` (PEFT's arithmetic, the default): the merge
 *   function on the A's and on the B's SEPARATELY with weights √|wᵢsᵢ| (the sign on A only). For `linear` that
 *   is (Σ√·Bᵢ)(Σ√·Aᵢ), which has cross terms BᵢAⱼ: NOT Σ wᵢΔWᵢ (huggingface/peft#3004, #3761 discuss it).
 *   `{ exact: true }` computes these in ΔW space instead: `linear` becomes the exact `cat` factorisation, the
 *   others apply the merge function to the ΔWᵢ and store the result without truncation (rank min(in, out)).
 *
 * The new adapter has lora_alpha = r, i.e. scaling 1, as in PEFT. Where PEFT goes wrong, this does not:
 * - rsLoRA: PEFT copies `use_rslora` from the first adapter, so its new adapter is scaled by r/√r = √r
 *   instead of 1 (its A, B are the same as ours); here the new adapter has `useRslora: false`.
 * - `init_lora_weights` "pissa": PEFT's inject of the new adapter would re-run PiSSA on the base weights;
 *   here the new adapter is created with the plain init before its weights are overwritten.
 * - DoRA: PEFT keeps `use_dora` and its new adapter's magnitude is ‖W‖ per output (the init value with B = 0),
 *   the inputs' magnitudes are dropped; the default mode reproduces exactly that. `{ exact: true }` instead
 *   combines each DoRA adapter's effective update m/‖W+ΔWᵢ‖·(W+ΔWᵢ) − W into a plain LoRA adapter.
 */
import { tf } from "@peftjs/core";
import type { PeftModel, Tensor, Variable } from "@peftjs/core";
import { LoraEmbedding, LoraLayer, LoraLinear, lora } from "@peftjs/lora";
import type { LoraConfig, LoraOptions } from "@peftjs/lora";
import { MergeArgumentError } from "../functions/sparsify.js";
import { dareLinear, dareTies, magnitudePruneMerge, seedFor, taskArithmetic, ties } from "../functions/task-arithmetic.js";
import type { MajoritySignMethod } from "../functions/task-arithmetic.js";
import { svdFactors } from "./factor.js";

export const COMBINATION_TYPES = [
  "svd",
  "linear",
  "cat",
  "ties",
  "ties_svd",
  "dare_linear",
  "dare_ties",
  "dare_linear_svd",
  "dare_ties_svd",
  "magnitude_prune",
  "magnitude_prune_svd",
] as const;
export type CombinationType = (typeof COMBINATION_TYPES)[number];

export interface AddWeightedAdapterOptions {
  /** Rank of the `*_svd` results (PEFT `svd_rank`); default the largest input rank. */
  svdRank?: number | null;
  /** Quantile to clamp the SVD factors at (PEFT `svd_clamp`); default none. */
  svdClamp?: number | null;
  /** Fraction kept by the pruning types (PEFT `density`); required by all but svd, linear, cat. */
  density?: number | null;
  /** PEFT `majority_sign_method` for the TIES types (default "total"). */
  majoritySignMethod?: MajoritySignMethod;
  /** Compute in ΔW space: Σ-semantics for the A/B-separate types, DoRA folded into plain LoRA. Default false (PEFT's arithmetic). */
  exact?: boolean;
  /** Seed of the DARE masks (default 0). PEFT draws them from torch's global generator. */
  seed?: number;
}

/** The per-layer accessors every LoRA tuner layer has (A `[r, in]`, B `[out, r]` in the `[out, in]` view). */
interface LoraFactors {
  loraA(name: string): Variable;
  loraB(name: string): Variable;
}

function factors(layer: LoraLayer): LoraFactors {
  if (layer instanceof LoraLinear || layer instanceof LoraEmbedding) return layer;
  throw new MergeArgumentError(`addWeightedAdapter: tuner layer ${layer.constructor.name} is not a LoRA Linear/Conv1D/Embedding layer.`);
}

/** W in the `[out, in]` view. */
function baseWeightOutIn(layer: LoraLayer): Tensor {
  const weight = (layer.baseLayer as unknown as { weight: Variable }).weight;
  const inOut = layer instanceof LoraEmbedding || (layer instanceof LoraLinear && layer.fanInFanOut);
  return inOut ? tf.transpose(weight) : tf.clone(weight);
}

const NEEDS_DENSITY = new Set<CombinationType>(["ties", "ties_svd", "dare_linear", "dare_ties", "dare_linear_svd", "dare_ties_svd", "magnitude_prune", "magnitude_prune_svd"]);
const SEPARATE_AB = new Set<CombinationType>(["linear", "ties", "dare_linear", "dare_ties", "magnitude_prune"]);

/** Largest rank an adapter can have in any layer (peft: max(r, *rank_pattern.values())). */
function maxRank(config: LoraConfig): number {
  return Math.max(config.r, ...Object.values(config.rankPattern));
}

/** PEFT `_check_add_weighted_adapter`'s new target_modules: the union of lists, or the regexes joined. */
function unionTargets(configs: LoraConfig[]): string[] | string {
  const kinds = new Set(configs.map((c) => (typeof c.targetModules === "string" ? "string" : "list")));
  if (kinds.size > 1) {
    throw new MergeArgumentError("addWeightedAdapter: all adapters must give targetModules the same way; a mix of lists and regular-expression strings cannot be combined (PEFT refuses it too).");
  }
  if (kinds.has("string")) return configs.map((c) => `(${c.targetModules as string})`).join("|");
  return [...new Set(configs.flatMap((c) => (c.targetModules as string[] | null) ?? []))].sort();
}

/** Applies one of the task-vector merges to tensors with weights (PEFT's functions; seeds per call). */
function mergeTensors(type: CombinationType, tensors: Tensor[], weights: number[], density: number, method: MajoritySignMethod, seed: number): Tensor {
  const base = type.replace(/_svd$/, "");
  switch (base) {
    case "svd":
    case "linear":
      return taskArithmetic(tensors, weights);
    case "ties":
      return ties(tensors, weights, { density, majoritySignMethod: method });
    case "dare_linear":
      return dareLinear(tensors, weights, { density, seed });
    case "dare_ties":
      return dareTies(tensors, weights, { density, seed, majoritySignMethod: method });
    case "magnitude_prune":
      return magnitudePruneMerge(tensors, weights, density);
    default:
      throw new MergeArgumentError(`addWeightedAdapter: no merge function for combination type "${type}".`);
  }
}

/** ΔWᵢ in the `[out, in]` view; with `effectiveDora`, a DoRA adapter's actual weight change. */
function deltaOf(layer: LoraLayer, name: string, effectiveDora: boolean): Tensor {
  return tf.tidy(() => {
    const f = factors(layer);
    const s = layer.scaling(name);
    const delta = tf.mul(tf.matMul(f.loraB(name), f.loraA(name)), s);
    if (!effectiveDora || !layer.settings(name).useDora) return delta;
    // DoRA (Liu et al. 2024): W' = m · (W + ΔW) / ‖W + ΔW‖ per output row; the change is W' − W.
    const w = baseWeightOutIn(layer);
    const updated = tf.add(w, delta);
    const norm = tf.sqrt(tf.sum(tf.square(updated), 1, true));
    return tf.sub(tf.mul(updated, tf.div(tf.reshape(layer.magnitude(name), [-1, 1]), norm)), w);
  });
}

interface LayerResult {
  a: Tensor;
  b: Tensor;
}

/**
 * Adds adapter `newName` combining `adapters` with `weights` (PEFT `add_weighted_adapter`). The new adapter is
 * not activated (`peftModel.setAdapter(newName)`). Async because the SVD types read weights with `data()`.
 * Refuses (with the reason) instead of PEFT's silent return when `newName` exists.
 */
export async function addWeightedAdapter(
  peftModel: PeftModel,
  adapters: readonly string[],
  weights: readonly number[],
  newName: string,
  combinationType: CombinationType = "svd",
  options: AddWeightedAdapterOptions = {},
): Promise<void> {
  if (!COMBINATION_TYPES.includes(combinationType)) {
    throw new MergeArgumentError(`addWeightedAdapter: combinationType must be one of ${COMBINATION_TYPES.join(", ")}; got ${JSON.stringify(combinationType)}.`);
  }
  if (adapters.length === 0) throw new MergeArgumentError("addWeightedAdapter: name at least one adapter to combine.");
  if (weights.length !== adapters.length) {
    throw new MergeArgumentError(`addWeightedAdapter: ${adapters.length} adapters but ${weights.length} weights; pass one weight per adapter.`);
  }
  weights.forEach((w, i) => {
    if (typeof w !== "number" || !Number.isFinite(w)) throw new MergeArgumentError(`addWeightedAdapter: weight ${i} ("${adapters[i]}") must be a finite number, got ${String(w)}.`);
  });
  if (peftModel.adapterNames().includes(newName)) throw new MergeArgumentError(`addWeightedAdapter: adapter "${newName}" already exists; delete it or choose another name.`);
  const configs = adapters.map((name) => {
    const config = peftModel.peftConfig.get(name);
    if (config === undefined) throw new MergeArgumentError(`addWeightedAdapter: no adapter named "${name}"; the model has ${peftModel.adapterNames().map((n) => `"${n}"`).join(", ")}.`);
    if (config.peftType !== "LORA") throw new MergeArgumentError(`addWeightedAdapter: adapter "${name}" is ${config.peftType}, not LoRA; only LoRA adapters can be combined.`);
    return config as LoraConfig;
  });
  // PEFT: with one adapter only `linear` applies (√w on A and B: exactly w·ΔW).
  const type: CombinationType = adapters.length === 1 ? "linear" : combinationType;
  const exact = options.exact === true;
  const density = options.density ?? null;
  if (NEEDS_DENSITY.has(type)) {
    if (density === null || typeof density !== "number" || !(density >= 0 && density <= 1)) {
      throw new MergeArgumentError(`addWeightedAdapter: combination type "${type}" needs options.density in [0, 1] (the fraction of entries kept), got ${String(density)}.`);
    }
  }
  const method = options.majoritySignMethod ?? "total";
  if (method !== "total" && method !== "frequency") throw new MergeArgumentError(`addWeightedAdapter: majoritySignMethod must be "total" or "frequency", got ${JSON.stringify(method)}.`);
  const svdClamp = options.svdClamp ?? null;
  const seed = options.seed ?? 0;

  const ranks = configs.map(maxRank);
  let newRank: number;
  if (SEPARATE_AB.has(type) && !exact) {
    if (new Set(ranks).size !== 1) {
      throw new MergeArgumentError(
        `addWeightedAdapter: "${type}" combines the A and B matrices entry by entry, so all adapters need the same rank; got ${adapters.map((a, i) => `"${a}": ${ranks[i]}`).join(", ")}. Use "cat", "svd" or { exact: true }.`,
      );
    }
    newRank = ranks[0]!;
  } else if (type === "cat") {
    newRank = ranks.reduce((a, b) => a + b, 0);
  } else if (type.endsWith("svd")) {
    const r = options.svdRank ?? Math.max(...ranks);
    if (!Number.isInteger(r) || r <= 0) throw new MergeArgumentError(`addWeightedAdapter: svdRank must be a positive integer, got ${String(r)}.`);
    newRank = r;
  } else {
    newRank = 0; // exact A/B-separate types: set from the layers below
  }

  const layers = peftModel.tunerLayers().filter((e): e is [string, LoraLayer] => e[1] instanceof LoraLayer);
  const merged = layers.filter(([, l]) => l.mergedAdapters().length > 0);
  if (merged.length > 0) throw new MergeArgumentError(`addWeightedAdapter: adapters are merged into the base weights (${merged.map(([p]) => p).join(", ")}); unmerge() first.`);
  const anyDora = configs.some((c) => c.useDora);

  // 1. The new factors per layer path, computed before anything changes.
  const results = new Map<string, LayerResult>();
  try {
    let layerIndex = 0;
    for (const [path, layer] of layers) {
      layerIndex++;
      const present = adapters.map((a, i) => [a, weights[i]!] as const).filter(([a]) => layer.adapterNames().includes(a));
      if (present.length === 0) continue;
      const names = present.map(([a]) => a);
      const ws = present.map(([, w]) => w);
      const layerSeed = seedFor(seed, layerIndex);
      const fl = factors(layer);
      if (type === "cat" || (exact && type === "linear" && !anyDora)) {
        results.set(
          path,
          tf.tidy(() => ({
            a: tf.concat(names.map((n, i) => tf.mul(fl.loraA(n), ws[i]! * layer.scaling(n))), 0),
            b: tf.concat(names.map((n) => fl.loraB(n)), 1),
          })),
        );
      } else if (SEPARATE_AB.has(type) && !exact) {
        const wA = names.map((n, i) => {
          const ws2 = ws[i]! * layer.scaling(n);
          return Math.sqrt(Math.abs(ws2)) * (ws2 >= 0 ? 1 : -1);
        });
        const wB = names.map((n, i) => Math.sqrt(Math.abs(ws[i]! * layer.scaling(n))));
        const layerRanks = names.map((n) => fl.loraA(n).shape[0]);
        if (new Set(layerRanks).size !== 1) {
          throw new MergeArgumentError(`addWeightedAdapter: at "${path}" the adapters have ranks ${names.map((n, i) => `"${n}": ${layerRanks[i]}`).join(", ")} (rankPattern); "${type}" needs equal ranks in every layer. Use "cat", "svd" or { exact: true }.`);
        }
        const a = mergeTensors(type, names.map((n) => fl.loraA(n)), wA, density ?? 1, method, seedFor(layerSeed, 0));
        const b = mergeTensors(type, names.map((n) => fl.loraB(n)), wB, density ?? 1, method, seedFor(layerSeed, 1));
        results.set(path, { a, b });
      } else {
        const deltas = names.map((n) => deltaOf(layer, n, exact));
        let delta: Tensor;
        try {
          delta = mergeTensors(type, deltas, ws, density ?? 1, method, layerSeed);
        } finally {
          deltas.forEach((d) => d.dispose());
        }
        try {
          if (type.endsWith("svd")) {
            results.set(path, await svdFactors(delta, newRank, svdClamp));
          } else {
            // exact, full rank: ΔW = B·A with the identity on the smaller side.
            const [out, inF] = delta.shape as [number, number];
            results.set(path, inF <= out ? { a: tf.eye(inF), b: tf.clone(delta) } : { a: tf.clone(delta), b: tf.eye(out) });
          }
        } finally {
          delta.dispose();
        }
      }
    }
    if (newRank === 0) newRank = Math.max(1, ...[...results.values()].map((r) => r.a.shape[0]));
    if (type === "cat" || (exact && type === "linear" && !anyDora)) newRank = Math.max(newRank, ...[...results.values()].map((r) => r.a.shape[0]));

    // 2. Create the adapter (PEFT: replace(config_0, r, lora_alpha = r, target_modules = union, no patterns)).
    const { peftType: _peftType, ...first } = configs[0]!;
    void _peftType;
    const options2: LoraOptions = {
      ...first,
      r: newRank,
      loraAlpha: newRank,
      targetModules: unionTargets(configs),
      rankPattern: {},
      alphaPattern: {},
      useRslora: false,
      useDora: exact ? false : configs[0]!.useDora,
      initLoraWeights: true,
      loraDropout: configs[0]!.loraDropout,
    };
    peftModel.addAdapter(newName, lora(options2));

    // 3. Write the factors (zero-padded to the adapter's rank; layers no input adapter has stay zero, as in PEFT).
    for (const [path, layer] of peftModel.tunerLayers()) {
      if (!(layer instanceof LoraLayer) || !layer.adapterNames().includes(newName)) continue;
      const fa = factors(layer);
      const targetA = fa.loraA(newName);
      const targetB = fa.loraB(newName);
      const res = results.get(path);
      const [newA, newB] = tf.tidy(() => {
        if (res === undefined) return [tf.zerosLike(targetA), tf.zerosLike(targetB)];
        const r = res.a.shape[0];
        return [
          r === newRank ? res.a : tf.concat([res.a, tf.zeros([newRank - r, res.a.shape[1]!])], 0),
          r === newRank ? res.b : tf.concat([res.b, tf.zeros([res.b.shape[0], newRank - r])], 1),
        ];
      });
      targetA.assign(newA);
      targetB.assign(newB);
      if (newA !== res?.a) newA.dispose();
      if (newB !== res?.b) newB.dispose();
    }
  } finally {
    for (const r of results.values()) {
      r.a.dispose();
      r.b.dispose();
    }
  }
}

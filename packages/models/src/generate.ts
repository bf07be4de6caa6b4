/**
 * Autoregressive generation for the causal LMs (transformers `generate` with greedy search or sampling).
 * With `useCache` each step feeds only the newest token and the key/value cache; without, the whole
 * sequence is recomputed. Both give the same tokens (up to float rounding in near ties).
 *
 * Prompt methods need nothing here: pass the PeftModel as `model`. Its forward runs the adapter's input hook
 * (core's `InputHook`) with the phase these inputs mark: "prefill" for the first cached step, "decode" for the
 * steps with `pastKeyValues`, "forward" for every step without the cache. So virtual tokens, prefixes and
 * their position offsets are the method's business, and `generate` only feeds tokens, mask and cache.
 *
 * Sampling follows transformers' warper order (temperature → top-k → top-p) and draws from peftjs's seeded
 * generator in JavaScript, so a seed gives the same tokens on every backend.
 */
import { tf, random, setSeed } from "@peftjs/core";
import type { LayerKV, ModelInputs, PreTrainedModelLike, Tensor } from "@peftjs/core";

export interface GenerateOptions {
  /** Tokens to add at most. */
  maxNewTokens: number;
  /** Sample instead of taking the most likely token (default false: greedy). */
  doSample?: boolean;
  /** Softmax temperature for sampling (default 1). */
  temperature?: number;
  /** Keep only the k most likely tokens when sampling (default 50, as transformers; 0 = off). */
  topK?: number;
  /** Nucleus sampling: keep the smallest set of tokens whose probability reaches topP (default 1 = off). */
  topP?: number;
  /** Seeds peftjs's generator (`setSeed`) before sampling. */
  seed?: number;
  /** Reuse keys and values of earlier positions (default true). */
  useCache?: boolean;
  /** A row stops after producing one of these ids; default the model config's `eosTokenId`. null: never stop early. */
  eosTokenId?: number | readonly number[] | null;
  /** Put in finished rows while others go on (default the first eos id, else 0). */
  padTokenId?: number;
  /** `[batch, seq]` 1/0 mask of the prompt (left padding); position ids then count only real tokens, as transformers does. */
  attentionMask?: Tensor;
}

/**
 * Prompt `[batch, seq]` int32 → prompt + generated tokens `[batch, seq + n]` int32 (n ≤ maxNewTokens).
 * Async: each step's logits are read with `await tensor.data()`, which every backend supports (tfjs WebGPU in
 * Node has no sync reads). Do not dispose `inputIds`/`attentionMask` while it runs.
 */
export async function generate(model: PreTrainedModelLike, inputIds: Tensor, options: GenerateOptions): Promise<Tensor> {
  const o = checkOptions(model, inputIds, options);
  const [batch, promptLen] = inputIds.shape as [number, number];
  const rows = ((await inputIds.array()) as number[][]).map((r) => r.map(Number));
  const mask: number[][] | null = options.attentionMask === undefined ? null : ((await options.attentionMask.array()) as number[][]);
  if (mask !== null && (mask.length !== batch || mask.some((r) => r.length !== promptLen))) {
    throw new Error(`generate: attentionMask must be [${batch}, ${promptLen}] like inputIds.`);
  }
  if (o.doSample && options.seed !== undefined) setSeed(options.seed);
  const finished = new Array<boolean>(batch).fill(false);
  let cache: LayerKV[] | undefined;
  try {
    for (let step = 0; step < o.maxNewTokens; step++) {
      const total = rows[0]!.length;
      if (cache !== undefined && resetsCache(model, total, total - 1)) {
        // The model asks for the whole sequence again (Phi-3 when LongRoPE switches factors).
        disposeCache(cache);
        cache = undefined;
      }
      const cached = o.useCache && cache !== undefined;
      const feedFrom = cached ? total - 1 : 0;
      const next = tf.tidy(() => {
        const ids = tf.tensor2d(rows.map((r) => r.slice(feedFrom)), [batch, total - feedFrom], "int32");
        const inputs: ModelInputs = { inputIds: ids, useCache: o.useCache };
        if (cache !== undefined) inputs.pastKeyValues = cache;
        if (mask !== null) {
          const positions = positionsFromMask(mask).map((r) => r.slice(feedFrom));
          inputs.positionIds = tf.tensor2d(positions, [batch, positions[0]!.length], "int32");
          inputs.attentionMask = tf.tensor2d(mask, [batch, total], "int32");
        }
        const out = model.forward(inputs);
        if (out.logits.rank !== 3) throw new Error(`generate: the model returned logits of shape [${out.logits.shape.join(", ")}]; generation needs a causal LM ([batch, seq, vocab]).`);
        const [, t, v] = out.logits.shape as [number, number, number];
        const last = tf.reshape(tf.slice(out.logits, [0, t - 1, 0], [batch, 1, v]), [batch, v]);
        return { last, cache: out.pastKeyValues ?? [] } as unknown as tf.TensorContainer;
      }) as unknown as { last: Tensor; cache: LayerKV[] };
      const vocab = next.last.shape[1]!;
      let logits: Float32Array;
      try {
        logits = (await next.last.data()) as Float32Array;
      } catch (error) {
        disposeCache(next.cache);
        throw error;
      } finally {
        next.last.dispose();
      }
      disposeCache(cache);
      cache = o.useCache ? next.cache : undefined;
      if (!o.useCache) disposeCache(next.cache);

      for (let b = 0; b < batch; b++) {
        const row = logits.subarray(b * vocab, (b + 1) * vocab);
        const token = finished[b] ? o.padTokenId : o.doSample ? sample(row, o) : argMax(row);
        rows[b]!.push(token);
        mask?.[b]!.push(1);
        if (o.eos.has(token)) finished[b] = true;
      }
      if (finished.every(Boolean)) break;
    }
  } finally {
    disposeCache(cache);
  }
  return tf.tensor2d(rows, [batch, rows[0]!.length], "int32");
}

interface CheckedOptions {
  maxNewTokens: number;
  doSample: boolean;
  temperature: number;
  topK: number;
  topP: number;
  useCache: boolean;
  eos: Set<number>;
  padTokenId: number;
}

function checkOptions(model: PreTrainedModelLike, inputIds: Tensor, options: GenerateOptions): CheckedOptions {
  if (inputIds.rank !== 2 || inputIds.shape[1] === 0) throw new Error(`generate: inputIds must be a non-empty [batch, seq] tensor, got [${inputIds.shape.join(", ")}].`);
  const { maxNewTokens, temperature = 1, topK = 50, topP = 1 } = options;
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) throw new Error(`generate: maxNewTokens must be a non-negative integer, got ${maxNewTokens}.`);
  if (!(temperature > 0)) throw new Error(`generate: temperature must be > 0, got ${temperature}.`);
  if (!Number.isInteger(topK) || topK < 0) throw new Error(`generate: topK must be a non-negative integer, got ${topK}.`);
  if (!(topP > 0 && topP <= 1)) throw new Error(`generate: topP must be in (0, 1], got ${topP}.`);
  // A PeftModel has no `config` of its own: its base model's (PEFT's generate reads base_model.config too).
  const config = (model as { config?: PreTrainedModelLike["config"] }).config ?? (model as { baseModel?: { config?: PreTrainedModelLike["config"] } }).baseModel?.config;
  if (config === undefined) {
    throw new TypeError("generate: the model has no config (config.eosTokenId, vocabulary); pass a PreTrainedModel, or a PeftModel wrapping one.");
  }
  const configEos = config.eosTokenId as number | number[] | null | undefined;
  const eosOption = options.eosTokenId === undefined ? configEos : options.eosTokenId;
  const eos = new Set(eosOption === null || eosOption === undefined ? [] : typeof eosOption === "number" ? [eosOption] : [...eosOption]);
  return {
    maxNewTokens,
    doSample: options.doSample ?? false,
    temperature,
    topK,
    topP,
    useCache: options.useCache ?? true,
    eos,
    padTokenId: options.padTokenId ?? [...eos][0] ?? 0,
  };
}

/** transformers' position ids for a padded prompt: cumsum(mask) − 1, padding positions set to 1. */
function positionsFromMask(mask: number[][]): number[][] {
  return mask.map((row) => {
    let seen = 0;
    return row.map((m) => {
      if (m === 0) return 1;
      return seen++;
    });
  });
}

/**
 * A model may drop the cache at a step (transformers' `prepare_inputs_for_generation` overrides do so):
 * `generationResetsCache(sequenceLength, cachedLength)` true means recompute every position this step.
 */
function resetsCache(model: PreTrainedModelLike, sequenceLength: number, cachedLength: number): boolean {
  const hook = (model as { generationResetsCache?: (sequenceLength: number, cachedLength: number) => boolean }).generationResetsCache;
  return typeof hook === "function" && hook.call(model, sequenceLength, cachedLength);
}

function disposeCache(cache: LayerKV[] | undefined): void {
  for (const kv of cache ?? []) {
    kv.key.dispose();
    kv.value.dispose();
  }
}

/** Index of the first largest value (torch.argmax's tie rule). */
export function argMax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}

/** One draw after temperature, top-k and top-p (transformers `TemperatureLogitsWarper`, `TopKLogitsWarper`, `TopPLogitsWarper`). */
function sample(row: Float32Array, o: CheckedOptions): number {
  const scores = Array.from(row, (x) => x / o.temperature);
  const order = scores.map((_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b);
  let keep = o.topK > 0 ? Math.min(o.topK, order.length) : order.length;
  // Ties at the k-th score are kept, as transformers keeps every score ≥ the k-th largest.
  while (keep < order.length && scores[order[keep]!] === scores[order[keep - 1]!]) keep++;
  const max = scores[order[0]!]!;
  let probs = order.slice(0, keep).map((i) => Math.exp(scores[i]! - max));
  let sum = probs.reduce((a, b) => a + b, 0);
  if (o.topP < 1) {
    // Keep the most likely tokens until their mass reaches topP (at least one).
    let mass = 0;
    let n = 0;
    while (n < probs.length && (n === 0 || mass < o.topP * sum)) mass += probs[n++]!;
    probs = probs.slice(0, n);
    sum = mass;
  }
  let u = random() * sum;
  for (let j = 0; j < probs.length; j++) {
    u -= probs[j]!;
    if (u < 0) return order[j]!;
  }
  return order[probs.length - 1]!;
}

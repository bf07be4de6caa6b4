/**
 * What the three architectures share around attention: reading `ModelInputs` (checks, default position
 * ids, past/prefix lengths), the additive attention mask, head reshapes, key/value prefix + cache
 * concatenation, grouped-query head repetition and eager scaled-dot-product attention.
 *
 * Keys seen by a query are laid out `[prefix (P) | past cache | this call's tokens]`. Prefix positions are
 * always attended (PEFT prefix tuning passes them as `past_key_values` with an all-ones mask). The causal
 * rule compares positions in the `[past | this call]` part only.
 */
import { tf } from "@peftjs/core";
import type { LayerKV, ModelInputs, Tensor } from "@peftjs/core";

/** torch.finfo(torch.float32).min: what transformers puts at masked scores (not -inf, so rows never become NaN). */
export const FLOAT32_MIN = -3.4028234663852886e38;

/** `[b, t, heads·dim]` → `[b, heads, t, dim]`. */
export function splitHeads(x: Tensor, heads: number, headDim: number): Tensor {
  const [b, t] = x.shape as [number, number, number];
  return tf.transpose(tf.reshape(x, [b, t, heads, headDim]), [0, 2, 1, 3]);
}

/** `[b, heads, t, dim]` → `[b, t, heads·dim]`. */
export function mergeHeads(x: Tensor): Tensor {
  const [b, h, t, d] = x.shape as [number, number, number, number];
  return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [b, t, h * d]);
}

/** transformers `repeat_kv`: `[b, kvHeads, s, d]` → `[b, kvHeads·nRep, s, d]`, each kv head repeated nRep times in place. */
export function repeatKv(x: Tensor, nRep: number): Tensor {
  if (nRep === 1) return x;
  const [b, kv, s, d] = x.shape as [number, number, number, number];
  // Tiled as rank 4 ([b, kv, 1, s·d] → [b, kv, nRep, s·d]): tfjs has no tile gradient for rank 5.
  return tf.reshape(tf.tile(tf.reshape(x, [b, kv, 1, s * d]), [1, 1, nRep, 1]), [b, kv * nRep, s, d]);
}

/** What one attention layer needs from the model-level setup. */
export interface AttentionContext {
  /** Additive mask `[b|1, 1, t, P + past + t]` (0 or FLOAT32_MIN), or null when every key is attended. */
  readonly bias: Tensor | null;
  readonly prefix: LayerKV | undefined;
  readonly past: LayerKV | undefined;
  readonly useCache: boolean;
}

/**
 * Puts `[prefix | past | new]` keys and values together. `present` is `[past | new]`: the cache for the
 * next call (the prefix is not cached; it is passed again each call).
 */
export function extendKeyValues(key: Tensor, value: Tensor, ctx: AttentionContext): { key: Tensor; value: Tensor; present: LayerKV | undefined } {
  let k = key;
  let v = value;
  if (ctx.past !== undefined) {
    k = tf.concat([ctx.past.key, k], 2);
    v = tf.concat([ctx.past.value, v], 2);
  }
  const present = ctx.useCache ? { key: k, value: v } : undefined;
  if (ctx.prefix !== undefined) {
    const batch = key.shape[0];
    k = tf.concat([broadcastBatch(ctx.prefix.key, batch), k], 2);
    v = tf.concat([broadcastBatch(ctx.prefix.value, batch), v], 2);
  }
  return { key: k, value: v, present };
}

function broadcastBatch(x: Tensor, batch: number): Tensor {
  return x.shape[0] === batch ? x : tf.tile(x, [batch, 1, 1, 1]);
}

/**
 * Eager attention (transformers `eager_attention_forward`): softmax(q·kᵀ·scale + bias)·v, softmax over the
 * keys, `dropout` applied to the probabilities. q `[b, h, t, d]`, k and v `[b, h, s, d]`. `softcap`
 * (Gemma 2) caps the scores at ±softcap with tanh before the mask is added.
 */
export function scaledDotProductAttention(
  query: Tensor,
  key: Tensor,
  value: Tensor,
  bias: Tensor | null,
  scale: number,
  dropout: (probs: Tensor) => Tensor = (p) => p,
  softcap: number | null = null,
): Tensor {
  return tf.tidy(() => {
    let scores = tf.mul(tf.matMul(query, key, false, true), scale);
    // Gemma 2's attention soft-capping (transformers gemma2 `eager_attention_forward`): cap·tanh(s/cap), before the mask.
    if (softcap !== null) scores = tf.mul(tf.tanh(tf.div(scores, softcap)), softcap);
    const probs = tf.softmax(bias === null ? scores : tf.add(scores, bias));
    return tf.matMul(dropout(probs), value);
  });
}

export interface AttentionSetupOptions {
  readonly numLayers: number;
  readonly numKeyValueHeads: number;
  readonly headDim: number;
  readonly hiddenSize: number;
  readonly causal: boolean;
  /** For error messages: "GPT2LMHeadModel". */
  readonly source: string;
  /** When set, `slidingBias` is made as well: the causal mask limited to the last `slidingWindow` keys (Mistral, Gemma). */
  readonly slidingWindow?: number | null;
}

/** The model-level facts every layer shares, read and checked from `ModelInputs`. */
export interface AttentionSetup {
  readonly batch: number;
  readonly seqLen: number;
  /** Positions already in the cache. */
  readonly pastLen: number;
  /** Prefix positions (prefix tuning). */
  readonly prefixLen: number;
  /** int32 `[b|1, t]`: the given position ids or past + 0..t-1. */
  readonly positionIds: Tensor;
  readonly bias: Tensor | null;
  /** The sliding-window mask (when `slidingWindow` was given), else null. */
  readonly slidingBias: Tensor | null;
  layer(i: number): AttentionContext;
}

/** Reads and checks the inputs (call inside a tidy: it creates tensors). */
export function setupAttention(inputs: ModelInputs, o: AttentionSetupOptions): AttentionSetup {
  const { inputIds, inputsEmbeds } = inputs;
  if ((inputIds === undefined) === (inputsEmbeds === undefined)) {
    throw new Error(`${o.source}.forward: pass exactly one of inputIds ([batch, seq] int32) or inputsEmbeds ([batch, seq, hidden]).`);
  }
  let batch: number;
  let seqLen: number;
  if (inputIds !== undefined) {
    if (inputIds.rank !== 2) throw new Error(`${o.source}.forward: inputIds must be [batch, seq], got [${inputIds.shape.join(", ")}].`);
    [batch, seqLen] = inputIds.shape as [number, number];
  } else {
    const e = inputsEmbeds!;
    if (e.rank !== 3 || e.shape[2] !== o.hiddenSize) {
      throw new Error(`${o.source}.forward: inputsEmbeds must be [batch, seq, ${o.hiddenSize}], got [${e.shape.join(", ")}].`);
    }
    [batch, seqLen] = e.shape as [number, number];
  }
  if (seqLen === 0) throw new Error(`${o.source}.forward: the input has no positions (seq = 0).`);

  const pastLen = checkLayerKVs(inputs.pastKeyValues, "pastKeyValues", batch, false, o);
  const prefixLen = checkLayerKVs(inputs.prefixKeyValues, "prefixKeyValues", batch, true, o);

  let positionIds: Tensor;
  if (inputs.positionIds !== undefined) {
    const p = inputs.positionIds;
    if (p.rank !== 2 || p.shape[1] !== seqLen || (p.shape[0] !== batch && p.shape[0] !== 1)) {
      throw new Error(`${o.source}.forward: positionIds must be [${batch}, ${seqLen}] (or [1, ${seqLen}]), got [${p.shape.join(", ")}].`);
    }
    positionIds = p.dtype === "int32" ? p : tf.cast(p, "int32");
  } else {
    positionIds = tf.reshape(tf.range(pastLen, pastLen + seqLen, 1, "int32"), [1, seqLen]);
  }

  const bias = attentionBias(inputs.attentionMask, { batch, seqLen, pastLen, prefixLen, causal: o.causal, source: o.source });
  const window = o.slidingWindow ?? null;
  const slidingBias = window === null ? null : attentionBias(inputs.attentionMask, { batch, seqLen, pastLen, prefixLen, causal: o.causal, source: o.source, slidingWindow: window });
  return {
    batch,
    seqLen,
    pastLen,
    prefixLen,
    positionIds,
    bias,
    slidingBias,
    layer: (i) => ({
      bias,
      prefix: inputs.prefixKeyValues?.[i],
      past: inputs.pastKeyValues?.[i],
      useCache: inputs.useCache === true,
    }),
  };
}

function checkLayerKVs(kvs: LayerKV[] | undefined, name: string, batch: number, allowBatchOne: boolean, o: AttentionSetupOptions): number {
  if (kvs === undefined) return 0;
  if (kvs.length !== o.numLayers) {
    throw new Error(`${o.source}.forward: ${name} must have one entry per layer (${o.numLayers}), got ${kvs.length}.`);
  }
  let len = -1;
  kvs.forEach((kv, i) => {
    for (const t of [kv.key, kv.value]) {
      const [b, h, s, d] = t.shape;
      const okBatch = b === batch || (allowBatchOne && b === 1);
      if (t.rank !== 4 || !okBatch || h !== o.numKeyValueHeads || d !== o.headDim || (len >= 0 && s !== len)) {
        throw new Error(
          `${o.source}.forward: ${name}[${i}] key and value must be [${batch}${allowBatchOne && batch !== 1 ? " (or 1)" : ""}, ${o.numKeyValueHeads}, positions, ${o.headDim}] ` +
            `with the same number of positions in every layer, got [${t.shape.join(", ")}].`,
        );
      }
      len = s!;
    }
  });
  return len;
}

/**
 * The additive mask: FLOAT32_MIN where a query may not see a key (padding, or a later position when
 * causal), 0 elsewhere, prefix columns always 0. The mask may cover `past + seq` or `prefix + past + seq`
 * positions (the prefix part is ignored: prefix positions are always attended). With `slidingWindow` w a
 * query at index q sees only keys k > q − w (transformers masking_utils `sliding_window_overlay`; indices in
 * the `[past | this call]` sequence, as transformers' cache positions).
 */
export function attentionBias(
  attentionMask: Tensor | undefined,
  o: { batch: number; seqLen: number; pastLen: number; prefixLen: number; causal: boolean; source: string; slidingWindow?: number },
): Tensor | null {
  const kLen = o.pastLen + o.seqLen;
  let mask = attentionMask;
  if (mask !== undefined) {
    const ok = mask.rank === 2 && mask.shape[0] === o.batch && (mask.shape[1] === kLen || mask.shape[1] === o.prefixLen + kLen);
    if (!ok) {
      throw new Error(
        `${o.source}.forward: attentionMask must be [batch, past + seq] = [${o.batch}, ${kLen}]` +
          (o.prefixLen > 0 ? ` (or [${o.batch}, ${o.prefixLen + kLen}] including the prefix)` : "") +
          `, got [${mask.shape.join(", ")}].`,
      );
    }
    if (mask.shape[1] !== kLen) mask = tf.slice(mask, [0, o.prefixLen], [o.batch, kLen]);
  }
  let allowed: Tensor | null = null;
  const sliding = o.slidingWindow !== undefined && kLen > o.slidingWindow;
  if ((o.causal && o.seqLen > 1) || sliding) {
    const q = tf.reshape(tf.range(o.pastLen, kLen, 1, "int32"), [o.seqLen, 1]);
    const k = tf.reshape(tf.range(0, kLen, 1, "int32"), [1, kLen]);
    // With one query the causal rule holds for every key (it is the last position); the window may still cut.
    let rule: Tensor | null = o.causal && o.seqLen > 1 ? tf.lessEqual(k, q) : null;
    if (sliding) {
      const inWindow = tf.greater(k, tf.sub(q, o.slidingWindow!));
      rule = rule === null ? inWindow : tf.logicalAnd(rule, inWindow);
    }
    allowed = tf.reshape(rule!, [1, 1, o.seqLen, kLen]);
  }
  if (mask !== undefined) {
    const m = tf.reshape(tf.notEqual(mask, 0), [o.batch, 1, 1, kLen]);
    allowed = allowed === null ? m : tf.logicalAnd(allowed, m);
  }
  if (allowed === null) return null;
  let bias = tf.mul(tf.sub(1, tf.cast(allowed, "float32")), FLOAT32_MIN);
  if (o.prefixLen > 0) {
    const [b, , t] = bias.shape as [number, number, number, number];
    bias = tf.concat([tf.zeros([b, 1, t, o.prefixLen]), bias], 3);
  }
  return bias;
}

/**
 * What a base model offers to PEFT methods: the inputs/outputs shape shared by @peftjs/models and any
 * user model. Prompt methods plug in through `inputsEmbeds` and `prefixKeyValues` instead of forking a
 * model; LoRA-style methods through the module tree.
 */
import type { Tensor } from "../tf.js";
import type { Module } from "../nn/module.js";
import type { Embedding } from "../nn/layers.js";

/** One attention layer's keys and values, `[batch, numKeyValueHeads, positions, headDim]`. */
export interface LayerKV {
  key: Tensor;
  value: Tensor;
}

export interface ModelInputs {
  /** int32 `[batch, seq]`. Exactly one of `inputIds` / `inputsEmbeds`. */
  inputIds?: Tensor;
  /** float32 `[batch, seq, hidden]`: replaces the token embedding lookup (prompt tuning prepends here). */
  inputsEmbeds?: Tensor;
  /** `[batch, past + seq]`, 1 = attend, 0 = padding. Prefix positions (below) are always attended. */
  attentionMask?: Tensor;
  /** int32 `[batch, seq]`; -100 is ignored by the loss. For causal LMs labels are shifted inside. */
  labels?: Tensor;
  /** int32 `[batch, seq]`; defaults to past + 0..seq-1. */
  positionIds?: Tensor;
  /** KV cache from an earlier call (generation). */
  pastKeyValues?: LayerKV[];
  /** Learned per-layer key/value prefixes (prefix tuning), prepended before the cache. */
  prefixKeyValues?: LayerKV[];
  /** Return `pastKeyValues` for the next call. */
  useCache?: boolean;
  /** Token type ids (BERT). */
  tokenTypeIds?: Tensor;
}

export interface ModelOutput {
  /** `[batch, seq, vocab]` for LMs, `[batch, numLabels]` for classifiers. */
  logits: Tensor;
  /** Mean loss over non-ignored labels when `labels` were given. */
  loss?: Tensor;
  pastKeyValues?: LayerKV[];
}

/** The model contract PeftModel wraps. */
export interface PreTrainedModelLike extends Module {
  readonly config: { readonly modelType: string; readonly [key: string]: unknown };
  forward(inputs: ModelInputs): ModelOutput;
  /** Path of the output projection excluded by `"all-linear"` (e.g. `"lm_head"`), or null. */
  readonly outputEmbeddingsPath: string | null;
  getInputEmbeddings(): Embedding;
}

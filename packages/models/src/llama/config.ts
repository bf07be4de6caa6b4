/**
 * The config of the LLaMA-style decoders (transformers `LlamaConfig`, `MistralConfig`, `Qwen2Config`,
 * `Qwen3Config`, `Gemma2Config`, `Gemma3TextConfig`, `Phi3Config`): one shape for all of them, with the
 * switches where the families differ (which projections carry biases, q/k norms, Gemma's RMSNorm and
 * sandwich norms, soft-capping, sliding-window layers, fused projections). Each family's config.json is
 * read by families.ts; this file has the type, the `llamaConfig` presets and the JSON writer.
 */
import { baseConfigJson, checkHeads, definedOnly } from "../config.js";
import type { BaseModelConfig, JsonObject } from "../config.js";
import { defaultRope, ropeParametersToJson, rotaryDim } from "./rope.js";
import type { RopeParameters } from "./rope.js";

/** config.json `model_type`s of the decoders here. */
export const DECODER_MODEL_TYPES = ["llama", "mistral", "qwen2", "qwen3", "gemma2", "gemma3_text", "phi3"] as const;
export type DecoderModelType = (typeof DECODER_MODEL_TYPES)[number];

/** transformers' `layer_types` entries. */
export type LayerType = "full_attention" | "sliding_attention";

export type LlamaConfig = BaseModelConfig & {
  readonly modelType: DecoderModelType;
  readonly intermediateSize: number;
  /** `hidden_act` (`hidden_activation` for Gemma): "silu" for LLaMA. */
  readonly hiddenAct: string;
  readonly initializerRange: number;
  readonly rmsNormEps: number;
  /** θ of the full-attention layers' RoPE (kept for code that reads it; `rope` holds every parameter). */
  readonly ropeTheta: number;
  /** RoPE of full-attention layers. */
  readonly rope: RopeParameters;
  /** RoPE of sliding-window layers (Gemma 3's local base frequency); equal to `rope` elsewhere. */
  readonly slidingRope: RopeParameters;
  /** Biases on q/k/v projections (LLaMA `attention_bias`; always on for Qwen2). */
  readonly attentionBias: boolean;
  /** Bias on o_proj (LLaMA `attention_bias`; off for Qwen2). */
  readonly outputBias: boolean;
  readonly attentionDropout: number;
  readonly mlpBias: boolean;
  readonly tieWordEmbeddings: boolean;
  /** RMSNorm of each query/key head before RoPE (Qwen3, Gemma 3). */
  readonly qkNorm: boolean;
  /** Gemma's RMSNorm: x̂·(1 + w), weights initialised at 0. */
  readonly gemmaNorm: boolean;
  /** Gemma 2/3: the attention and MLP outputs are normed before the residual add (post_attention_layernorm,
   *  pre_/post_feedforward_layernorm). */
  readonly sandwichNorm: boolean;
  /** Gemma: token embeddings scaled by √hidden_size inside embed_tokens. */
  readonly embedScale: boolean;
  /** Gemma: attention scale query_pre_attn_scalar^−½ instead of head_dim^−½. */
  readonly queryPreAttnScalar: number | null;
  readonly attnLogitSoftcapping: number | null;
  readonly finalLogitSoftcapping: number | null;
  /** Keys a sliding-window layer sees (the query's own included); null = no sliding layers. */
  readonly slidingWindow: number | null;
  readonly layerTypes: readonly LayerType[];
  /** Phi-3: one qkv_proj and one gate_up_proj instead of q/k/v and gate/up. */
  readonly fusedProjections: boolean;
  /** Phi-3 `resid_pdrop`: dropout on the attention and MLP outputs before the residual add. */
  readonly residDropout: number;
};

export type LlamaConfigOptions = Partial<Omit<LlamaConfig, "modelType" | "raw" | "rope" | "slidingRope" | "layerTypes">> & {
  readonly rope?: RopeParameters;
};

const PRESETS = {
  tiny: { vocabSize: 128, maxPositionEmbeddings: 128, hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2 },
  /** About GPT-2 small's size (~110M with a 32k vocabulary), with grouped-query attention. */
  small: { vocabSize: 32000, maxPositionEmbeddings: 2048, hiddenSize: 768, intermediateSize: 2048, numHiddenLayers: 12, numAttentionHeads: 12, numKeyValueHeads: 4 },
} as const;

export type LlamaPreset = keyof typeof PRESETS;

/** A random-init LLaMA config: a preset ("tiny" for tests, "small" ≈ GPT-2 small's size) with any field overridden. */
export function llamaConfig(preset: LlamaPreset = "small", overrides: LlamaConfigOptions = {}): LlamaConfig {
  if (!(preset in PRESETS)) throw new Error(`llamaConfig: unknown preset "${String(preset)}"; use one of ${Object.keys(PRESETS).join(", ")}.`);
  const o = { ...PRESETS[preset], ...definedOnly(overrides) };
  const rope = o.rope ?? defaultRope(o.ropeTheta ?? 10000);
  const attentionBias = o.attentionBias ?? false;
  return makeLlamaConfig(
    {
      modelType: "llama",
      vocabSize: o.vocabSize,
      maxPositionEmbeddings: o.maxPositionEmbeddings,
      hiddenSize: o.hiddenSize,
      intermediateSize: o.intermediateSize,
      numHiddenLayers: o.numHiddenLayers,
      numAttentionHeads: o.numAttentionHeads,
      numKeyValueHeads: o.numKeyValueHeads,
      headDim: o.headDim ?? o.hiddenSize / o.numAttentionHeads,
      hiddenAct: o.hiddenAct ?? "silu",
      initializerRange: o.initializerRange ?? 0.02,
      rmsNormEps: o.rmsNormEps ?? 1e-6,
      ropeTheta: rope.ropeTheta,
      rope,
      slidingRope: rope,
      attentionBias,
      outputBias: o.outputBias ?? attentionBias,
      attentionDropout: o.attentionDropout ?? 0,
      mlpBias: o.mlpBias ?? false,
      tieWordEmbeddings: o.tieWordEmbeddings ?? false,
      qkNorm: false,
      gemmaNorm: false,
      sandwichNorm: false,
      embedScale: false,
      queryPreAttnScalar: null,
      attnLogitSoftcapping: null,
      finalLogitSoftcapping: null,
      slidingWindow: null,
      layerTypes: Array.from({ length: o.numHiddenLayers }, () => "full_attention" as const),
      fusedProjections: false,
      residDropout: 0,
      bosTokenId: o.bosTokenId === undefined ? 1 : o.bosTokenId,
      eosTokenId: o.eosTokenId === undefined ? 2 : o.eosTokenId,
      padTokenId: o.padTokenId ?? null,
    },
    {},
    "llamaConfig",
  );
}

/** Checks the shape facts every decoder needs and freezes the config. */
export function makeLlamaConfig(f: Omit<LlamaConfig, "raw">, raw: JsonObject, source: string): LlamaConfig {
  if (f.headDim === f.hiddenSize / f.numAttentionHeads) checkHeads(source, f.hiddenSize, f.numAttentionHeads);
  if (!Number.isInteger(f.headDim) || f.headDim <= 0) throw new Error(`${source}: head_dim must be a positive integer, got ${f.headDim}.`);
  for (const rope of [f.rope, f.slidingRope]) {
    const d = rotaryDim(f.headDim, rope);
    if (d <= 0 || d % 2 !== 0) {
      throw new Error(`${source}: the rotary width int(head_dim · partial_rotary_factor) = ${d} must be a positive even integer (rotary embeddings rotate pairs).`);
    }
  }
  if (f.numAttentionHeads % f.numKeyValueHeads !== 0) {
    throw new Error(`${source}: num_attention_heads (${f.numAttentionHeads}) must be a multiple of num_key_value_heads (${f.numKeyValueHeads}).`);
  }
  if (f.layerTypes.length !== f.numHiddenLayers) {
    throw new Error(`${source}: layer_types has ${f.layerTypes.length} entries for ${f.numHiddenLayers} layers.`);
  }
  if (f.layerTypes.includes("sliding_attention") && f.slidingWindow === null) {
    throw new Error(`${source}: layer_types has sliding_attention layers but sliding_window is null.`);
  }
  if (f.slidingWindow !== null && !(Number.isInteger(f.slidingWindow) && f.slidingWindow > 0)) {
    throw new Error(`${source}: sliding_window must be a positive integer or null, got ${f.slidingWindow}.`);
  }
  return Object.freeze({ ...f, layerTypes: Object.freeze([...f.layerTypes]), raw });
}

/** The transformers class of each decoder family (config.json `architectures`). */
export const DECODER_ARCHITECTURES: Readonly<Record<DecoderModelType, string>> = {
  llama: "LlamaForCausalLM",
  mistral: "MistralForCausalLM",
  qwen2: "Qwen2ForCausalLM",
  qwen3: "Qwen3ForCausalLM",
  gemma2: "Gemma2ForCausalLM",
  gemma3_text: "Gemma3ForCausalLM",
  phi3: "Phi3ForCausalLM",
};

/** A flat rope dict written over the one the config came with (fields we do not model are kept). */
function ropeJson(previous: unknown, p: RopeParameters): JsonObject {
  const prev = typeof previous === "object" && previous !== null && !Array.isArray(previous) ? (previous as JsonObject) : {};
  return { ...prev, ...ropeParametersToJson(p) };
}

export function llamaConfigToJson(c: LlamaConfig): JsonObject {
  const out: JsonObject = {
    ...baseConfigJson(c, DECODER_ARCHITECTURES[c.modelType]),
    vocab_size: c.vocabSize,
    max_position_embeddings: c.maxPositionEmbeddings,
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numHiddenLayers,
    num_attention_heads: c.numAttentionHeads,
    num_key_value_heads: c.numKeyValueHeads,
    initializer_range: c.initializerRange,
    rms_norm_eps: c.rmsNormEps,
    attention_dropout: c.attentionDropout,
    tie_word_embeddings: c.tieWordEmbeddings,
  };
  // Phi-3 derives head_dim (no field); the others write it.
  if (c.modelType !== "phi3") out.head_dim = c.headDim;
  if (c.modelType === "gemma2" || c.modelType === "gemma3_text") out.hidden_activation = c.hiddenAct;
  else out.hidden_act = c.hiddenAct;
  switch (c.modelType) {
    case "llama":
      Object.assign(out, { attention_bias: c.attentionBias, mlp_bias: c.mlpBias, pretraining_tp: c.raw.pretraining_tp ?? 1 });
      break;
    case "mistral":
      out.sliding_window = c.slidingWindow;
      break;
    case "qwen2":
    case "qwen3":
      if (c.modelType === "qwen3") out.attention_bias = c.attentionBias;
      out.use_sliding_window = c.slidingWindow !== null;
      if (c.slidingWindow !== null) out.sliding_window = c.slidingWindow;
      out.layer_types = [...c.layerTypes];
      break;
    case "gemma2":
    case "gemma3_text":
      Object.assign(out, {
        attention_bias: c.attentionBias,
        query_pre_attn_scalar: c.queryPreAttnScalar,
        final_logit_softcapping: c.finalLogitSoftcapping,
        attn_logit_softcapping: c.modelType === "gemma2" ? c.attnLogitSoftcapping : (c.raw.attn_logit_softcapping ?? null),
        sliding_window: c.slidingWindow,
        layer_types: [...c.layerTypes],
      });
      break;
    case "phi3":
      Object.assign(out, { resid_pdrop: c.residDropout, sliding_window: c.slidingWindow });
      if (c.rope.originalMaxPositionEmbeddings !== null) out.original_max_position_embeddings = c.rope.originalMaxPositionEmbeddings;
      break;
  }
  // transformers 5 keeps RoPE in rope_parameters (per layer type for Gemma 3); 4.x's top-level rope_theta
  // is kept only if the source had it.
  const previous = c.raw.rope_parameters ?? c.raw.rope_scaling;
  if (c.modelType === "gemma3_text") {
    const prev = (typeof previous === "object" && previous !== null ? previous : {}) as JsonObject;
    const perLayer = "full_attention" in prev || "sliding_attention" in prev;
    out.rope_parameters = {
      full_attention: ropeJson(perLayer ? prev.full_attention : previous, c.rope),
      sliding_attention: ropeJson(perLayer ? prev.sliding_attention : undefined, c.slidingRope),
    };
    delete out.rope_local_base_freq;
  } else {
    out.rope_parameters = ropeJson(previous, c.rope);
  }
  if ("rope_theta" in c.raw) out.rope_theta = c.ropeTheta;
  delete out.rope_scaling;
  return out;
}

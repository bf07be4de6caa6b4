/**
 * config.json of each LLaMA-style family → `LlamaConfig`, with each transformers config class's defaults
 * and derived fields (transformers 5.17 `configuration_<family>.py`: `__post_init__`'s `layer_types`,
 * `convert_rope_params_to_dict` / `standardize_rope_params` for RoPE).
 */
import { ConfigReader } from "../config.js";
import type { JsonObject } from "../config.js";
import { DECODER_MODEL_TYPES, makeLlamaConfig } from "./config.js";
import type { DecoderModelType, LayerType, LlamaConfig } from "./config.js";
import { ROPE_TYPES, readRopeParameters } from "./rope.js";
import type { RopeParameters, RopeReadOptions } from "./rope.js";

/** The defaults of one family's transformers config class where they differ between families. */
interface FamilyDefaults {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  /** null: equal to the attention heads. */
  numKeyValueHeads: number | null;
  /** null: hidden_size / num_attention_heads. */
  headDim: number | null;
  maxPositionEmbeddings: number;
  rmsNormEps: number;
  tieWordEmbeddings: boolean;
  bosTokenId: number | null;
  eosTokenId: number | null;
  padTokenId: number | null;
}

const DEFAULTS: Record<DecoderModelType, FamilyDefaults> = {
  llama: { vocabSize: 32000, hiddenSize: 4096, intermediateSize: 11008, numHiddenLayers: 32, numAttentionHeads: 32, numKeyValueHeads: null, headDim: null, maxPositionEmbeddings: 2048, rmsNormEps: 1e-6, tieWordEmbeddings: false, bosTokenId: 1, eosTokenId: 2, padTokenId: null },
  mistral: { vocabSize: 32000, hiddenSize: 4096, intermediateSize: 14336, numHiddenLayers: 32, numAttentionHeads: 32, numKeyValueHeads: 8, headDim: null, maxPositionEmbeddings: 4096 * 32, rmsNormEps: 1e-6, tieWordEmbeddings: false, bosTokenId: 1, eosTokenId: 2, padTokenId: null },
  qwen2: { vocabSize: 151936, hiddenSize: 4096, intermediateSize: 22016, numHiddenLayers: 32, numAttentionHeads: 32, numKeyValueHeads: 32, headDim: null, maxPositionEmbeddings: 32768, rmsNormEps: 1e-6, tieWordEmbeddings: false, bosTokenId: null, eosTokenId: null, padTokenId: null },
  qwen3: { vocabSize: 151936, hiddenSize: 4096, intermediateSize: 22016, numHiddenLayers: 32, numAttentionHeads: 32, numKeyValueHeads: 32, headDim: 128, maxPositionEmbeddings: 32768, rmsNormEps: 1e-6, tieWordEmbeddings: false, bosTokenId: null, eosTokenId: null, padTokenId: null },
  gemma2: { vocabSize: 256000, hiddenSize: 2304, intermediateSize: 9216, numHiddenLayers: 26, numAttentionHeads: 8, numKeyValueHeads: 4, headDim: 256, maxPositionEmbeddings: 8192, rmsNormEps: 1e-6, tieWordEmbeddings: true, bosTokenId: 2, eosTokenId: 1, padTokenId: 0 },
  gemma3_text: { vocabSize: 262208, hiddenSize: 2304, intermediateSize: 9216, numHiddenLayers: 26, numAttentionHeads: 8, numKeyValueHeads: 4, headDim: 256, maxPositionEmbeddings: 131072, rmsNormEps: 1e-6, tieWordEmbeddings: true, bosTokenId: 2, eosTokenId: 1, padTokenId: 0 },
  phi3: { vocabSize: 32064, hiddenSize: 3072, intermediateSize: 8192, numHiddenLayers: 32, numAttentionHeads: 32, numKeyValueHeads: null, headDim: null, maxPositionEmbeddings: 4096, rmsNormEps: 1e-5, tieWordEmbeddings: false, bosTokenId: 1, eosTokenId: 32000, padTokenId: 32000 },
};

export function isDecoderModelType(t: unknown): t is DecoderModelType {
  return typeof t === "string" && (DECODER_MODEL_TYPES as readonly string[]).includes(t);
}

function asObject(v: unknown, r: ConfigReader, key: string): JsonObject | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== "object" || Array.isArray(v)) throw r.error(key, "an object", v);
  return v as JsonObject;
}

function readLayerTypes(json: JsonObject, r: ConfigReader, n: number, fallback: (i: number) => LayerType): LayerType[] {
  const v = json.layer_types;
  if (v === undefined || v === null) return Array.from({ length: n }, (_, i) => fallback(i));
  if (!Array.isArray(v) || !v.every((x) => x === "full_attention" || x === "sliding_attention")) {
    throw r.error("layer_types", `a list of "full_attention" / "sliding_attention" (one per layer)`, v);
  }
  return v as LayerType[];
}

/** The RoPE of full and sliding layers, from 5.x `rope_parameters` or 4.x `rope_scaling` + `rope_theta`. */
function readRope(type: DecoderModelType, json: JsonObject, r: ConfigReader, source: string, maxPos: number): { rope: RopeParameters; slidingRope: RopeParameters } {
  const phi3 = type === "phi3";
  const partial = r.has("partial_rotary_factor") ? r.number("partial_rotary_factor") : 1;
  const base: RopeReadOptions = {
    defaultTheta: r.has("rope_theta") ? r.number("rope_theta") : 10000,
    partialRotaryFactor: partial,
    maxPositionEmbeddings: maxPos,
    topLevelOriginalMax: phi3 && r.has("original_max_position_embeddings") ? r.positiveInt("original_max_position_embeddings") : null,
    // Phi3Config accepts only default and longrope ("su" / "yarn" are its old names for longrope).
    allowed: phi3 ? ["default", "longrope"] : ROPE_TYPES,
    aliases: phi3 ? { su: "longrope", yarn: "longrope" } : {},
  };
  const params = asObject(json.rope_parameters, r, "rope_parameters") ?? asObject(json.rope_scaling, r, "rope_scaling");
  const key = json.rope_parameters !== undefined && json.rope_parameters !== null ? "rope_parameters" : "rope_scaling";
  let rope: RopeParameters;
  let slidingRope: RopeParameters;
  if (type === "gemma3_text") {
    // Gemma3TextConfig.convert_rope_params_to_dict: global θ 1e6 and local θ 1e4 by default; 4.x's
    // rope_scaling applies to full-attention layers only, rope_local_base_freq is the local θ.
    const perLayer = params !== null && ("full_attention" in params || "sliding_attention" in params);
    const full = perLayer ? (asObject(params.full_attention, r, `${key}.full_attention`) ?? {}) : (params ?? {});
    const local = perLayer ? (asObject(params.sliding_attention, r, `${key}.sliding_attention`) ?? {}) : {};
    rope = readRopeParameters(full, { ...base, defaultTheta: r.has("rope_theta") ? r.number("rope_theta") : 1_000_000 }, `${source} ${key}.full_attention`);
    slidingRope = readRopeParameters(local, { ...base, defaultTheta: r.has("rope_local_base_freq") ? r.number("rope_local_base_freq") : 10_000 }, `${source} ${key}.sliding_attention`);
  } else {
    rope = readRopeParameters(params ?? {}, base, `${source} ${key}`);
    slidingRope = rope;
  }
  if (!phi3 && (rope.partialRotaryFactor !== 1 || slidingRope.partialRotaryFactor !== 1)) {
    // transformers' LLaMA-style apply_rotary_pos_emb rotates whole heads; only Phi-3 passes the rest through.
    throw new Error(`${source}: partial_rotary_factor ${rope.partialRotaryFactor} is not supported for model_type "${type}" (transformers rotates whole heads there); only phi3 rotates part of a head.`);
  }
  return { rope, slidingRope };
}

/** Parses the config.json of any decoder family here. */
export function decoderConfigFromJson(json: JsonObject, source = "config.json"): LlamaConfig {
  const type = json.model_type;
  if (!isDecoderModelType(type)) {
    throw new Error(`${source}: model_type ${JSON.stringify(type)} is not a LLaMA-style decoder; supported: ${DECODER_MODEL_TYPES.join(", ")}.`);
  }
  const d = DEFAULTS[type];
  const r = new ConfigReader(json, source);
  const gemma = type === "gemma2" || type === "gemma3_text";
  const hidden = r.positiveInt("hidden_size", d.hiddenSize);
  const heads = r.positiveInt("num_attention_heads", d.numAttentionHeads);
  const layers = r.positiveInt("num_hidden_layers", d.numHiddenLayers);
  const maxPos = r.positiveInt("max_position_embeddings", d.maxPositionEmbeddings);
  const headDim = type !== "phi3" && r.has("head_dim") ? r.positiveInt("head_dim") : (d.headDim ?? hidden / heads);
  const { rope, slidingRope } = readRope(type, json, r, source, maxPos);

  // Attention biases: LLaMA's attention_bias covers q/k/v/o; Qwen2 has q/k/v biases and none on o;
  // Mistral and Phi-3 have none.
  const attentionBiasFlag = type === "llama" || type === "qwen3" || gemma ? r.bool("attention_bias", false) : false;
  const qkvBias = type === "qwen2" ? true : attentionBiasFlag;

  let slidingWindow: number | null = null;
  let layerTypes: LayerType[];
  const window = (): number | null => (r.has("sliding_window") ? r.positiveInt("sliding_window") : null);
  switch (type) {
    case "mistral":
    case "phi3":
      // MistralModel / Phi3Model: one mask for every layer, sliding when sliding_window is set.
      slidingWindow = type === "mistral" ? (json.sliding_window === undefined ? 4096 : window()) : window();
      layerTypes = Array.from({ length: layers }, () => (slidingWindow === null ? "full_attention" : "sliding_attention"));
      if (json.layer_types !== undefined && json.layer_types !== null && type === "mistral") {
        throw new Error(`${source}: a mistral config with layer_types (alternating attention) is Ministral's; it is not supported.`);
      }
      break;
    case "qwen2":
    case "qwen3": {
      // Qwen2Config.__post_init__: sliding_window only with use_sliding_window; layers ≥ max_window_layers slide.
      const use = r.bool("use_sliding_window", false);
      slidingWindow = use ? (json.sliding_window === undefined ? 4096 : window()) : null;
      const maxWindowLayers = r.int("max_window_layers", 28);
      layerTypes = readLayerTypes(json, r, layers, (i) => (slidingWindow !== null && i >= maxWindowLayers ? "sliding_attention" : "full_attention"));
      break;
    }
    case "gemma2":
    case "gemma3_text": {
      if (r.has("use_bidirectional_attention") && r.bool("use_bidirectional_attention")) {
        throw new Error(`${source}: use_bidirectional_attention (an encoder-style Gemma) is not supported; only causal Gemma models are.`);
      }
      slidingWindow = json.sliding_window === undefined ? 4096 : window();
      // Gemma 2 alternates sliding/full; Gemma 3 has one full layer every sliding_window_pattern (6) layers.
      const pattern = type === "gemma2" ? 2 : r.positiveInt("sliding_window_pattern", 6);
      layerTypes = readLayerTypes(json, r, layers, (i) => ((i + 1) % pattern !== 0 ? "sliding_attention" : "full_attention"));
      break;
    }
    case "llama":
      layerTypes = Array.from({ length: layers }, () => "full_attention" as const);
      break;
  }
  // A field absent from config.json takes the class default; an explicit null switches capping off.
  const capping = (key: string, fallback: number | null): number | null => (json[key] === undefined ? fallback : r.has(key) ? r.number(key) : null);

  return makeLlamaConfig(
    {
      modelType: type,
      vocabSize: r.positiveInt("vocab_size", d.vocabSize),
      maxPositionEmbeddings: maxPos,
      hiddenSize: hidden,
      intermediateSize: r.positiveInt("intermediate_size", d.intermediateSize),
      numHiddenLayers: layers,
      numAttentionHeads: heads,
      numKeyValueHeads: r.has("num_key_value_heads") ? r.positiveInt("num_key_value_heads") : (d.numKeyValueHeads ?? heads),
      headDim,
      hiddenAct: gemma ? r.string("hidden_activation", "gelu_pytorch_tanh") : r.string("hidden_act", "silu"),
      initializerRange: r.number("initializer_range", 0.02),
      rmsNormEps: r.number("rms_norm_eps", d.rmsNormEps),
      ropeTheta: rope.ropeTheta,
      rope,
      slidingRope,
      attentionBias: qkvBias,
      outputBias: type === "qwen2" ? false : attentionBiasFlag,
      attentionDropout: r.number("attention_dropout", 0),
      mlpBias: type === "llama" ? r.bool("mlp_bias", false) : false,
      tieWordEmbeddings: r.bool("tie_word_embeddings", d.tieWordEmbeddings),
      qkNorm: type === "qwen3" || type === "gemma3_text",
      gemmaNorm: gemma,
      sandwichNorm: gemma,
      embedScale: gemma,
      queryPreAttnScalar: gemma ? r.number("query_pre_attn_scalar", 256) : null,
      // Gemma3Attention does not pass attn_logit_softcapping to the attention function: transformers
      // ignores it for Gemma 3, so do we.
      attnLogitSoftcapping: type === "gemma2" ? capping("attn_logit_softcapping", 50) : null,
      finalLogitSoftcapping: type === "gemma2" ? capping("final_logit_softcapping", 30) : type === "gemma3_text" ? capping("final_logit_softcapping", null) : null,
      slidingWindow,
      layerTypes,
      fusedProjections: type === "phi3",
      residDropout: type === "phi3" ? r.number("resid_pdrop", 0) : 0,
      bosTokenId: json.bos_token_id === undefined ? d.bosTokenId : r.optionalInt("bos_token_id"),
      eosTokenId: json.eos_token_id === undefined ? d.eosTokenId : r.tokenIds("eos_token_id"),
      padTokenId: json.pad_token_id === undefined ? d.padTokenId : r.optionalInt("pad_token_id"),
    },
    json,
    source,
  );
}

/** Kept for callers of the LLaMA-only reader: parses any decoder family. */
export const llamaConfigFromJson = decoderConfigFromJson;

/**
 * A random-init config of any decoder family from config.json-style fields (snake_case, as transformers'
 * config classes take them), e.g. `decoderConfig("qwen2", { hidden_size: 64, num_hidden_layers: 2 })`.
 */
export function decoderConfig(modelType: DecoderModelType, fields: JsonObject = {}): LlamaConfig {
  return decoderConfigFromJson({ ...fields, model_type: modelType }, `decoderConfig("${modelType}")`);
}

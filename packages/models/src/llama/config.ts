/**
 * LLaMA config (transformers `LlamaConfig`). RoPE theta is read from transformers 5's
 * `rope_parameters.rope_theta` or 4.x's top-level `rope_theta`; only the default rope type is implemented.
 */
import { ConfigReader, baseConfigJson, checkHeads, definedOnly } from "../config.js";
import type { BaseModelConfig, JsonObject } from "../config.js";

export type LlamaConfig = BaseModelConfig & {
  readonly modelType: "llama";
  readonly intermediateSize: number;
  /** `hidden_act`: "silu" by default. */
  readonly hiddenAct: string;
  readonly initializerRange: number;
  readonly rmsNormEps: number;
  readonly ropeTheta: number;
  readonly attentionBias: boolean;
  readonly attentionDropout: number;
  readonly mlpBias: boolean;
  readonly tieWordEmbeddings: boolean;
};

export type LlamaConfigOptions = Partial<Omit<LlamaConfig, "modelType" | "raw">>;

const PRESETS = {
  tiny: { vocabSize: 128, maxPositionEmbeddings: 128, hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2 },
  /** About GPT-2 small's size (~110M with a 32k vocabulary), with grouped-query attention. */
  small: { vocabSize: 32000, maxPositionEmbeddings: 2048, hiddenSize: 768, intermediateSize: 2048, numHiddenLayers: 12, numAttentionHeads: 12, numKeyValueHeads: 4 },
} as const;

export type LlamaPreset = keyof typeof PRESETS;

/** A random-init config: a preset ("tiny" for tests, "small" ≈ GPT-2 small's size) with any field overridden. */
export function llamaConfig(preset: LlamaPreset = "small", overrides: LlamaConfigOptions = {}): LlamaConfig {
  if (!(preset in PRESETS)) throw new Error(`llamaConfig: unknown preset "${String(preset)}"; use one of ${Object.keys(PRESETS).join(", ")}.`);
  const o = { ...PRESETS[preset], ...definedOnly(overrides) };
  return makeLlamaConfig(
    {
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
      ropeTheta: o.ropeTheta ?? 10000,
      attentionBias: o.attentionBias ?? false,
      attentionDropout: o.attentionDropout ?? 0,
      mlpBias: o.mlpBias ?? false,
      tieWordEmbeddings: o.tieWordEmbeddings ?? false,
      bosTokenId: o.bosTokenId === undefined ? 1 : o.bosTokenId,
      eosTokenId: o.eosTokenId === undefined ? 2 : o.eosTokenId,
      padTokenId: o.padTokenId ?? null,
    },
    {},
    "llamaConfig",
  );
}

function makeLlamaConfig(f: Omit<LlamaConfig, "modelType" | "raw">, raw: JsonObject, source: string): LlamaConfig {
  if (f.headDim === f.hiddenSize / f.numAttentionHeads) checkHeads(source, f.hiddenSize, f.numAttentionHeads);
  if (!Number.isInteger(f.headDim) || f.headDim <= 0 || f.headDim % 2 !== 0) {
    throw new Error(`${source}: head_dim must be a positive even integer (rotary embeddings rotate pairs), got ${f.headDim}.`);
  }
  if (f.numAttentionHeads % f.numKeyValueHeads !== 0) {
    throw new Error(`${source}: num_attention_heads (${f.numAttentionHeads}) must be a multiple of num_key_value_heads (${f.numKeyValueHeads}).`);
  }
  if (!(f.ropeTheta > 0)) throw new Error(`${source}: rope_theta must be positive, got ${f.ropeTheta}.`);
  return Object.freeze({ ...f, modelType: "llama" as const, raw });
}

export function llamaConfigFromJson(json: JsonObject, source = "config.json"): LlamaConfig {
  const r = new ConfigReader(json, source);
  const hidden = r.positiveInt("hidden_size", 4096);
  const heads = r.positiveInt("num_attention_heads", 32);
  return makeLlamaConfig(
    {
      vocabSize: r.positiveInt("vocab_size", 32000),
      maxPositionEmbeddings: r.positiveInt("max_position_embeddings", 2048),
      hiddenSize: hidden,
      intermediateSize: r.positiveInt("intermediate_size", 11008),
      numHiddenLayers: r.positiveInt("num_hidden_layers", 32),
      numAttentionHeads: heads,
      numKeyValueHeads: r.positiveInt("num_key_value_heads", heads),
      headDim: r.has("head_dim") ? r.positiveInt("head_dim") : hidden / heads,
      hiddenAct: r.string("hidden_act", "silu"),
      initializerRange: r.number("initializer_range", 0.02),
      rmsNormEps: r.number("rms_norm_eps", 1e-6),
      ropeTheta: readRopeTheta(json, r, source),
      attentionBias: r.bool("attention_bias", false),
      attentionDropout: r.number("attention_dropout", 0),
      mlpBias: r.bool("mlp_bias", false),
      tieWordEmbeddings: r.bool("tie_word_embeddings", false),
      bosTokenId: r.optionalInt("bos_token_id"),
      eosTokenId: r.tokenIds("eos_token_id"),
      padTokenId: r.optionalInt("pad_token_id"),
    },
    json,
    source,
  );
}

function readRopeTheta(json: JsonObject, r: ConfigReader, source: string): number {
  for (const key of ["rope_parameters", "rope_scaling"]) {
    const p = json[key];
    if (p === undefined || p === null) continue;
    if (typeof p !== "object") throw r.error(key, "an object", p);
    const params = p as JsonObject;
    const type = params.rope_type ?? params.type ?? "default";
    if (type !== "default") {
      throw new Error(`${source}: ${key}.rope_type ${JSON.stringify(type)} is not supported; only the default RoPE is implemented (no scaling).`);
    }
    if (params.rope_theta !== undefined) return new ConfigReader(params, `${source} ${key}`).number("rope_theta");
  }
  return r.number("rope_theta", 10000);
}

export function llamaConfigToJson(c: LlamaConfig): JsonObject {
  const out: JsonObject = {
    ...baseConfigJson(c, "LlamaForCausalLM"),
    vocab_size: c.vocabSize,
    max_position_embeddings: c.maxPositionEmbeddings,
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numHiddenLayers,
    num_attention_heads: c.numAttentionHeads,
    num_key_value_heads: c.numKeyValueHeads,
    head_dim: c.headDim,
    hidden_act: c.hiddenAct,
    initializer_range: c.initializerRange,
    rms_norm_eps: c.rmsNormEps,
    attention_bias: c.attentionBias,
    attention_dropout: c.attentionDropout,
    mlp_bias: c.mlpBias,
    tie_word_embeddings: c.tieWordEmbeddings,
    pretraining_tp: 1,
  };
  // transformers 5 keeps theta in rope_parameters; keep 4.x's top-level field only if the source had it.
  const previous = (c.raw.rope_parameters ?? {}) as JsonObject;
  out.rope_parameters = { ...previous, rope_type: "default", rope_theta: c.ropeTheta };
  if ("rope_theta" in c.raw) out.rope_theta = c.ropeTheta;
  delete out.rope_scaling;
  return out;
}

/**
 * GPT-2 config (transformers `GPT2Config`). JSON names → fields: `n_embd` → hiddenSize, `n_layer` →
 * numHiddenLayers, `n_head` → numAttentionHeads, `n_positions` → maxPositionEmbeddings, `n_inner` →
 * intermediateSize (null means 4·hidden).
 */
import { ConfigReader, baseConfigJson, checkHeads, definedOnly } from "../config.js";
import type { BaseModelConfig, JsonObject } from "../config.js";

export type GPT2Config = BaseModelConfig & {
  readonly modelType: "gpt2";
  readonly intermediateSize: number;
  /** `activation_function`: "gelu_new" (tanh approximation) by default. */
  readonly activationFunction: string;
  readonly residPdrop: number;
  readonly embdPdrop: number;
  readonly attnPdrop: number;
  readonly layerNormEpsilon: number;
  readonly initializerRange: number;
  readonly scaleAttnWeights: boolean;
  readonly scaleAttnByInverseLayerIdx: boolean;
  readonly tieWordEmbeddings: boolean;
};

export type GPT2ConfigOptions = Partial<Omit<GPT2Config, "modelType" | "headDim" | "numKeyValueHeads" | "raw">>;

const PRESETS = {
  /** For tests: a few thousand parameters. */
  tiny: { vocabSize: 128, maxPositionEmbeddings: 64, hiddenSize: 32, numHiddenLayers: 2, numAttentionHeads: 4 },
  /** GPT-2 small (124M): the `gpt2` checkpoint's shape. */
  small: { vocabSize: 50257, maxPositionEmbeddings: 1024, hiddenSize: 768, numHiddenLayers: 12, numAttentionHeads: 12 },
} as const;

export type GPT2Preset = keyof typeof PRESETS;

/** A random-init config: a preset ("tiny" for tests, "small" = GPT-2 small) with any field overridden. */
export function gpt2Config(preset: GPT2Preset = "small", overrides: GPT2ConfigOptions = {}): GPT2Config {
  if (!(preset in PRESETS)) throw new Error(`gpt2Config: unknown preset "${String(preset)}"; use one of ${Object.keys(PRESETS).join(", ")}.`);
  const o = { ...PRESETS[preset], ...definedOnly(overrides) };
  const hidden = o.hiddenSize;
  const last = o.vocabSize - 1;
  return makeGPT2Config(
    {
      vocabSize: o.vocabSize,
      maxPositionEmbeddings: o.maxPositionEmbeddings,
      hiddenSize: hidden,
      numHiddenLayers: o.numHiddenLayers,
      numAttentionHeads: o.numAttentionHeads,
      intermediateSize: o.intermediateSize ?? 4 * hidden,
      activationFunction: o.activationFunction ?? "gelu_new",
      residPdrop: o.residPdrop ?? 0.1,
      embdPdrop: o.embdPdrop ?? 0.1,
      attnPdrop: o.attnPdrop ?? 0.1,
      layerNormEpsilon: o.layerNormEpsilon ?? 1e-5,
      initializerRange: o.initializerRange ?? 0.02,
      scaleAttnWeights: o.scaleAttnWeights ?? true,
      scaleAttnByInverseLayerIdx: o.scaleAttnByInverseLayerIdx ?? false,
      tieWordEmbeddings: o.tieWordEmbeddings ?? true,
      // GPT-2's <|endoftext|> is the last id; presets keep that convention.
      bosTokenId: o.bosTokenId === undefined ? last : o.bosTokenId,
      eosTokenId: o.eosTokenId === undefined ? last : o.eosTokenId,
      padTokenId: o.padTokenId ?? null,
    },
    {},
    "gpt2Config",
  );
}

function makeGPT2Config(f: Omit<GPT2Config, "modelType" | "headDim" | "numKeyValueHeads" | "raw">, raw: JsonObject, source: string): GPT2Config {
  checkHeads(source, f.hiddenSize, f.numAttentionHeads);
  for (const [k, v] of Object.entries({ vocabSize: f.vocabSize, hiddenSize: f.hiddenSize, numHiddenLayers: f.numHiddenLayers, maxPositionEmbeddings: f.maxPositionEmbeddings })) {
    if (!Number.isInteger(v) || v <= 0) throw new Error(`${source}: ${k} must be a positive integer, got ${v}.`);
  }
  return Object.freeze({
    ...f,
    modelType: "gpt2" as const,
    numKeyValueHeads: f.numAttentionHeads,
    headDim: f.hiddenSize / f.numAttentionHeads,
    raw,
  });
}

/** Parses a GPT-2 config.json object (transformers defaults for absent fields). */
export function gpt2ConfigFromJson(json: JsonObject, source = "config.json"): GPT2Config {
  const r = new ConfigReader(json, source);
  if (r.bool("add_cross_attention", false)) throw new Error(`${source}: GPT-2 with cross-attention (add_cross_attention) is not supported.`);
  const hidden = r.positiveInt("n_embd", 768);
  return makeGPT2Config(
    {
      vocabSize: r.positiveInt("vocab_size", 50257),
      maxPositionEmbeddings: r.positiveInt("n_positions", 1024),
      hiddenSize: hidden,
      numHiddenLayers: r.positiveInt("n_layer", 12),
      numAttentionHeads: r.positiveInt("n_head", 12),
      intermediateSize: r.has("n_inner") ? r.positiveInt("n_inner") : 4 * hidden,
      activationFunction: r.string("activation_function", "gelu_new"),
      residPdrop: r.number("resid_pdrop", 0.1),
      embdPdrop: r.number("embd_pdrop", 0.1),
      attnPdrop: r.number("attn_pdrop", 0.1),
      layerNormEpsilon: r.number("layer_norm_epsilon", 1e-5),
      initializerRange: r.number("initializer_range", 0.02),
      scaleAttnWeights: r.bool("scale_attn_weights", true),
      scaleAttnByInverseLayerIdx: r.bool("scale_attn_by_inverse_layer_idx", false),
      tieWordEmbeddings: r.bool("tie_word_embeddings", true),
      bosTokenId: r.optionalInt("bos_token_id"),
      eosTokenId: r.tokenIds("eos_token_id"),
      padTokenId: r.optionalInt("pad_token_id"),
    },
    json,
    source,
  );
}

export function gpt2ConfigToJson(c: GPT2Config): JsonObject {
  return {
    ...baseConfigJson(c, "GPT2LMHeadModel"),
    vocab_size: c.vocabSize,
    n_positions: c.maxPositionEmbeddings,
    n_embd: c.hiddenSize,
    n_layer: c.numHiddenLayers,
    n_head: c.numAttentionHeads,
    n_inner: c.intermediateSize === 4 * c.hiddenSize ? null : c.intermediateSize,
    activation_function: c.activationFunction,
    resid_pdrop: c.residPdrop,
    embd_pdrop: c.embdPdrop,
    attn_pdrop: c.attnPdrop,
    layer_norm_epsilon: c.layerNormEpsilon,
    initializer_range: c.initializerRange,
    scale_attn_weights: c.scaleAttnWeights,
    scale_attn_by_inverse_layer_idx: c.scaleAttnByInverseLayerIdx,
    tie_word_embeddings: c.tieWordEmbeddings,
  };
}

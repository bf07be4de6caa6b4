/**
 * BERT config (transformers `BertConfig`) with the sequence-classification fields (`num_labels` from
 * `id2label`, `problem_type`, `classifier_dropout`).
 */
import { ConfigReader, baseConfigJson, checkHeads, definedOnly } from "../config.js";
import type { BaseModelConfig, JsonObject } from "../config.js";
import type { ProblemType } from "../loss.js";

export type BertConfig = BaseModelConfig & {
  readonly modelType: "bert";
  readonly intermediateSize: number;
  /** `hidden_act`: "gelu" (exact, erf) by default. */
  readonly hiddenAct: string;
  readonly hiddenDropoutProb: number;
  readonly attentionProbsDropoutProb: number;
  readonly typeVocabSize: number;
  readonly initializerRange: number;
  readonly layerNormEps: number;
  /** Dropout before the classifier; null means `hiddenDropoutProb`. */
  readonly classifierDropout: number | null;
  readonly numLabels: number;
  /** `id2label`: label names by class index. */
  readonly labels: readonly string[];
  readonly problemType: ProblemType | null;
};

export type BertConfigOptions = Partial<Omit<BertConfig, "modelType" | "headDim" | "numKeyValueHeads" | "raw" | "labels">> & {
  labels?: readonly string[];
};

const PRESETS = {
  tiny: { vocabSize: 128, maxPositionEmbeddings: 64, hiddenSize: 32, numHiddenLayers: 2, numAttentionHeads: 4, intermediateSize: 64 },
  /** bert-base-uncased's shape (110M). */
  base: { vocabSize: 30522, maxPositionEmbeddings: 512, hiddenSize: 768, numHiddenLayers: 12, numAttentionHeads: 12, intermediateSize: 3072 },
} as const;

export type BertPreset = keyof typeof PRESETS;

/** A random-init config: a preset ("tiny" for tests, "base" = bert-base) with any field overridden. */
export function bertConfig(preset: BertPreset = "base", overrides: BertConfigOptions = {}): BertConfig {
  if (!(preset in PRESETS)) throw new Error(`bertConfig: unknown preset "${String(preset)}"; use one of ${Object.keys(PRESETS).join(", ")}.`);
  const o = { ...PRESETS[preset], ...definedOnly(overrides) };
  const numLabels = o.numLabels ?? o.labels?.length ?? 2;
  return makeBertConfig(
    {
      vocabSize: o.vocabSize,
      maxPositionEmbeddings: o.maxPositionEmbeddings,
      hiddenSize: o.hiddenSize,
      numHiddenLayers: o.numHiddenLayers,
      numAttentionHeads: o.numAttentionHeads,
      intermediateSize: o.intermediateSize,
      hiddenAct: o.hiddenAct ?? "gelu",
      hiddenDropoutProb: o.hiddenDropoutProb ?? 0.1,
      attentionProbsDropoutProb: o.attentionProbsDropoutProb ?? 0.1,
      typeVocabSize: o.typeVocabSize ?? 2,
      initializerRange: o.initializerRange ?? 0.02,
      layerNormEps: o.layerNormEps ?? 1e-12,
      classifierDropout: o.classifierDropout ?? null,
      numLabels,
      labels: o.labels ?? defaultLabels(numLabels),
      problemType: o.problemType ?? null,
      bosTokenId: o.bosTokenId ?? null,
      eosTokenId: o.eosTokenId ?? null,
      padTokenId: o.padTokenId === undefined ? 0 : o.padTokenId,
    },
    {},
    "bertConfig",
  );
}

function defaultLabels(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `LABEL_${i}`);
}

function makeBertConfig(f: Omit<BertConfig, "modelType" | "headDim" | "numKeyValueHeads" | "raw">, raw: JsonObject, source: string): BertConfig {
  checkHeads(source, f.hiddenSize, f.numAttentionHeads);
  if (!Number.isInteger(f.numLabels) || f.numLabels < 1) throw new Error(`${source}: num_labels must be a positive integer, got ${f.numLabels}.`);
  if (f.labels.length !== f.numLabels) {
    throw new Error(`${source}: ${f.labels.length} label names (id2label) for num_labels = ${f.numLabels}; give one name per label.`);
  }
  return Object.freeze({
    ...f,
    modelType: "bert" as const,
    numKeyValueHeads: f.numAttentionHeads,
    headDim: f.hiddenSize / f.numAttentionHeads,
    raw,
  });
}

const PROBLEM_TYPES: readonly ProblemType[] = ["regression", "single_label_classification", "multi_label_classification"];

export function bertConfigFromJson(json: JsonObject, source = "config.json"): BertConfig {
  const r = new ConfigReader(json, source);
  if (r.bool("is_decoder", false) || r.bool("add_cross_attention", false)) {
    throw new Error(`${source}: BERT as a decoder (is_decoder / add_cross_attention) is not supported; only the encoder is implemented.`);
  }
  const positionType = r.string("position_embedding_type", "absolute");
  if (positionType !== "absolute") {
    throw new Error(`${source}: position_embedding_type "${positionType}" is not supported; only "absolute" BERT is implemented.`);
  }
  let labels: string[];
  const id2label = json.id2label;
  if (id2label !== undefined && id2label !== null) {
    if (typeof id2label !== "object") throw r.error("id2label", 'an object {"0": "name", …}', id2label);
    const entries = Object.entries(id2label as Record<string, unknown>).map(([k, v]) => [Number(k), String(v)] as const);
    entries.sort((a, b) => a[0] - b[0]);
    if (entries.some(([k], i) => k !== i)) throw r.error("id2label", "keyed by 0..n-1", id2label);
    labels = entries.map(([, v]) => v);
  } else {
    labels = defaultLabels(r.positiveInt("num_labels", 2));
  }
  const problemType = json.problem_type ?? null;
  if (problemType !== null && !PROBLEM_TYPES.includes(problemType as ProblemType)) throw r.error("problem_type", PROBLEM_TYPES.join(" or "), problemType);
  return makeBertConfig(
    {
      vocabSize: r.positiveInt("vocab_size", 30522),
      maxPositionEmbeddings: r.positiveInt("max_position_embeddings", 512),
      hiddenSize: r.positiveInt("hidden_size", 768),
      numHiddenLayers: r.positiveInt("num_hidden_layers", 12),
      numAttentionHeads: r.positiveInt("num_attention_heads", 12),
      intermediateSize: r.positiveInt("intermediate_size", 3072),
      hiddenAct: r.string("hidden_act", "gelu"),
      hiddenDropoutProb: r.number("hidden_dropout_prob", 0.1),
      attentionProbsDropoutProb: r.number("attention_probs_dropout_prob", 0.1),
      typeVocabSize: r.positiveInt("type_vocab_size", 2),
      initializerRange: r.number("initializer_range", 0.02),
      layerNormEps: r.number("layer_norm_eps", 1e-12),
      classifierDropout: r.has("classifier_dropout") ? r.number("classifier_dropout") : null,
      numLabels: labels.length,
      labels,
      problemType: problemType as ProblemType | null,
      bosTokenId: r.optionalInt("bos_token_id"),
      eosTokenId: r.tokenIds("eos_token_id"),
      padTokenId: r.optionalInt("pad_token_id"),
    },
    json,
    source,
  );
}

export function bertConfigToJson(c: BertConfig): JsonObject {
  const out: JsonObject = {
    ...baseConfigJson(c, "BertForSequenceClassification"),
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    num_hidden_layers: c.numHiddenLayers,
    num_attention_heads: c.numAttentionHeads,
    intermediate_size: c.intermediateSize,
    hidden_act: c.hiddenAct,
    hidden_dropout_prob: c.hiddenDropoutProb,
    attention_probs_dropout_prob: c.attentionProbsDropoutProb,
    max_position_embeddings: c.maxPositionEmbeddings,
    type_vocab_size: c.typeVocabSize,
    initializer_range: c.initializerRange,
    layer_norm_eps: c.layerNormEps,
    position_embedding_type: "absolute",
    classifier_dropout: c.classifierDropout,
    id2label: Object.fromEntries(c.labels.map((l, i) => [String(i), l])),
    label2id: Object.fromEntries(c.labels.map((l, i) => [l, i])),
    problem_type: c.problemType,
  };
  delete out.num_labels;
  return out;
}

/**
 * BERT (transformers `BertForSequenceClassification`), parameter paths equal to its state_dict:
 * `bert.embeddings.{word_embeddings, position_embeddings, token_type_embeddings, LayerNorm}`,
 * `bert.encoder.layer.N.attention.self.{query,key,value}`, `….attention.output.{dense,LayerNorm}`,
 * `….intermediate.dense`, `….output.{dense,LayerNorm}`, `bert.pooler.dense`, `classifier`.
 * Post-LayerNorm blocks, bidirectional attention with a padding mask, key/value prefixes (and a cache,
 * which an encoder rarely needs but prefix methods share the code path with).
 */
import { tf, Dropout, LayerNorm, Module, ModuleList } from "@peftjs/core";
import type { Embedding, LayerKV, ModelInputs, ModelOutput, PreTrainedModelLike, Tensor } from "@peftjs/core";
import { getActivation } from "../activations.js";
import type { Activation } from "../activations.js";
import { extendKeyValues, mergeHeads, scaledDotProductAttention, setupAttention, splitHeads } from "../attention.js";
import type { AttentionContext } from "../attention.js";
import { sequenceClassificationLoss } from "../loss.js";
import { callModule, childModule, embeddingAt, normalEmbedding, normalLinear, tidyOutput } from "../modules.js";
import type { TensorModule } from "../modules.js";
import { ResidualConnection, callResidual } from "../residual.js";
import { bertConfigFromJson, bertConfigToJson } from "./config.js";
import type { BertConfig } from "./config.js";
import { adaptBertStateDict, bertMissingAllowed, bertTiedKeys } from "./checkpoint.js";
import { loadWithSpec, saveWithSpec } from "../checkpoint.js";
import type { ArchitectureSpec, LoadPretrainedOptions, SavePretrainedOptions } from "../checkpoint.js";

interface LayerOutput {
  output: Tensor;
  present: LayerKV | undefined;
}

export class BertEmbeddings extends Module {
  constructor(readonly config: BertConfig) {
    super();
    const { hiddenSize: h, initializerRange: std } = config;
    const words = this.registerModule("word_embeddings", normalEmbedding(config.vocabSize, h, std));
    // transformers zeroes the padding token's row at init (nn.Embedding padding_idx).
    if (config.padTokenId !== null && config.padTokenId < config.vocabSize) {
      const pad = config.padTokenId;
      tf.tidy(() => {
        const keep = tf.reshape(tf.notEqual(tf.range(0, config.vocabSize, 1, "int32"), tf.scalar(pad, "int32")), [-1, 1]);
        words.weight.assign(tf.mul(words.weight, tf.cast(keep, "float32")));
      });
    }
    this.registerModule("position_embeddings", normalEmbedding(config.maxPositionEmbeddings, h, std));
    this.registerModule("token_type_embeddings", normalEmbedding(config.typeVocabSize, h, std));
    this.registerModule("LayerNorm", new LayerNorm(h, config.layerNormEps));
    this.registerModule("dropout", new Dropout(config.hiddenDropoutProb));
  }

  forward(inputs: ModelInputs, positionIds: Tensor, batch: number, seqLen: number): Tensor {
    let hidden = inputs.inputsEmbeds ?? callModule(this, "word_embeddings", inputs.inputIds!);
    const tokenTypes = inputs.tokenTypeIds ?? tf.zeros([batch, seqLen], "int32");
    hidden = tf.add(hidden, callModule(this, "token_type_embeddings", tokenTypes));
    hidden = tf.add(hidden, callModule(this, "position_embeddings", positionIds));
    return callModule(this, "dropout", callModule(this, "LayerNorm", hidden));
  }
}

/** transformers `BertSelfAttention` (registered as `attention.self`). */
export class BertSelfAttention extends Module {
  constructor(readonly config: BertConfig) {
    super();
    const { hiddenSize: h, initializerRange: std } = config;
    this.registerModule("query", normalLinear(h, h, std));
    this.registerModule("key", normalLinear(h, h, std));
    this.registerModule("value", normalLinear(h, h, std));
    this.registerModule("dropout", new Dropout(config.attentionProbsDropoutProb));
  }

  forward(hidden: Tensor, ctx: AttentionContext): LayerOutput {
    const { numAttentionHeads: heads, headDim } = this.config;
    const query = splitHeads(callModule(this, "query", hidden), heads, headDim);
    const k = splitHeads(callModule(this, "key", hidden), heads, headDim);
    const v = splitHeads(callModule(this, "value", hidden), heads, headDim);
    const { key, value, present } = extendKeyValues(k, v, ctx);
    const attn = scaledDotProductAttention(query, key, value, ctx.bias, 1 / Math.sqrt(headDim), (p) => callModule(this, "dropout", p));
    return { output: mergeHeads(attn), present };
  }
}

/** `dense → dropout → LayerNorm(· + residual)`: transformers `BertSelfOutput` and `BertOutput`. */
export class BertResidualOutput extends Module {
  constructor(inFeatures: number, config: BertConfig) {
    super();
    this.registerModule("dense", normalLinear(inFeatures, config.hiddenSize, config.initializerRange));
    this.registerModule("LayerNorm", new LayerNorm(config.hiddenSize, config.layerNormEps));
    this.registerModule("dropout", new Dropout(config.hiddenDropoutProb));
    // LayerNorm(h + residual) as a hook point (see ResidualConnection); no parameters.
    this.registerModule("residual", new ResidualConnection());
  }

  forward(hidden: Tensor, residual: Tensor): Tensor {
    const h = callModule(this, "dropout", callModule(this, "dense", hidden));
    return callResidual(this, "residual", h, residual, childModule<TensorModule>(this, "LayerNorm"));
  }
}

export class BertAttention extends Module {
  constructor(readonly config: BertConfig) {
    super();
    this.registerModule("self", new BertSelfAttention(config));
    this.registerModule("output", new BertResidualOutput(config.hiddenSize, config));
  }

  forward(hidden: Tensor, ctx: AttentionContext): LayerOutput {
    const self = childModule<BertSelfAttention>(this, "self").forward(hidden, ctx);
    return { output: childModule<BertResidualOutput>(this, "output").forward(self.output, hidden), present: self.present };
  }
}

export class BertIntermediate extends Module {
  private readonly act: Activation;

  constructor(readonly config: BertConfig) {
    super();
    this.registerModule("dense", normalLinear(config.hiddenSize, config.intermediateSize, config.initializerRange));
    this.act = getActivation(config.hiddenAct, "BertConfig.hidden_act");
  }

  forward(x: Tensor): Tensor {
    return this.act(callModule(this, "dense", x));
  }
}

export class BertLayer extends Module {
  constructor(readonly config: BertConfig) {
    super();
    this.registerModule("attention", new BertAttention(config));
    this.registerModule("intermediate", new BertIntermediate(config));
    this.registerModule("output", new BertResidualOutput(config.intermediateSize, config));
  }

  forward(hidden: Tensor, ctx: AttentionContext): LayerOutput {
    const attn = childModule<BertAttention>(this, "attention").forward(hidden, ctx);
    const inter = callModule(this, "intermediate", attn.output);
    return { output: childModule<BertResidualOutput>(this, "output").forward(inter, attn.output), present: attn.present };
  }
}

export class BertEncoder extends Module {
  constructor(readonly config: BertConfig) {
    super();
    const layers = new ModuleList<BertLayer>();
    for (let i = 0; i < config.numHiddenLayers; i++) layers.append(new BertLayer(config));
    this.registerModule("layer", layers);
  }
}

/** First token's hidden state → dense → tanh (transformers `BertPooler`). */
export class BertPooler extends Module {
  constructor(readonly config: BertConfig) {
    super();
    this.registerModule("dense", normalLinear(config.hiddenSize, config.hiddenSize, config.initializerRange));
  }

  forward(hidden: Tensor): Tensor {
    const [b, , h] = hidden.shape as [number, number, number];
    const first = tf.reshape(tf.slice(hidden, [0, 0, 0], [b, 1, h]), [b, h]);
    return tf.tanh(callModule(this, "dense", first));
  }
}

/** transformers `BertModel` (with its pooler). */
export class BertModel extends Module {
  constructor(readonly config: BertConfig) {
    super();
    this.registerModule("embeddings", new BertEmbeddings(config));
    this.registerModule("encoder", new BertEncoder(config));
    this.registerModule("pooler", new BertPooler(config));
  }

  forward(inputs: ModelInputs): { hidden: Tensor; pooled: Tensor; presents: LayerKV[] | undefined } {
    const c = this.config;
    const setup = setupAttention(inputs, {
      numLayers: c.numHiddenLayers,
      numKeyValueHeads: c.numAttentionHeads,
      headDim: c.headDim,
      hiddenSize: c.hiddenSize,
      causal: false,
      source: "BertForSequenceClassification",
    });
    if (inputs.positionIds === undefined && setup.pastLen + setup.seqLen > c.maxPositionEmbeddings) {
      throw new Error(`BertForSequenceClassification.forward: ${setup.pastLen + setup.seqLen} positions exceed max_position_embeddings = ${c.maxPositionEmbeddings}.`);
    }
    if (inputs.tokenTypeIds !== undefined && (inputs.tokenTypeIds.shape[0] !== setup.batch || inputs.tokenTypeIds.shape[1] !== setup.seqLen)) {
      throw new Error(`BertForSequenceClassification.forward: tokenTypeIds must be [${setup.batch}, ${setup.seqLen}], got [${inputs.tokenTypeIds.shape.join(", ")}].`);
    }
    let hidden = childModule<BertEmbeddings>(this, "embeddings").forward(inputs, setup.positionIds, setup.batch, setup.seqLen);
    const presents: LayerKV[] = [];
    const layers = this.getSubmodule("encoder.layer") as ModuleList<BertLayer>;
    for (let i = 0; i < layers.length; i++) {
      const out = layers.at(i).forward(hidden, setup.layer(i));
      hidden = out.output;
      if (out.present !== undefined) presents.push(out.present);
    }
    const pooled = callModule(this, "pooler", hidden);
    return { hidden, pooled, presents: inputs.useCache === true ? presents : undefined };
  }
}

/** transformers `BertForSequenceClassification`: pooled output → dropout → classifier `[b, numLabels]`. */
export class BertForSequenceClassification extends Module implements PreTrainedModelLike {
  /**
   * The head "all-linear" leaves out: PEFT excludes sequence-classification heads (`classifier`, `score`)
   * from "all-linear" as it excludes a causal LM's output embedding (`_maybe_include_all_linear_layers`).
   */
  readonly outputEmbeddingsPath = "classifier";

  constructor(readonly config: BertConfig) {
    super();
    this.registerModule("bert", new BertModel(config));
    this.registerModule("dropout", new Dropout(config.classifierDropout ?? config.hiddenDropoutProb));
    this.registerModule("classifier", normalLinear(config.hiddenSize, config.numLabels, config.initializerRange));
  }

  /** Loads a local Hugging Face folder (config.json + model.safetensors or a sharded index), in eval mode. */
  static fromPretrained(dir: string, options: LoadPretrainedOptions = {}): Promise<BertForSequenceClassification> {
    return loadWithSpec(dir, bertArchitecture, options);
  }

  /** Writes config.json + model.safetensors in the layout transformers' `from_pretrained` reads. */
  savePretrained(dir: string, options: SavePretrainedOptions = {}): Promise<void> {
    return saveWithSpec(this, bertArchitecture, dir, options);
  }

  getInputEmbeddings(): Embedding {
    return embeddingAt(this, "bert.embeddings.word_embeddings");
  }

  forward(inputs: ModelInputs): ModelOutput {
    return tidyOutput(() => {
      const { pooled, presents } = childModule<BertModel>(this, "bert").forward(inputs);
      const logits = callModule(this, "classifier", callModule(this, "dropout", pooled));
      const out: ModelOutput = { logits };
      if (inputs.labels !== undefined) out.loss = sequenceClassificationLoss(logits, inputs.labels, this.config.numLabels, this.config.problemType);
      if (presents !== undefined) out.pastKeyValues = presents;
      return out;
    });
  }
}

/** How BertForSequenceClassification maps to a Hugging Face folder. */
export const bertArchitecture: ArchitectureSpec<BertConfig, BertForSequenceClassification> = {
  modelType: "bert",
  architecture: "BertForSequenceClassification",
  configFromJson: bertConfigFromJson,
  configToJson: bertConfigToJson,
  build: (config) => new BertForSequenceClassification(config),
  adaptStateDict: adaptBertStateDict,
  missingAllowed: bertMissingAllowed,
  tiedKeys: bertTiedKeys,
};

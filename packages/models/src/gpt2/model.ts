/**
 * GPT-2 (transformers `GPT2LMHeadModel`), parameter paths equal to its state_dict:
 * `transformer.{wte,wpe}`, `transformer.h.N.{ln_1, attn.c_attn, attn.c_proj, ln_2, mlp.c_fc, mlp.c_proj}`,
 * `transformer.ln_f`, `lm_head` (tied to `transformer.wte` unless `tie_word_embeddings` is false).
 * Projections are GPT-2 `Conv1D`s (weight `[in, out]`). Pre-LayerNorm blocks, learned absolute
 * positions, causal attention with key/value prefixes and a KV cache.
 */
import { tf, Dropout, LayerNorm, Linear, Module, ModuleList } from "@peftjs/core";
import type { Embedding } from "@peftjs/core";
import type { LayerKV, ModelInputs, ModelOutput, PreTrainedModelLike, Tensor } from "@peftjs/core";
import { getActivation } from "../activations.js";
import type { Activation } from "../activations.js";
import { extendKeyValues, mergeHeads, scaledDotProductAttention, setupAttention, splitHeads } from "../attention.js";
import type { AttentionContext } from "../attention.js";
import { causalLmLoss } from "../loss.js";
import { callModule, childModule, embeddingAt, normalConv1D, normalEmbedding, normalLinear, tidyOutput, tieLinearWeight } from "../modules.js";
import { ResidualConnection, callResidual } from "../residual.js";
import { gpt2ConfigFromJson, gpt2ConfigToJson } from "./config.js";
import type { GPT2Config } from "./config.js";
import { adaptGPT2StateDict, gpt2MissingAllowed, gpt2TiedKeys } from "./checkpoint.js";
import { loadWithSpec, saveWithSpec } from "../checkpoint.js";
import type { ArchitectureSpec, LoadPretrainedOptions, SavePretrainedOptions } from "../checkpoint.js";

interface LayerOutput {
  output: Tensor;
  present: LayerKV | undefined;
}

export class GPT2Attention extends Module {
  constructor(
    readonly config: GPT2Config,
    readonly layerIdx: number,
  ) {
    super();
    const c = config.hiddenSize;
    const std = config.initializerRange;
    this.registerModule("c_attn", normalConv1D(c, 3 * c, std));
    // transformers scales the residual projections' init by 1/√(2·n_layer) (GPT-2 paper, section 2.3).
    this.registerModule("c_proj", normalConv1D(c, c, std / Math.sqrt(2 * config.numHiddenLayers)));
    this.registerModule("attn_dropout", new Dropout(config.attnPdrop));
    this.registerModule("resid_dropout", new Dropout(config.residPdrop));
  }

  forward(hidden: Tensor, ctx: AttentionContext): LayerOutput {
    const { numAttentionHeads: heads, headDim, hiddenSize } = this.config;
    const qkv = callModule(this, "c_attn", hidden);
    const [q, k, v] = tf.split(qkv, [hiddenSize, hiddenSize, hiddenSize], -1) as [Tensor, Tensor, Tensor];
    const query = splitHeads(q, heads, headDim);
    const { key, value, present } = extendKeyValues(splitHeads(k, heads, headDim), splitHeads(v, heads, headDim), ctx);
    let scale = this.config.scaleAttnWeights ? 1 / Math.sqrt(headDim) : 1;
    if (this.config.scaleAttnByInverseLayerIdx) scale /= this.layerIdx + 1;
    const attn = scaledDotProductAttention(query, key, value, ctx.bias, scale, (p) => callModule(this, "attn_dropout", p));
    const output = callModule(this, "resid_dropout", callModule(this, "c_proj", mergeHeads(attn)));
    return { output, present };
  }
}

export class GPT2MLP extends Module {
  private readonly act: Activation;

  constructor(readonly config: GPT2Config) {
    super();
    const std = config.initializerRange;
    this.registerModule("c_fc", normalConv1D(config.hiddenSize, config.intermediateSize, std));
    this.registerModule("c_proj", normalConv1D(config.intermediateSize, config.hiddenSize, std / Math.sqrt(2 * config.numHiddenLayers)));
    this.registerModule("dropout", new Dropout(config.residPdrop));
    this.act = getActivation(config.activationFunction, "GPT2Config.activation_function");
  }

  forward(x: Tensor): Tensor {
    return callModule(this, "dropout", callModule(this, "c_proj", this.act(callModule(this, "c_fc", x))));
  }
}

export class GPT2Block extends Module {
  constructor(
    readonly config: GPT2Config,
    layerIdx: number,
  ) {
    super();
    this.registerModule("ln_1", new LayerNorm(config.hiddenSize, config.layerNormEpsilon));
    this.registerModule("attn", new GPT2Attention(config, layerIdx));
    this.registerModule("ln_2", new LayerNorm(config.hiddenSize, config.layerNormEpsilon));
    this.registerModule("mlp", new GPT2MLP(config));
    // The two residual additions, as hook points (see ResidualConnection); no parameters.
    this.registerModule("attn_residual", new ResidualConnection());
    this.registerModule("mlp_residual", new ResidualConnection());
  }

  forward(hidden: Tensor, ctx: AttentionContext): LayerOutput {
    const attn = childModule<GPT2Attention>(this, "attn").forward(callModule(this, "ln_1", hidden), ctx);
    const h = callResidual(this, "attn_residual", attn.output, hidden, null);
    const output = callResidual(this, "mlp_residual", callModule(this, "mlp", callModule(this, "ln_2", h)), h, null);
    return { output, present: attn.present };
  }
}

/** transformers `GPT2Model`: embeddings, blocks, final LayerNorm. */
export class GPT2Model extends Module {
  constructor(readonly config: GPT2Config) {
    super();
    const std = config.initializerRange;
    this.registerModule("wte", normalEmbedding(config.vocabSize, config.hiddenSize, std));
    this.registerModule("wpe", normalEmbedding(config.maxPositionEmbeddings, config.hiddenSize, std));
    this.registerModule("drop", new Dropout(config.embdPdrop));
    const blocks = new ModuleList<GPT2Block>();
    for (let i = 0; i < config.numHiddenLayers; i++) blocks.append(new GPT2Block(config, i));
    this.registerModule("h", blocks);
    this.registerModule("ln_f", new LayerNorm(config.hiddenSize, config.layerNormEpsilon));
  }

  /** Final hidden states `[b, t, hidden]` and, with `useCache`, each layer's `[past | new]` keys and values. */
  forward(inputs: ModelInputs): { hidden: Tensor; presents: LayerKV[] | undefined } {
    const c = this.config;
    const setup = setupAttention(inputs, {
      numLayers: c.numHiddenLayers,
      numKeyValueHeads: c.numAttentionHeads,
      headDim: c.headDim,
      hiddenSize: c.hiddenSize,
      causal: true,
      source: "GPT2LMHeadModel",
    });
    if (inputs.positionIds === undefined && setup.pastLen + setup.seqLen > c.maxPositionEmbeddings) {
      throw new Error(`GPT2LMHeadModel.forward: ${setup.pastLen + setup.seqLen} positions exceed n_positions = ${c.maxPositionEmbeddings}.`);
    }
    let hidden = inputs.inputsEmbeds ?? callModule(this, "wte", inputs.inputIds!);
    hidden = tf.add(hidden, callModule(this, "wpe", setup.positionIds));
    if (inputs.tokenTypeIds !== undefined) hidden = tf.add(hidden, callModule(this, "wte", inputs.tokenTypeIds));
    hidden = callModule(this, "drop", hidden);

    const presents: LayerKV[] = [];
    const blocks = this.getSubmodule("h") as ModuleList<GPT2Block>;
    for (let i = 0; i < blocks.length; i++) {
      const out = blocks.at(i).forward(hidden, setup.layer(i));
      hidden = out.output;
      if (out.present !== undefined) presents.push(out.present);
    }
    hidden = callModule(this, "ln_f", hidden);
    return { hidden, presents: inputs.useCache === true ? presents : undefined };
  }
}

/** transformers `GPT2LMHeadModel`. */
export class GPT2LMHeadModel extends Module implements PreTrainedModelLike {
  readonly outputEmbeddingsPath = "lm_head";

  constructor(readonly config: GPT2Config) {
    super();
    const transformer = this.registerModule("transformer", new GPT2Model(config));
    if (config.tieWordEmbeddings) {
      const wte = embeddingAt(transformer, "wte");
      // Built on the embedding's data (no random init of a vocab-sized matrix), then tied.
      const lmHead = this.registerModule("lm_head", new Linear(config.hiddenSize, config.vocabSize, { bias: false, weight: wte.weight }));
      tieLinearWeight(lmHead, wte.weight);
    } else {
      this.registerModule("lm_head", normalLinear(config.hiddenSize, config.vocabSize, config.initializerRange, false));
    }
  }

  /** Loads a local Hugging Face folder (config.json + model.safetensors or a sharded index), in eval mode. */
  static fromPretrained(dir: string, options: LoadPretrainedOptions = {}): Promise<GPT2LMHeadModel> {
    return loadWithSpec(dir, gpt2Architecture, options);
  }

  /** Writes config.json + model.safetensors in the layout transformers' `from_pretrained` reads. */
  savePretrained(dir: string, options: SavePretrainedOptions = {}): Promise<void> {
    return saveWithSpec(this, gpt2Architecture, dir, options);
  }

  getInputEmbeddings(): Embedding {
    return embeddingAt(this, "transformer.wte");
  }

  forward(inputs: ModelInputs): ModelOutput {
    return tidyOutput(() => {
      const { hidden, presents } = childModule<GPT2Model>(this, "transformer").forward(inputs);
      const logits = callModule(this, "lm_head", hidden);
      const out: ModelOutput = { logits };
      if (inputs.labels !== undefined) out.loss = causalLmLoss(logits, inputs.labels);
      if (presents !== undefined) out.pastKeyValues = presents;
      return out;
    });
  }
}

/** How GPT2LMHeadModel maps to a Hugging Face folder. */
export const gpt2Architecture: ArchitectureSpec<GPT2Config, GPT2LMHeadModel> = {
  modelType: "gpt2",
  architecture: "GPT2LMHeadModel",
  configFromJson: gpt2ConfigFromJson,
  configToJson: gpt2ConfigToJson,
  build: (config) => new GPT2LMHeadModel(config),
  adaptStateDict: adaptGPT2StateDict,
  missingAllowed: gpt2MissingAllowed,
  tiedKeys: gpt2TiedKeys,
};

/**
 * A LLaMA-style decoder (transformers `LlamaForCausalLM`), parameter paths equal to its state_dict:
 * `model.embed_tokens`, `model.layers.N.{input_layernorm, post_attention_layernorm}`,
 * `model.layers.N.self_attn.{q,k,v,o}_proj`, `model.layers.N.mlp.{gate,up,down}_proj`, `model.norm`,
 * `lm_head`. RMSNorm pre-norm blocks, rotary positions, SwiGLU MLP, grouped-query attention.
 *
 * Key/value prefixes are concatenated as given, without rotary: PEFT prefix tuning hands them to the model
 * as `past_key_values`, which LLaMA treats as already rotated.
 */
import { tf, Dropout, Linear, Module, ModuleList, RMSNorm } from "@peftjs/core";
import type { Embedding, LayerKV, ModelInputs, ModelOutput, PreTrainedModelLike, Tensor } from "@peftjs/core";
import { getActivation } from "../activations.js";
import type { Activation } from "../activations.js";
import { extendKeyValues, mergeHeads, repeatKv, scaledDotProductAttention, setupAttention, splitHeads } from "../attention.js";
import type { AttentionContext } from "../attention.js";
import { causalLmLoss } from "../loss.js";
import { callModule, childModule, embeddingAt, normalEmbedding, normalLinear, tidyOutput, tieLinearWeight } from "../modules.js";
import { ResidualConnection, callResidual } from "../residual.js";
import { llamaConfigFromJson, llamaConfigToJson } from "./config.js";
import type { LlamaConfig } from "./config.js";
import { adaptLlamaStateDict, llamaMissingAllowed, llamaTiedKeys } from "./checkpoint.js";
import { loadWithSpec, saveWithSpec } from "../checkpoint.js";
import type { ArchitectureSpec, LoadPretrainedOptions, SavePretrainedOptions } from "../checkpoint.js";
import { LlamaRotaryEmbedding, applyRotary } from "./rotary.js";

interface LayerOutput {
  output: Tensor;
  present: LayerKV | undefined;
}

/** Attention context plus this call's rotary tables. */
export interface LlamaAttentionContext extends AttentionContext {
  readonly cos: Tensor;
  readonly sin: Tensor;
}

export class LlamaAttention extends Module {
  constructor(readonly config: LlamaConfig) {
    super();
    const { hiddenSize: h, numAttentionHeads: heads, numKeyValueHeads: kv, headDim: d, initializerRange: std, attentionBias: bias } = config;
    this.registerModule("q_proj", normalLinear(h, heads * d, std, bias));
    this.registerModule("k_proj", normalLinear(h, kv * d, std, bias));
    this.registerModule("v_proj", normalLinear(h, kv * d, std, bias));
    this.registerModule("o_proj", normalLinear(heads * d, h, std, bias));
    // transformers applies attention_dropout functionally; a Dropout child keeps train/eval in one place.
    this.registerModule("attn_dropout", new Dropout(config.attentionDropout));
  }

  forward(hidden: Tensor, ctx: LlamaAttentionContext): LayerOutput {
    const { numAttentionHeads: heads, numKeyValueHeads: kvHeads, headDim } = this.config;
    const query = applyRotary(splitHeads(callModule(this, "q_proj", hidden), heads, headDim), ctx.cos, ctx.sin);
    const k = applyRotary(splitHeads(callModule(this, "k_proj", hidden), kvHeads, headDim), ctx.cos, ctx.sin);
    const v = splitHeads(callModule(this, "v_proj", hidden), kvHeads, headDim);
    // The cache holds rotated keys (like transformers' DynamicCache), so past keys are never re-rotated.
    const { key, value, present } = extendKeyValues(k, v, ctx);
    const nRep = heads / kvHeads;
    const attn = scaledDotProductAttention(query, repeatKv(key, nRep), repeatKv(value, nRep), ctx.bias, 1 / Math.sqrt(headDim), (p) =>
      callModule(this, "attn_dropout", p),
    );
    return { output: callModule(this, "o_proj", mergeHeads(attn)), present };
  }
}

/** SwiGLU (Shazeer 2020): down(act(gate(x)) · up(x)). */
export class LlamaMLP extends Module {
  private readonly act: Activation;

  constructor(readonly config: LlamaConfig) {
    super();
    const { hiddenSize: h, intermediateSize: i, initializerRange: std, mlpBias: bias } = config;
    this.registerModule("gate_proj", normalLinear(h, i, std, bias));
    this.registerModule("up_proj", normalLinear(h, i, std, bias));
    this.registerModule("down_proj", normalLinear(i, h, std, bias));
    this.act = getActivation(config.hiddenAct, "LlamaConfig.hidden_act");
  }

  forward(x: Tensor): Tensor {
    return callModule(this, "down_proj", tf.mul(this.act(callModule(this, "gate_proj", x)), callModule(this, "up_proj", x)));
  }
}

export class LlamaDecoderLayer extends Module {
  constructor(readonly config: LlamaConfig) {
    super();
    this.registerModule("self_attn", new LlamaAttention(config));
    this.registerModule("mlp", new LlamaMLP(config));
    this.registerModule("input_layernorm", new RMSNorm(config.hiddenSize, config.rmsNormEps));
    this.registerModule("post_attention_layernorm", new RMSNorm(config.hiddenSize, config.rmsNormEps));
    // The two residual additions, as hook points (see ResidualConnection); no parameters.
    this.registerModule("self_attn_residual", new ResidualConnection());
    this.registerModule("mlp_residual", new ResidualConnection());
  }

  forward(hidden: Tensor, ctx: LlamaAttentionContext): LayerOutput {
    const attn = childModule<LlamaAttention>(this, "self_attn").forward(callModule(this, "input_layernorm", hidden), ctx);
    const h = callResidual(this, "self_attn_residual", attn.output, hidden, null);
    const output = callResidual(this, "mlp_residual", callModule(this, "mlp", callModule(this, "post_attention_layernorm", h)), h, null);
    return { output, present: attn.present };
  }
}

/** transformers `LlamaModel`. */
export class LlamaModel extends Module {
  constructor(readonly config: LlamaConfig) {
    super();
    this.registerModule("embed_tokens", normalEmbedding(config.vocabSize, config.hiddenSize, config.initializerRange));
    const layers = new ModuleList<LlamaDecoderLayer>();
    for (let i = 0; i < config.numHiddenLayers; i++) layers.append(new LlamaDecoderLayer(config));
    this.registerModule("layers", layers);
    this.registerModule("norm", new RMSNorm(config.hiddenSize, config.rmsNormEps));
    this.registerModule("rotary_emb", new LlamaRotaryEmbedding(config.headDim, config.ropeTheta));
  }

  forward(inputs: ModelInputs): { hidden: Tensor; presents: LayerKV[] | undefined } {
    const c = this.config;
    const setup = setupAttention(inputs, {
      numLayers: c.numHiddenLayers,
      numKeyValueHeads: c.numKeyValueHeads,
      headDim: c.headDim,
      hiddenSize: c.hiddenSize,
      causal: true,
      source: "LlamaForCausalLM",
    });
    let hidden = inputs.inputsEmbeds ?? callModule(this, "embed_tokens", inputs.inputIds!);
    const { cos, sin } = (this.getSubmodule("rotary_emb") as LlamaRotaryEmbedding).forward(setup.positionIds);
    const presents: LayerKV[] = [];
    const layers = this.getSubmodule("layers") as ModuleList<LlamaDecoderLayer>;
    for (let i = 0; i < layers.length; i++) {
      const out = layers.at(i).forward(hidden, { ...setup.layer(i), cos, sin });
      hidden = out.output;
      if (out.present !== undefined) presents.push(out.present);
    }
    hidden = callModule(this, "norm", hidden);
    return { hidden, presents: inputs.useCache === true ? presents : undefined };
  }
}

/** transformers `LlamaForCausalLM`. */
export class LlamaForCausalLM extends Module implements PreTrainedModelLike {
  readonly outputEmbeddingsPath = "lm_head";

  constructor(readonly config: LlamaConfig) {
    super();
    const model = this.registerModule("model", new LlamaModel(config));
    const embed = embeddingAt(model, "embed_tokens");
    if (config.tieWordEmbeddings) {
      const lmHead = this.registerModule("lm_head", new Linear(config.hiddenSize, config.vocabSize, { bias: false, weight: embed.weight }));
      tieLinearWeight(lmHead, embed.weight);
    } else {
      this.registerModule("lm_head", normalLinear(config.hiddenSize, config.vocabSize, config.initializerRange, false));
    }
  }

  /** Loads a local Hugging Face folder (config.json + model.safetensors or a sharded index), in eval mode. */
  static fromPretrained(dir: string, options: LoadPretrainedOptions = {}): Promise<LlamaForCausalLM> {
    return loadWithSpec(dir, llamaArchitecture, options);
  }

  /** Writes config.json + model.safetensors in the layout transformers' `from_pretrained` reads. */
  savePretrained(dir: string, options: SavePretrainedOptions = {}): Promise<void> {
    return saveWithSpec(this, llamaArchitecture, dir, options);
  }

  getInputEmbeddings(): Embedding {
    return embeddingAt(this, "model.embed_tokens");
  }

  forward(inputs: ModelInputs): ModelOutput {
    return tidyOutput(() => {
      const { hidden, presents } = childModule<LlamaModel>(this, "model").forward(inputs);
      const logits = callModule(this, "lm_head", hidden);
      const out: ModelOutput = { logits };
      if (inputs.labels !== undefined) out.loss = causalLmLoss(logits, inputs.labels);
      if (presents !== undefined) out.pastKeyValues = presents;
      return out;
    });
  }
}

/** How LlamaForCausalLM maps to a Hugging Face folder. */
export const llamaArchitecture: ArchitectureSpec<LlamaConfig, LlamaForCausalLM> = {
  modelType: "llama",
  architecture: "LlamaForCausalLM",
  configFromJson: llamaConfigFromJson,
  configToJson: llamaConfigToJson,
  build: (config) => new LlamaForCausalLM(config),
  adaptStateDict: adaptLlamaStateDict,
  missingAllowed: llamaMissingAllowed,
  tiedKeys: llamaTiedKeys,
};

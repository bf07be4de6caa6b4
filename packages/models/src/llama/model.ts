/**
 * LLaMA-style decoders (transformers `LlamaForCausalLM` and the families built on it: Mistral, Qwen2,
 * Qwen3, Gemma 2, Gemma 3 text, Phi-3), parameter paths equal to their state_dicts:
 * `model.embed_tokens`, `model.layers.N.{input_layernorm, post_attention_layernorm}`,
 * `model.layers.N.self_attn.{q,k,v,o}_proj` (Phi-3: `qkv_proj`, `o_proj`; Qwen3/Gemma 3 add `q_norm`,
 * `k_norm`), `model.layers.N.mlp.{gate,up,down}_proj` (Phi-3: `gate_up_proj`, `down_proj`), Gemma's
 * `pre_feedforward_layernorm` / `post_feedforward_layernorm`, `model.norm`, `lm_head`. RMSNorm pre-norm
 * blocks, rotary positions, gated MLP, grouped-query attention, sliding-window layers where the config
 * says so.
 *
 * Key/value prefixes are concatenated as given, without rotary: PEFT prefix tuning hands them to the model
 * as `past_key_values`, which these models treat as already rotated.
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
import { DECODER_ARCHITECTURES, llamaConfigToJson } from "./config.js";
import type { DecoderModelType, LlamaConfig } from "./config.js";
import { decoderConfigFromJson } from "./families.js";
import { adaptLlamaStateDict, llamaMissingAllowed, llamaTiedKeys } from "./checkpoint.js";
import { loadWithSpec, saveWithSpec } from "../checkpoint.js";
import type { ArchitectureSpec, LoadPretrainedOptions, SavePretrainedOptions } from "../checkpoint.js";
import { LlamaRotaryEmbedding, applyRotary } from "./rotary.js";
import { GemmaRMSNorm, scaledEmbedding } from "./norm.js";

interface LayerOutput {
  output: Tensor;
  present: LayerKV | undefined;
}

/** Attention context plus this call's rotary tables (those of the layer's type). */
export interface LlamaAttentionContext extends AttentionContext {
  readonly cos: Tensor;
  readonly sin: Tensor;
}

function rmsNorm(config: LlamaConfig, size: number): Module {
  return config.gemmaNorm ? new GemmaRMSNorm(size, config.rmsNormEps) : new RMSNorm(size, config.rmsNormEps);
}

export class LlamaAttention extends Module {
  constructor(readonly config: LlamaConfig) {
    super();
    const { hiddenSize: h, numAttentionHeads: heads, numKeyValueHeads: kv, headDim: d, initializerRange: std, attentionBias: bias } = config;
    if (config.fusedProjections) {
      // Phi-3: [q | k | v] in one projection (Phi3Attention.qkv_proj).
      this.registerModule("qkv_proj", normalLinear(h, (heads + 2 * kv) * d, std, bias));
    } else {
      this.registerModule("q_proj", normalLinear(h, heads * d, std, bias));
      this.registerModule("k_proj", normalLinear(h, kv * d, std, bias));
      this.registerModule("v_proj", normalLinear(h, kv * d, std, bias));
    }
    this.registerModule("o_proj", normalLinear(heads * d, h, std, config.outputBias));
    if (config.qkNorm) {
      // Qwen3 / Gemma 3: RMSNorm over each head's channels ("only on the head dim").
      this.registerModule("q_norm", rmsNorm(config, d));
      this.registerModule("k_norm", rmsNorm(config, d));
    }
    // transformers applies attention_dropout functionally; a Dropout child keeps train/eval in one place.
    this.registerModule("attn_dropout", new Dropout(config.attentionDropout));
  }

  private projections(hidden: Tensor): [Tensor, Tensor, Tensor] {
    const { numAttentionHeads: heads, numKeyValueHeads: kvHeads, headDim } = this.config;
    if (!this.config.fusedProjections) return [callModule(this, "q_proj", hidden), callModule(this, "k_proj", hidden), callModule(this, "v_proj", hidden)];
    const qkv = callModule(this, "qkv_proj", hidden);
    return tf.split(qkv, [heads * headDim, kvHeads * headDim, kvHeads * headDim], -1) as [Tensor, Tensor, Tensor];
  }

  forward(hidden: Tensor, ctx: LlamaAttentionContext): LayerOutput {
    const c = this.config;
    const { numAttentionHeads: heads, numKeyValueHeads: kvHeads, headDim } = c;
    const [q, k0, v0] = this.projections(hidden);
    let query = splitHeads(q, heads, headDim);
    let k = splitHeads(k0, kvHeads, headDim);
    if (c.qkNorm) {
      query = callModule(this, "q_norm", query);
      k = callModule(this, "k_norm", k);
    }
    query = applyRotary(query, ctx.cos, ctx.sin);
    k = applyRotary(k, ctx.cos, ctx.sin);
    const v = splitHeads(v0, kvHeads, headDim);
    // The cache holds rotated keys (like transformers' DynamicCache), so past keys are never re-rotated.
    const { key, value, present } = extendKeyValues(k, v, ctx);
    const nRep = heads / kvHeads;
    const scale = 1 / Math.sqrt(c.queryPreAttnScalar ?? headDim);
    const attn = scaledDotProductAttention(
      query,
      repeatKv(key, nRep),
      repeatKv(value, nRep),
      ctx.bias,
      scale,
      (p) => callModule(this, "attn_dropout", p),
      c.attnLogitSoftcapping,
    );
    return { output: callModule(this, "o_proj", mergeHeads(attn)), present };
  }
}

/** Gated MLP (Shazeer 2020): down(act(gate(x)) · up(x)); SwiGLU with silu, GeGLU with Gemma's tanh-GELU. */
export class LlamaMLP extends Module {
  private readonly act: Activation;

  constructor(readonly config: LlamaConfig) {
    super();
    const { hiddenSize: h, intermediateSize: i, initializerRange: std, mlpBias: bias } = config;
    if (config.fusedProjections) {
      // Phi-3: [gate | up] in one projection (Phi3MLP.gate_up_proj, split with chunk(2)).
      this.registerModule("gate_up_proj", normalLinear(h, 2 * i, std, bias));
    } else {
      this.registerModule("gate_proj", normalLinear(h, i, std, bias));
      this.registerModule("up_proj", normalLinear(h, i, std, bias));
    }
    this.registerModule("down_proj", normalLinear(i, h, std, bias));
    this.act = getActivation(config.hiddenAct, `${DECODER_ARCHITECTURES[config.modelType]} hidden_act`);
  }

  forward(x: Tensor): Tensor {
    let gate: Tensor;
    let up: Tensor;
    if (this.config.fusedProjections) [gate, up] = tf.split(callModule(this, "gate_up_proj", x), 2, -1) as [Tensor, Tensor];
    else [gate, up] = [callModule(this, "gate_proj", x), callModule(this, "up_proj", x)];
    return callModule(this, "down_proj", tf.mul(this.act(gate), up));
  }
}

export class LlamaDecoderLayer extends Module {
  constructor(readonly config: LlamaConfig) {
    super();
    const h = config.hiddenSize;
    this.registerModule("self_attn", new LlamaAttention(config));
    this.registerModule("mlp", new LlamaMLP(config));
    this.registerModule("input_layernorm", rmsNorm(config, h));
    this.registerModule("post_attention_layernorm", rmsNorm(config, h));
    if (config.sandwichNorm) {
      this.registerModule("pre_feedforward_layernorm", rmsNorm(config, h));
      this.registerModule("post_feedforward_layernorm", rmsNorm(config, h));
    }
    if (config.modelType === "phi3") {
      this.registerModule("resid_attn_dropout", new Dropout(config.residDropout));
      this.registerModule("resid_mlp_dropout", new Dropout(config.residDropout));
    }
    // The two residual additions, as hook points (see ResidualConnection); no parameters.
    this.registerModule("self_attn_residual", new ResidualConnection());
    this.registerModule("mlp_residual", new ResidualConnection());
  }

  forward(hidden: Tensor, ctx: LlamaAttentionContext): LayerOutput {
    const attn = childModule<LlamaAttention>(this, "self_attn").forward(callModule(this, "input_layernorm", hidden), ctx);
    if (this.config.sandwichNorm) {
      // Gemma2DecoderLayer: norm after attention and around the MLP, each before its residual add.
      const h = callResidual(this, "self_attn_residual", callModule(this, "post_attention_layernorm", attn.output), hidden, null);
      const mlp = callModule(this, "mlp", callModule(this, "pre_feedforward_layernorm", h));
      return { output: callResidual(this, "mlp_residual", callModule(this, "post_feedforward_layernorm", mlp), h, null), present: attn.present };
    }
    const phi3 = this.config.modelType === "phi3";
    const h = callResidual(this, "self_attn_residual", phi3 ? callModule(this, "resid_attn_dropout", attn.output) : attn.output, hidden, null);
    const mlp = callModule(this, "mlp", callModule(this, "post_attention_layernorm", h));
    const output = callResidual(this, "mlp_residual", phi3 ? callModule(this, "resid_mlp_dropout", mlp) : mlp, h, null);
    return { output, present: attn.present };
  }
}

/** transformers `LlamaModel` (and `MistralModel`, `Qwen2Model`, … `Gemma3TextModel`, `Phi3Model`). */
export class LlamaModel extends Module {
  constructor(readonly config: LlamaConfig) {
    super();
    const c = config;
    this.registerModule(
      "embed_tokens",
      c.embedScale ? scaledEmbedding(c.vocabSize, c.hiddenSize, Math.sqrt(c.hiddenSize), c.initializerRange) : normalEmbedding(c.vocabSize, c.hiddenSize, c.initializerRange),
    );
    const layers = new ModuleList<LlamaDecoderLayer>();
    for (let i = 0; i < c.numHiddenLayers; i++) layers.append(new LlamaDecoderLayer(c));
    this.registerModule("layers", layers);
    this.registerModule("norm", rmsNorm(c, c.hiddenSize));
    this.registerModule("rotary_emb", new LlamaRotaryEmbedding(c.headDim, c.rope, c.maxPositionEmbeddings));
    if (c.slidingRope !== c.rope) this.registerModule("rotary_emb_local", new LlamaRotaryEmbedding(c.headDim, c.slidingRope, c.maxPositionEmbeddings));
  }

  forward(inputs: ModelInputs): { hidden: Tensor; presents: LayerKV[] | undefined } {
    const c = this.config;
    const sliding = c.layerTypes.includes("sliding_attention");
    const setup = setupAttention(inputs, {
      numLayers: c.numHiddenLayers,
      numKeyValueHeads: c.numKeyValueHeads,
      headDim: c.headDim,
      hiddenSize: c.hiddenSize,
      causal: true,
      source: DECODER_ARCHITECTURES[c.modelType],
      slidingWindow: sliding ? c.slidingWindow : null,
    });
    let hidden = inputs.inputsEmbeds ?? callModule(this, "embed_tokens", inputs.inputIds!);
    const global = (this.getSubmodule("rotary_emb") as LlamaRotaryEmbedding).forward(setup.positionIds);
    const local = c.slidingRope !== c.rope ? (this.getSubmodule("rotary_emb_local") as LlamaRotaryEmbedding).forward(setup.positionIds) : global;
    const presents: LayerKV[] = [];
    const layers = this.getSubmodule("layers") as ModuleList<LlamaDecoderLayer>;
    for (let i = 0; i < layers.length; i++) {
      const isSliding = c.layerTypes[i] === "sliding_attention";
      const { cos, sin } = isSliding ? local : global;
      const ctx = { ...setup.layer(i), cos, sin, bias: isSliding ? setup.slidingBias : setup.bias };
      const out = layers.at(i).forward(hidden, ctx);
      hidden = out.output;
      if (out.present !== undefined) presents.push(out.present);
    }
    hidden = callModule(this, "norm", hidden);
    return { hidden, presents: inputs.useCache === true ? presents : undefined };
  }
}

/** transformers `LlamaForCausalLM`; the other families' classes below only name their architecture. */
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
    return saveWithSpec(this, decoderArchitectures[this.config.modelType], dir, options);
  }

  getInputEmbeddings(): Embedding {
    return embeddingAt(this, "model.embed_tokens");
  }

  forward(inputs: ModelInputs): ModelOutput {
    return tidyOutput(() => {
      const { hidden, presents } = childModule<LlamaModel>(this, "model").forward(inputs);
      let logits = callModule(this, "lm_head", hidden);
      const cap = this.config.finalLogitSoftcapping;
      // Gemma 2: logits = cap·tanh(logits / cap) (Gemma2ForCausalLM.forward), before the loss.
      if (cap !== null) logits = tf.mul(tf.tanh(tf.div(logits, cap)), cap);
      const out: ModelOutput = { logits };
      if (inputs.labels !== undefined) out.loss = causalLmLoss(logits, inputs.labels);
      if (presents !== undefined) out.pastKeyValues = presents;
      return out;
    });
  }
}

export class MistralForCausalLM extends LlamaForCausalLM {}
export class Qwen2ForCausalLM extends LlamaForCausalLM {}
export class Qwen3ForCausalLM extends LlamaForCausalLM {}
export class Gemma2ForCausalLM extends LlamaForCausalLM {}
export class Gemma3ForCausalLM extends LlamaForCausalLM {}
export class Phi3ForCausalLM extends LlamaForCausalLM {
  /**
   * Phi3ForCausalLM.prepare_inputs_for_generation: when the sequence first reaches
   * original_max_position_embeddings + 1 with a cache no longer than that, the cache is dropped and every
   * position recomputed (LongRoPE switches from short to long factors there; the cached keys were rotated
   * with the short ones).
   */
  generationResetsCache(sequenceLength: number, cachedLength: number): boolean {
    const original = typeof this.config.raw.original_max_position_embeddings === "number" ? this.config.raw.original_max_position_embeddings : (this.config.rope.originalMaxPositionEmbeddings ?? 4096);
    return sequenceLength >= original + 1 && cachedLength <= original;
  }
}

const CLASSES: Record<DecoderModelType, new (config: LlamaConfig) => LlamaForCausalLM> = {
  llama: LlamaForCausalLM,
  mistral: MistralForCausalLM,
  qwen2: Qwen2ForCausalLM,
  qwen3: Qwen3ForCausalLM,
  gemma2: Gemma2ForCausalLM,
  gemma3_text: Gemma3ForCausalLM,
  phi3: Phi3ForCausalLM,
};

/** The model class of a decoder config (Qwen2ForCausalLM for qwen2, …). */
export function createDecoder(config: LlamaConfig): LlamaForCausalLM {
  return new CLASSES[config.modelType](config);
}

function decoderSpec(modelType: DecoderModelType): ArchitectureSpec<LlamaConfig, LlamaForCausalLM> {
  return {
    modelType,
    architecture: DECODER_ARCHITECTURES[modelType],
    configFromJson: decoderConfigFromJson,
    configToJson: llamaConfigToJson,
    build: createDecoder,
    adaptStateDict: adaptLlamaStateDict,
    missingAllowed: llamaMissingAllowed,
    tiedKeys: llamaTiedKeys,
  };
}

/** How each decoder family maps to a Hugging Face folder. */
export const decoderArchitectures: Readonly<Record<DecoderModelType, ArchitectureSpec<LlamaConfig, LlamaForCausalLM>>> = {
  llama: decoderSpec("llama"),
  mistral: decoderSpec("mistral"),
  qwen2: decoderSpec("qwen2"),
  qwen3: decoderSpec("qwen3"),
  gemma2: decoderSpec("gemma2"),
  gemma3_text: decoderSpec("gemma3_text"),
  phi3: decoderSpec("phi3"),
};

/** How LlamaForCausalLM maps to a Hugging Face folder. */
export const llamaArchitecture = decoderArchitectures.llama;

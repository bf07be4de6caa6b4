// @peftjs/models — the public surface: GPT-2, BERT and LLaMA-style transformers with Hugging Face
// parameter paths, local HF folder load/save, generation and tokenizers.

// Models
export { GPT2LMHeadModel, GPT2Model, GPT2Block, GPT2Attention, GPT2MLP, gpt2Architecture } from "./gpt2/model.js";
export {
  BertForSequenceClassification,
  BertModel,
  BertEmbeddings,
  BertEncoder,
  BertLayer,
  BertAttention,
  BertSelfAttention,
  BertResidualOutput,
  BertIntermediate,
  BertPooler,
  bertArchitecture,
} from "./bert/model.js";
export {
  LlamaForCausalLM,
  LlamaModel,
  LlamaDecoderLayer,
  LlamaAttention,
  LlamaMLP,
  MistralForCausalLM,
  Qwen2ForCausalLM,
  Qwen3ForCausalLM,
  Gemma2ForCausalLM,
  Gemma3ForCausalLM,
  Phi3ForCausalLM,
  createDecoder,
  llamaArchitecture,
  decoderArchitectures,
} from "./llama/model.js";
export type { LlamaAttentionContext } from "./llama/model.js";
export { LlamaRotaryEmbedding, applyRotary, rotateHalf } from "./llama/rotary.js";
export { ROPE_TYPES, defaultRope, readRopeParameters, ropeFrequencies, rotaryDim } from "./llama/rope.js";
export type { RopeType, RopeParameters, RopeFrequencies } from "./llama/rope.js";
export { GemmaRMSNorm, ScaledWordEmbedding } from "./llama/norm.js";

// Configs and presets
export { gpt2Config, gpt2ConfigFromJson, gpt2ConfigToJson } from "./gpt2/config.js";
export type { GPT2Config, GPT2ConfigOptions, GPT2Preset } from "./gpt2/config.js";
export { bertConfig, bertConfigFromJson, bertConfigToJson } from "./bert/config.js";
export type { BertConfig, BertConfigOptions, BertPreset } from "./bert/config.js";
export { llamaConfig, llamaConfigToJson, DECODER_MODEL_TYPES, DECODER_ARCHITECTURES } from "./llama/config.js";
export { llamaConfigFromJson, decoderConfigFromJson, decoderConfig } from "./llama/families.js";
export type { LlamaConfig, LlamaConfigOptions, LlamaPreset, DecoderModelType, LayerType } from "./llama/config.js";
export type { BaseModelConfig, JsonObject } from "./config.js";

// Loading and saving local Hugging Face folders
export { loadPretrained, loadPretrainedFromFiles, fromPretrained, savePretrained, configFromJson, createModel, SUPPORTED_MODEL_TYPES, modelTypeOf } from "./pretrained.js";
export type { PretrainedModel, ModelConfig, ModelType } from "./pretrained.js";
export { loadWithSpec, loadWithSpecFromFiles, saveWithSpec, readModelWeights, readModelConfigJson } from "./checkpoint.js";
export type { ArchitectureSpec, LoadPretrainedOptions, SavePretrainedOptions } from "./checkpoint.js";

// Shared building blocks (for methods that need the same maths)
export { FLOAT32_MIN, attentionBias, scaledDotProductAttention, repeatKv, splitHeads, mergeHeads } from "./attention.js";
export type { AttentionContext } from "./attention.js";
export { geluNew, gelu, silu, getActivation } from "./activations.js";
export type { Activation } from "./activations.js";
export { causalLmLoss, crossEntropy, mseLoss, bceWithLogitsLoss, sequenceClassificationLoss, IGNORE_INDEX } from "./loss.js";
export type { ProblemType } from "./loss.js";
export { callModule, childModule, tieLinearWeight } from "./modules.js";
export type { TensorModule } from "./modules.js";
export { ResidualConnection, callResidual } from "./residual.js";
export type { ResidualModule } from "./residual.js";

// Generation and tokenizers
export { generate } from "./generate.js";
export type { GenerateOptions } from "./generate.js";
export { loadTokenizer, loadTokenizerFromFiles, PretrainedTokenizer } from "./tokenizer.js";
export type { EncodeOptions, BatchEncodeOptions, BatchEncoding, ChatMessage, ChatTemplateOptions } from "./tokenizer.js";

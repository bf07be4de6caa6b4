// @peftjs/prompt-tuning — prompt tuning, prefix tuning and P-tuning for peftjs, interoperable with Hugging Face PEFT.
export { PromptConfigError, modelDims, resolveDims } from "./config.js";
export type { PromptLearningConfig, ModelDims } from "./config.js";
export { parsePromptTuningConfig, toPeftPromptTuningConfig, fromPeftPromptTuningConfig, PROMPT_TUNING_INITS } from "./prompt-tuning/config.js";
export type { PromptTuningConfig, PromptTuningOptions, PromptTuningInit, TextTokenizer } from "./prompt-tuning/config.js";
export { parsePrefixTuningConfig, toPeftPrefixTuningConfig, fromPeftPrefixTuningConfig } from "./prefix-tuning/config.js";
export type { PrefixTuningConfig, PrefixTuningOptions } from "./prefix-tuning/config.js";
export { parsePromptEncoderConfig, toPeftPromptEncoderConfig, fromPeftPromptEncoderConfig, MLP_ENCODER_LAYERS } from "./p-tuning/config.js";
export type { PromptEncoderConfig, PromptEncoderOptions, EncoderReparameterizationType } from "./p-tuning/config.js";
export { PromptTableEncoder } from "./encoder.js";
export { PromptEmbedding, textInitIds } from "./prompt-tuning/embedding.js";
export { PrefixEncoder } from "./prefix-tuning/encoder.js";
export { PromptEncoder } from "./p-tuning/encoder.js";
export { LSTM } from "./lstm.js";
export type { LSTMOptions } from "./lstm.js";
export { Sequential, ReLU, Tanh } from "./sequential.js";
export type { TensorModule } from "./sequential.js";

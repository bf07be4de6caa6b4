// @peftjs/prompt-tuning — prompt tuning, prefix tuning and P-tuning for peftjs, interoperable with Hugging Face PEFT.
import type { AdapterSpec } from "@peftjs/core";
import { parsePromptTuningConfig } from "./prompt-tuning/config.js";
import type { PromptTuningConfig, PromptTuningOptions } from "./prompt-tuning/config.js";
import { parsePrefixTuningConfig } from "./prefix-tuning/config.js";
import type { PrefixTuningConfig, PrefixTuningOptions } from "./prefix-tuning/config.js";
import { parsePromptEncoderConfig } from "./p-tuning/config.js";
import type { PromptEncoderConfig, PromptEncoderOptions } from "./p-tuning/config.js";
import { promptTuningMethod } from "./prompt-tuning/method.js";
import { prefixTuningMethod } from "./prefix-tuning/method.js";
import { pTuningMethod } from "./p-tuning/method.js";

/** Prompt tuning (Lester et al. 2021): `getPeftModel(model, promptTuning({ numVirtualTokens: 20 }))`. */
export function promptTuning(options: PromptTuningOptions): AdapterSpec<PromptTuningConfig> {
  return { method: promptTuningMethod, config: parsePromptTuningConfig(options) };
}

/** Prefix tuning (Li & Liang 2021): `prefixTuning({ numVirtualTokens: 20, prefixProjection: true })`. */
export function prefixTuning(options: PrefixTuningOptions): AdapterSpec<PrefixTuningConfig> {
  return { method: prefixTuningMethod, config: parsePrefixTuningConfig(options) };
}

/** P-tuning (Liu et al. 2021): `pTuning({ numVirtualTokens: 20, encoderReparameterizationType: "LSTM" })`. */
export function pTuning(options: PromptEncoderOptions): AdapterSpec<PromptEncoderConfig> {
  return { method: pTuningMethod, config: parsePromptEncoderConfig(options) };
}

export { promptTuningMethod, prefixTuningMethod, pTuningMethod };
export { PROMPT_EMBEDDINGS_KEY, PROMPT_ENCODER_MODULE } from "./injection.js";
export { prependVirtualTokens, addPrefix, prefixKeyValues } from "./inputs.js";
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

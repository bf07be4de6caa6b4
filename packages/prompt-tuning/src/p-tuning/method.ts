/**
 * The P-tuning `Method` (Liu et al. 2021; PEFT `PromptEncoder`): virtual tokens produced by an MLP or LSTM
 * prompt encoder, put before the input embeddings like prompt tuning's.
 */
import type { Method } from "@peftjs/core";
import { modelDims, resolveDims } from "../config.js";
import { prependVirtualTokens } from "../inputs.js";
import { languageModel, promptInjection } from "../injection.js";
import { withTask } from "../task.js";
import { MLP_ENCODER_LAYERS, fromPeftPromptEncoderConfig, parsePromptEncoderConfig, toPeftPromptEncoderConfig } from "./config.js";
import type { PromptEncoderConfig } from "./config.js";
import { PromptEncoder } from "./encoder.js";

const METHOD = "P-tuning";

export const pTuningMethod: Method<PromptEncoderConfig> = {
  specificationVersion: "v2",
  name: "p-tuning",
  peftType: "P_TUNING",
  prefix: "p_tuning_",
  canMerge: false,
  parseConfig: parsePromptEncoderConfig,
  toPeftConfig: toPeftPromptEncoderConfig,
  fromPeftConfig: fromPeftPromptEncoderConfig,
  inject(model, config, _adapterName, context) {
    const lm = languageModel(model, METHOD);
    const dims = modelDims(model, METHOD);
    const withDims = resolveDims(config, { tokenDim: dims.hiddenSize, numAttentionHeads: dims.numAttentionHeads, numLayers: dims.numLayers, what: "its hidden size" }, METHOD);
    // PEFT `_prepare_prompt_learning_config`: encoder_hidden_size defaults to token_dim.
    const resolved: PromptEncoderConfig = withTask({ ...withDims, encoderHiddenSize: config.encoderHiddenSize ?? withDims.tokenDim }, lm, METHOD);
    if (resolved.encoderReparameterizationType === "MLP" && resolved.encoderNumLayers !== MLP_ENCODER_LAYERS && !resolved.inferenceMode) {
      context.logger.warn(`for MLP, the argument \`encoder_num_layers\` is ignored. Exactly ${MLP_ENCODER_LAYERS} MLP layers are used.`);
    }
    const encoder = new PromptEncoder(resolved);
    const options = { numVirtualTokens: resolved.numVirtualTokens, table: () => encoder.table(), wordEmbeddings: lm.getInputEmbeddings(), taskType: resolved.taskType, source: METHOD };
    return promptInjection(resolved, encoder, { transformInputs: (inputs, phase) => prependVirtualTokens(inputs, phase, options) });
  },
};

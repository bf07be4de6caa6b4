/**
 * The prompt tuning `Method` (Lester et al. 2021; PEFT `PromptEmbedding` and the prompt-learning branches of
 * `PeftModelForCausalLM` / `PeftModelForSequenceClassification`): learned virtual-token embeddings put before
 * the input embeddings.
 */
import type { Method } from "@peftjs/core";
import { modelDims, resolveDims } from "../config.js";
import { prependVirtualTokens } from "../inputs.js";
import { languageModel, promptInjection } from "../injection.js";
import { withTask } from "../task.js";
import { fromPeftPromptTuningConfig, parsePromptTuningConfig, toPeftPromptTuningConfig } from "./config.js";
import type { PromptTuningConfig } from "./config.js";
import { PromptEmbedding } from "./embedding.js";

const METHOD = "Prompt tuning";

export const promptTuningMethod: Method<PromptTuningConfig> = {
  specificationVersion: "v2",
  name: "prompt-tuning",
  peftType: "PROMPT_TUNING",
  prefix: "prompt_tuning_",
  canMerge: false,
  parseConfig: parsePromptTuningConfig,
  toPeftConfig: toPeftPromptTuningConfig,
  fromPeftConfig: fromPeftPromptTuningConfig,
  inject(model, config) {
    const lm = languageModel(model, METHOD);
    const dims = modelDims(model, METHOD);
    const resolved = withTask(resolveDims(config, { tokenDim: dims.hiddenSize, numAttentionHeads: dims.numAttentionHeads, numLayers: dims.numLayers, what: "its hidden size" }, METHOD), lm, METHOD);
    const wordEmbeddings = lm.getInputEmbeddings();
    const encoder = new PromptEmbedding(resolved, wordEmbeddings);
    const options = { numVirtualTokens: resolved.numVirtualTokens, table: () => encoder.table(), wordEmbeddings, taskType: resolved.taskType, source: METHOD };
    return promptInjection(resolved, encoder, { transformInputs: (inputs, phase) => prependVirtualTokens(inputs, phase, options) });
  },
};

/**
 * The prefix tuning `Method` (Li & Liang 2021; PEFT `PrefixEncoder` and `get_prompt`): learned key/value
 * prefixes for every attention layer, handed to the model as `prefixKeyValues` in every forward. For
 * grouped-query attention the prefix has the key/value heads (PEFT: token_dim = kv heads × head dim,
 * num_attention_heads = kv heads).
 */
import type { Method } from "@peftjs/core";
import { modelDims, resolveDims } from "../config.js";
import { addPrefix } from "../inputs.js";
import { languageModel, promptInjection } from "../injection.js";
import { withTask } from "../task.js";
import { fromPeftPrefixTuningConfig, parsePrefixTuningConfig, toPeftPrefixTuningConfig } from "./config.js";
import type { PrefixTuningConfig } from "./config.js";
import { PrefixEncoder } from "./encoder.js";

const METHOD = "Prefix tuning";

export const prefixTuningMethod: Method<PrefixTuningConfig> = {
  specificationVersion: "v2",
  name: "prefix-tuning",
  peftType: "PREFIX_TUNING",
  prefix: "prefix_tuning_",
  canMerge: false,
  parseConfig: parsePrefixTuningConfig,
  toPeftConfig: toPeftPrefixTuningConfig,
  fromPeftConfig: fromPeftPrefixTuningConfig,
  inject(model, config) {
    const lm = languageModel(model, METHOD);
    const dims = modelDims(model, METHOD);
    const kvWidth = dims.numKeyValueHeads * dims.headDim;
    const what = `its key/value width: ${dims.numKeyValueHeads} key/value heads × head dim ${dims.headDim}`;
    const withDims = resolveDims(config, { tokenDim: kvWidth, numAttentionHeads: dims.numKeyValueHeads, numLayers: dims.numLayers, what }, METHOD);
    const resolved: PrefixTuningConfig = withTask({ ...withDims, encoderHiddenSize: config.encoderHiddenSize ?? withDims.tokenDim }, lm, METHOD);
    const encoder = new PrefixEncoder(resolved);
    const shape = { numLayers: resolved.numLayers!, numHeads: resolved.numAttentionHeads!, headDim: dims.headDim, table: () => encoder.table(), source: METHOD };
    return promptInjection(resolved, encoder, { transformInputs: (inputs) => addPrefix(inputs, shape) });
  },
};

// @peftjs/merge/node — model merging in mergekit's style, tensor by tensor, streamed from and to safetensors
// files. Node only (it reads and writes folders); the main entry holds the browser-safe adapter combination.
export { mergeModels, mergeFromConfigFile, slerpCoefficients } from "./model-merge/merge-models.js";
export type { MergeModelsOptions, MergeProgress } from "./model-merge/merge-models.js";
export { parseMergeConfig, evaluateSetting, layerPosition, MergeConfigError, MERGE_METHODS } from "./model-merge/config.js";
export type { MergeConfig, ModelEntry, Setting } from "./model-merge/config.js";
export { HfCheckpoint, LoraMergedCheckpoint, openSource, CheckpointError } from "./model-merge/checkpoint.js";
export type { TensorSource, TensorMeta } from "./model-merge/checkpoint.js";
export { planShards, writeShardedFolder } from "./model-merge/writer.js";
export type { PlannedTensor, OutDtype } from "./model-merge/writer.js";

// @peftjs/merge — combine LoRA adapters like PEFT's add_weighted_adapter and merge fine-tuned checkpoints like
// mergekit, tensor by tensor and streamed from and to safetensors.
export {
  MergeArgumentError,
  magnitudePrune,
  randomPrune,
  magnitudeOutliers,
  dellaMagprune,
  bernoulliMask,
  rescaleToNorm,
} from "./functions/sparsify.js";
export type { Rescale, RandomPruneOptions, DellaOptions } from "./functions/sparsify.js";
export {
  majoritySignMask,
  taskArithmetic,
  magnitudePruneMerge,
  ties,
  dareLinear,
  dareTies,
  generalizedTaskArithmetic,
  sce,
  seedFor,
} from "./functions/task-arithmetic.js";
export type {
  MajoritySignMethod,
  TiesVariant,
  TiesOptions,
  DareOptions,
  Sparsification,
  TaskVectorInput,
  GeneralizedTaskArithmeticOptions,
} from "./functions/task-arithmetic.js";
export { slerp, nuslerp, karcherMean, modelStock } from "./functions/interpolation.js";
export type { SlerpOptions, NuSlerpOptions, KarcherOptions, ModelStockOptions } from "./functions/interpolation.js";
export { addWeightedAdapter, COMBINATION_TYPES } from "./adapters/add-weighted-adapter.js";
export type { CombinationType, AddWeightedAdapterOptions } from "./adapters/add-weighted-adapter.js";
export { svdFactors, quantile } from "./adapters/factor.js";
// Model merging (mergekit-style configs), streamed from and to safetensors.
export { mergeModels, mergeFromConfigFile, slerpCoefficients } from "./model-merge/merge-models.js";
export type { MergeModelsOptions, MergeProgress } from "./model-merge/merge-models.js";
export { parseMergeConfig, evaluateSetting, layerPosition, MergeConfigError, MERGE_METHODS } from "./model-merge/config.js";
export type { MergeConfig, ModelEntry, Setting } from "./model-merge/config.js";
export { HfCheckpoint, LoraMergedCheckpoint, openSource, CheckpointError } from "./model-merge/checkpoint.js";
export type { TensorSource, TensorMeta } from "./model-merge/checkpoint.js";
export { planShards, writeShardedFolder } from "./model-merge/writer.js";
export type { PlannedTensor, OutDtype } from "./model-merge/writer.js";

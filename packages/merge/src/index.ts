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
// Model merging (mergekit-style configs, streamed from and to safetensors files) reads and writes the file
// system, so it lives in the Node entry: `import { mergeModels } from "@peftjs/merge/node"`. This entry stays
// browser-safe.

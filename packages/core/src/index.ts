// @peftjs/core — the public surface. Sections are filled as the pieces land.
export { tf, tfjsVersions } from "./tf.js";
export type { Tensor, Variable, Rank, DataType } from "./tf.js";
export { setSeed, random, nextSeed } from "./random.js";
export { Module, ModuleList, StateDictError } from "./nn/module.js";
export type { StateDict, LoadStateDictOptions, LoadStateDictResult } from "./nn/module.js";
export {
  Linear,
  Conv1D,
  Embedding,
  LayerNorm,
  RMSNorm,
  Dropout,
  Identity,
  applyToLastDim,
  linearToConv1DWeight,
  conv1DToLinearWeight,
  isLinearLike,
} from "./nn/layers.js";
export type { LinearLike, LinearOptions } from "./nn/layers.js";
export type { LayerKV, ModelInputs, ModelOutput, PreTrainedModelLike } from "./model.js";
export { isTunerLayer } from "./method.js";
export type { Method, AdapterSpec, BasePeftConfig, TargetSelection, TunerLayer, InjectResult, SpecificationVersion } from "./method.js";

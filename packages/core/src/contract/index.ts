/** The Method contract v2, types only: what method packages implement and what core calls. */
export type { BasePeftConfig, TargetSelection } from "./config.js";
export type { TunerLayer } from "./tuner-layer.js";
export type { Method, AdapterSpec, Injection, InjectContext, InputHook, InputPhase, SpecificationVersion } from "./method.js";
export type { LayerKV, ModelInputs, ModelOutput, PreTrainedModelLike } from "./model.js";

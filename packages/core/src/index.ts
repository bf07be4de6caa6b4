// @peftjs/core — the public surface. Sections are filled as the pieces land.
export { tf, tfjsVersions } from "./tf.js";
export type { Tensor, Variable, Rank, DataType } from "./tf.js";
export { setSeed, random, nextSeed } from "./random.js";
// Logging: every package's messages go through one Logger (quiet by default for info, warnings on).
export { consoleLogger, silentLogger, setDefaultLogger, getDefaultLogger, resolveLogger } from "./log.js";
export type { Logger, LoggerOptions, LogLevel, LogThreshold } from "./log.js";
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
// The Method contract v2 (types only) and the tuner-layer base class layer-wrapping methods extend.
export type {
  LayerKV,
  ModelInputs,
  ModelOutput,
  PreTrainedModelLike,
  Method,
  AdapterSpec,
  Injection,
  InjectContext,
  InputHook,
  InputPhase,
  BasePeftConfig,
  TargetSelection,
  TunerLayer,
  SpecificationVersion,
} from "./contract/index.js";
export { BaseTunerLayer, isTunerLayer, getBaseLayer, tunerLayerChain } from "./tuners/base-tuner-layer.js";
export { tunerLayerInjection, removeFromTunerLayers } from "./tuners/layer-injection.js";
export type { TunerLayerInjectionOptions } from "./tuners/layer-injection.js";
export type { MergePlan } from "./tuners/base-tuner-layer.js";
// Linear algebra core and method packages share (float64, CPU).
export { svd, topSvd } from "./linalg/svd.js";
export type { TopSvd, TopSvdOptions } from "./linalg/svd.js";
// File I/O: safetensors (in memory and on disk) and atomic writes.
export {
  SafetensorsError,
  parseSafetensors,
  serializeSafetensors,
  serializeSafetensorsAsync,
  safetensorsStream,
  MAX_HEADER_BYTES,
  MAX_TENSOR_BYTES,
} from "./io/safetensors.js";
export type {
  SafetensorsDtype,
  SafetensorsWriteDtype,
  SafetensorsTensorInfo,
  SafetensorsHeader,
  SafetensorsContents,
  SafetensorsInput,
  ReadSafetensorsOptions,
  SerializeSafetensorsOptions,
} from "./io/safetensors.js";
export { readSafetensors, readSafetensorsHeader, saveSafetensors } from "./io/safetensors-file.js";
export type { ReadSafetensorsFileOptions } from "./io/safetensors-file.js";
export { UnsafeFileError, MAX_JSON_BYTES, openRegularFile, readFileSafely, readTextFileSafely } from "./io/safe-open.js";
export type { SafeOpenOptions, OpenedFile } from "./io/safe-open.js";
export { writeFileAtomic, writeDirAtomic } from "./io/atomic.js";
export { nodeFileSystem } from "./io/node.js";
export type { NodeFileSystem } from "./io/node.js";
export { readFileList, fileMapGet, fileMapEntries, fileText } from "./io/memory-files.js";
export type { NamedBlob, FileMap } from "./io/memory-files.js";
export type { FileContent, WriteDirOptions } from "./io/atomic.js";
export {
  float32ToFloat16Bits,
  float16BitsToFloat32,
  float32ToBFloat16Bits,
  bfloat16BitsToFloat32,
} from "./io/half.js";
// Backends and the training loop.
export { registerKernels, coreKernels } from "./kernels/register.js";
export { selectBackend, assertSingleEngine, backendMemory, BackendUnavailableError, BACKEND_ORDER, applyWebGpuWorkarounds, WEBGPU_MATMUL_PACKED } from "./backends/index.js";
export type { BackendName, BackendChoice, SelectBackendOptions, SkippedBackend, AdapterInfo, BackendMemory, OptionalPackage } from "./backends/index.js";
export { AdamW, decayParameterGroups } from "./train/optimizer.js";
export type { AdamWOptions, ParamGroup, ResolvedParamGroup, Gradients } from "./train/optimizer.js";
export { linearScheduleWithWarmup, cosineScheduleWithWarmup, constantScheduleWithWarmup, lrSchedule } from "./train/schedule.js";
export type { ScheduleKind, LrLambda, ScheduleOptions } from "./train/schedule.js";
export { clipGradNorm, globalGradNorm } from "./train/clip.js";
export type { ClippedGradients } from "./train/clip.js";
export { train } from "./train/trainer.js";
export type { TrainOptions, TrainResult, StepInfo, EvalRecord, BatchSource } from "./train/trainer.js";
// PEFT machinery: method registry, target matching, adapter keys, PeftModel, adapter files.
export { createRegistry, validateAdapterName, BASE_ADAPTER_NAME } from "./peft/registry.js";
export type { MethodRegistry } from "./peft/registry.js";
export { matchTargets, getPatternValue, adaptableModules, NoMatchingTargetsError, ALL_LINEAR } from "./peft/targets.js";
export { translatePythonRegex } from "./peft/python-regex.js";
export type { MatchTargetsOptions } from "./peft/targets.js";
export { defaultAdapterFileKey, defaultAdapterParamPath, collectAdapterState, PEFT_KEY_PREFIX } from "./peft/adapter-keys.js";
export { LORA_TARGET_MODULES_BY_MODEL_TYPE, resolveTargetModules } from "./peft/default-targets.js";
export type { TargetModulesDefault } from "./peft/default-targets.js";
export { ModulesToSaveWrapper, cloneModule } from "./peft/modules-to-save.js";
export {
  PEFT_VERSION,
  ADAPTER_CONFIG_NAME,
  ADAPTER_WEIGHTS_NAME,
  TASK_TYPES,
  COMMON_PEFT_CONFIG_FIELDS,
  readCommonPeftConfig,
  writeCommonPeftConfig,
  toAdapterConfigJson,
  serializeAdapterConfig,
  parseAdapterConfig,
  adapterFilesFromMap,
} from "./peft/config-io.js";
export type { CommonPeftConfig, ParsedAdapterConfig, AdapterFiles } from "./peft/config-io.js";
export { PeftModel, getPeftModel } from "./peft/peft-model.js";
export { AdapterLoadError } from "./peft/persistence.js";
export { inputPhase } from "./peft/forward.js";
export type { ForwardModule, PeftModelOptions, PeftForwardOptions, MergeOptions, SaveOptions, LoadAdapterOptions, FromPretrainedOptions } from "./peft/peft-model.js";
// Sync tensor reads (unavailable on WebGPU in Node): finiteness checks and a test backend without them.
export { allFiniteSync, allFiniteAsync, SyncReadError } from "./peft/finite.js";
export { withoutSyncReads, NO_SYNC_BACKEND } from "./peft/no-sync-reads.js";

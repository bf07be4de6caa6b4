// @peftjs/adapter — bottleneck adapters (Houlsby, Pfeiffer, parallel) with AdapterHub's semantics and names.
export { Stack, Average, BatchSplit, parseComposition, bottleneckLayerForward } from "./composition.js";
export type { AdapterSetup } from "./composition.js";
export { BottleneckAdapter } from "./bottleneck.js";
export type { BottleneckSettings, NormModule, SeedSource } from "./bottleneck.js";
export {
  parseBottleneckConfig,
  toPeftBottleneckConfig,
  fromPeftBottleneckConfig,
  toAdapterHubFields,
  bottleneckSizeAt,
  BottleneckConfigError,
  BOTTLENECK_PEFT_TYPE,
  BOTTLENECK_PRESETS,
  PRESET_ALIASES,
} from "./config.js";
export type { BottleneckConfig, BottleneckOptions, BottleneckPreset, InitWeights, Scaling, ReductionFactor, AdapterLocations } from "./config.js";
export { NON_LINEARITIES, getNonLinearity } from "./non-linearity.js";
export type { NonLinearity } from "./non-linearity.js";
export { ARCHITECTURES, adapterLocations, locationsFor } from "./architectures.js";
export type { ArchitectureMapping, AdapterLocation, LocationKey } from "./architectures.js";
export { adapterHubKeyToFileKey, parseAdapterHubConfig, AdapterHubFormatError, ADAPTERHUB_CONFIG_NAME, ADAPTERHUB_WEIGHTS_NAME } from "./adapterhub-format.js";
export type { AdapterHubConfigFile } from "./adapterhub-format.js";

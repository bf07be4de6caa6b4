// @peftjs/adapter — bottleneck adapters (Houlsby, Pfeiffer, parallel) with AdapterHub's semantics and names.
import type { AdapterSpec } from "@peftjs/core";
import { parseBottleneckConfig } from "./config.js";
import type { BottleneckConfig, BottleneckOptions } from "./config.js";
import { bottleneckMethod } from "./method.js";

/** A bottleneck adapter spec: AdapterHub's `BnConfig` (camelCase), from a `preset` or with its required fields. */
export function bottleneck(options: BottleneckOptions = {}): AdapterSpec<BottleneckConfig> {
  return { method: bottleneckMethod, config: parseBottleneckConfig(options) };
}

/** Houlsby et al. 2019 (AdapterHub `DoubleSeqBnConfig`, "double_seq_bn"): after attention and after the FFN, swish, reduction 16. */
export function houlsby(options: Omit<BottleneckOptions, "preset"> = {}): AdapterSpec<BottleneckConfig> {
  return bottleneck({ ...options, preset: "houlsby" });
}

/** Pfeiffer et al. 2020 (AdapterHub `SeqBnConfig`, "seq_bn"): after the FFN, relu, reduction 16. */
export function pfeiffer(options: Omit<BottleneckOptions, "preset"> = {}): AdapterSpec<BottleneckConfig> {
  return bottleneck({ ...options, preset: "pfeiffer" });
}

/** He et al. 2021 (AdapterHub `ParBnConfig`, "par_bn"): beside the FFN, relu, reduction 2, scaling 4, up-projection starting at 0. */
export function parBn(options: Omit<BottleneckOptions, "preset"> = {}): AdapterSpec<BottleneckConfig> {
  return bottleneck({ ...options, preset: "par_bn" });
}

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
export { BottleneckLayer, isBottleneckLayer, setAdapterComposition, CANNOT_MERGE_REASON, BOTTLENECK_CONTAINER, BOTTLENECK_METHOD_NAME } from "./layer.js";
export type { BottleneckLayerSettings } from "./layer.js";
export { bottleneckMethod, injectBottleneck, bottleneckFileKey, bottleneckLocations, adapterSettings } from "./method.js";
export { adapterHubToPeftFiles, readAdapterHubAdapter, checkAdapterHubFits } from "./adapterhub.js";
export type { AdapterHubImport } from "./adapterhub.js";

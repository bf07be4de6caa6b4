// @peftjs/lora — LoRA, rsLoRA and DoRA for peftjs, interoperable with Hugging Face PEFT.
import type { AdapterSpec } from "@peftjs/core";
import { parseLoraConfig } from "./config.js";
import type { LoraConfig, LoraOptions } from "./config.js";
import { loraMethod } from "./method.js";

/** A LoRA adapter spec for `getPeftModel(model, lora({ r: 8, targetModules: ["q_proj", "v_proj"] }))`. */
export function lora(options: LoraOptions = {}): AdapterSpec<LoraConfig> {
  return { method: loraMethod, config: parseLoraConfig(options) };
}

/** rsLoRA (Kalajdzievski 2023): LoRA with scaling α/√r. Same as `lora({ ...options, useRslora: true })`. */
export function rslora(options: LoraOptions = {}): AdapterSpec<LoraConfig> {
  return lora({ ...options, useRslora: true });
}

/** DoRA (Liu et al. 2024): LoRA plus a learned magnitude per output feature. Same as `lora({ ...options, useDora: true })`. */
export function dora(options: LoraOptions = {}): AdapterSpec<LoraConfig> {
  return lora({ ...options, useDora: true });
}

export { loraMethod, injectLora, loraFileKey, loraParamPath, LORA_PREFIX, LORA_ADAPTER_LAYER_NAMES, DEFAULT_LORA_TARGETS } from "./method.js";
export { parseLoraConfig, toPeftLoraConfig, fromPeftLoraConfig, LoraConfigError, LORA_DEFAULTS } from "./config.js";
export type { LoraConfig, LoraOptions, LoraBias, InitLoraWeights } from "./config.js";
export { LoraLayer, LoraLinear, LoraEmbedding, isLoraLayer, updatedRowNorm, BASE_ROW } from "./layer.js";
export type { LoraLayerSettings } from "./layer.js";
// The SVD moved to @peftjs/core (linalg/), shared with merging; re-exported here for existing imports.
export { svd, topSvd } from "@peftjs/core";
export type { TopSvd, TopSvdOptions } from "@peftjs/core";

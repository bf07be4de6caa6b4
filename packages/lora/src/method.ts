/**
 * The LoRA `Method` (peft `tuners/lora/model.py`: `LoraModel._create_and_replace`, `dispatch_default`,
 * `_mark_only_adapters_as_trainable`, `_get_adapter_state_dict`): which modules get tuner layers, with which
 * rank and alpha, and how parameters are named in adapter_model.safetensors.
 */
import {
  Embedding,
  getPatternValue,
  isLinearLike,
  isTunerLayer,
  matchTargets,
  resolveLogger,
  tunerLayerInjection,
  resolveTargetModules,
  LORA_TARGET_MODULES_BY_MODEL_TYPE,
} from "@peftjs/core";
import type { InjectContext, Injection, Method, Module } from "@peftjs/core";
import { fromPeftLoraConfig, parseLoraConfig, toPeftLoraConfig } from "./config.js";
import type { LoraConfig } from "./config.js";
import { LoraEmbedding, LoraLayer, LoraLinear } from "./layer.js";
import type { LoraLayerSettings } from "./layer.js";

export const LORA_PREFIX = "lora_";

/** PEFT `TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING` (core's table): targets used when `targetModules` is null. */
export const DEFAULT_LORA_TARGETS = LORA_TARGET_MODULES_BY_MODEL_TYPE;

function outputEmbeddingsPath(model: Module): string | null {
  const p = (model as unknown as { outputEmbeddingsPath?: unknown }).outputEmbeddingsPath;
  return typeof p === "string" ? p : null;
}

/** `targetModules`, filled from the model type when it is null (peft `LoraModel._prepare_adapter_config`; core's copy of PEFT's table). */
function resolveTargets(model: Module, config: LoraConfig): LoraConfig["targetModules"] {
  return resolveTargetModules(model, config.targetModules, "LoRA");
}

function canAdapt(m: Module): boolean {
  if (isTunerLayer(m)) return m instanceof LoraLayer;
  return isLinearLike(m) || m instanceof Embedding;
}

/**
 * Wraps every matched module in a LoRA tuner layer (or adds the adapter to the one already there). Like
 * PEFT's `dispatch_default`, `fanInFanOut` follows the target: true for Conv1D, false for Linear, with an
 * info line on `context.logger` (default: the default logger) when the config said otherwise. `config` is not changed: the config as applied to this model (default
 * targets filled in, `fanInFanOut` corrected: what `adapter_config.json` records) is the injection's `config`.
 */
export function injectLora(model: Module, config: LoraConfig, adapterName: string, context?: InjectContext): Injection<LoraConfig> {
  const logger = context?.logger ?? resolveLogger(undefined);
  checkNumbers(config);
  const targetModules = resolveTargets(model, config);
  const paths = matchTargets(model, { ...config, targetModules }, { outputEmbeddingsPath: outputEmbeddingsPath(model), isTargetable: canAdapt, logger });
  warnUnmatchedPatterns(config, paths, adapterName, logger);
  let fanInFanOut = config.fanInFanOut;
  const layers: LoraLayer[] = [];
  for (const path of paths) {
    const target = model.getSubmodule(path);
    const settings: LoraLayerSettings = {
      r: getPatternValue(config.rankPattern, path, config.r),
      loraAlpha: getPatternValue(config.alphaPattern, path, config.loraAlpha),
      loraDropout: config.loraDropout,
      useRslora: config.useRslora,
      useDora: config.useDora,
      initLoraWeights: config.initLoraWeights,
    };
    const base = target instanceof LoraLayer ? target.baseLayer : target;
    if (isLinearLike(base)) {
      const conv1d = base.weightLayout === "in_out";
      if (fanInFanOut !== conv1d) {
        // PEFT warns here; the layout is unambiguous from the layer itself and the corrected value is what
        // gets saved, so it is an info line (GPT-2's Conv1D is the documented happy path, not a mistake).
        logger.info(
          conv1d
            ? `fanInFanOut is false but the target "${path}" is a Conv1D (weight [in, out]); setting fanInFanOut to true.`
            : `fanInFanOut is true but the target "${path}" is a Linear (weight [out, in]); setting fanInFanOut to false.`,
        );
        fanInFanOut = conv1d;
      }
    }
    let layer: LoraLayer;
    if (target instanceof LoraLayer) {
      layer = target;
    } else if (isLinearLike(target)) {
      layer = new LoraLinear(target);
    } else if (target instanceof Embedding) {
      layer = new LoraEmbedding(target);
    } else {
      throw new Error(`LoRA cannot adapt "${path}": it is neither a Linear, a Conv1D nor an Embedding.`);
    }
    layer.updateLayer(adapterName, settings);
    if (layer !== target) model.setSubmodule(path, layer);
    layers.push(layer);
  }
  const applied: LoraConfig = { ...config, targetModules, fanInFanOut };
  // peft `_mark_only_adapters_as_trainable`: bias "all" trains every bias of the model, "lora_only" the biases of
  // the wrapped layers: `loraFileKey` puts them in the adapter's state, which is what core trains and saves.
  return tunerLayerInjection({ model, config: applied, adapterName, targets: paths, layers, fileKey: (p) => loraFileKey(p, adapterName, applied) });
}

/**
 * The numbers of a config that did not come through parseLoraConfig (e.g. `{ ...parsed, loraAlpha: NaN }`):
 * refused here, before any layer is made, instead of giving NaN outputs.
 */
function checkNumbers(config: LoraConfig): void {
  const bad = (field: string, value: unknown, want: string): never => {
    throw new Error(`LoRA: ${field} must be ${want}, got ${String(value)}; fix the config (parseLoraConfig / lora() check this).`);
  };
  if (!Number.isInteger(config.r) || config.r <= 0) bad("r", config.r, "a positive integer");
  if (!Number.isFinite(config.loraAlpha)) bad("loraAlpha", config.loraAlpha, "a finite number");
  if (!(config.loraDropout >= 0 && config.loraDropout < 1)) bad("loraDropout", config.loraDropout, "in [0, 1)");
  for (const [field, pattern, integer] of [["rankPattern", config.rankPattern, true], ["alphaPattern", config.alphaPattern, false]] as const) {
    for (const [key, value] of Object.entries(pattern ?? {})) {
      if (integer ? !Number.isInteger(value) || value <= 0 : !Number.isFinite(value)) bad(`${field}[${JSON.stringify(key)}]`, value, integer ? "a positive integer" : "a finite number");
    }
  }
}

/** PEFT warns when a rank_pattern / alpha_pattern key matches none of the adapter's target modules (a typo). */
function warnUnmatchedPatterns(config: LoraConfig, paths: readonly string[], adapterName: string, logger: { warn(message: string): void }): void {
  for (const [field, pattern] of [["rankPattern", config.rankPattern], ["alphaPattern", config.alphaPattern]] as const) {
    for (const key of Object.keys(pattern ?? {})) {
      if (paths.some((p) => getPatternValue({ [key]: 1 }, p, 0) === 1)) continue;
      logger.warn(
        `LoRA adapter "${adapterName}": ${field} key ${JSON.stringify(key)} matches none of the ${paths.length} target modules, so it has no effect; ` +
          `check the key against the targets (e.g. ${paths.slice(0, 3).map((p) => JSON.stringify(p)).join(", ")}).`,
      );
    }
  }
}

/** A bias of the base model (not inside a modules-to-save copy, which PeftModel saves itself). */
function isBiasPath(path: string): boolean {
  if (path !== "bias" && !path.endsWith(".bias")) return false;
  return !path.includes(".modules_to_save.") && !path.includes(".original_module.");
}

/** The per-adapter containers of a LoRA tuner layer (peft `LoraLayer.adapter_layer_names`). */
export const LORA_ADAPTER_LAYER_NAMES: readonly string[] = ["lora_A", "lora_B", "lora_embedding_A", "lora_embedding_B", "lora_magnitude_vector"];

/** Index of the last path segment that is one of LoRA's adapter containers, or -1. */
function lastAdapterSegment(parts: readonly string[]): number {
  for (let i = parts.length - 1; i >= 0; i--) if (LORA_ADAPTER_LAYER_NAMES.includes(parts[i]!)) return i;
  return -1;
}

/**
 * Parameter path → adapter_model.safetensors key (without `base_model.model.`), as PEFT's
 * `get_peft_model_state_dict` writes it: the adapter name after the LoRA container is dropped
 * (`…lora_A.default.weight` → `…lora_A.weight`, `…lora_magnitude_vector.default` → `…lora_magnitude_vector`),
 * and with bias "all" / "lora_only" the trained base biases are saved under their own paths
 * (`…c_attn.base_layer.bias`). Containers are matched by name rather than by the "lora_" prefix, so a base
 * module that happens to be called `lora_something` is not mistaken for an adapter (PEFT matches
 * structurally for the same reason).
 */
export function loraFileKey(paramPath: string, adapterName: string, config: LoraConfig): string | null {
  const parts = paramPath.split(".");
  const i = lastAdapterSegment(parts);
  if (i >= 0 && i + 1 < parts.length) {
    if (parts[i + 1] !== adapterName) return null; // another adapter's parameter
    return [...parts.slice(0, i + 1), ...parts.slice(i + 2)].join(".");
  }
  if (config.bias === "all" && isBiasPath(paramPath)) return paramPath;
  if (config.bias === "lora_only" && paramPath.endsWith(".base_layer.bias") && isBiasPath(paramPath)) return paramPath;
  return null;
}

/**
 * adapter_model.safetensors key → parameter path, the inverse of `loraFileKey`. Keys without a LoRA container
 * (saved biases, the embedding weights PEFT saves when an embedding is targeted) pass through unchanged, as
 * in PEFT's `_remap_adapter_state_dict_for_load`.
 */
export function loraParamPath(fileKey: string, adapterName: string): string {
  const parts = fileKey.split(".");
  const i = lastAdapterSegment(parts);
  if (i < 0) return fileKey;
  return [...parts.slice(0, i + 1), adapterName, ...parts.slice(i + 1)].join(".");
}

export const loraMethod: Method<LoraConfig> = {
  specificationVersion: "v2",
  name: "lora",
  peftType: "LORA",
  prefix: LORA_PREFIX,
  canMerge: true,
  parseConfig: parseLoraConfig,
  toPeftConfig: toPeftLoraConfig,
  fromPeftConfig: fromPeftLoraConfig,
  inject: (model, config, adapterName, context) => injectLora(model, config, adapterName, context),
  explainShapeMismatch: explainLoraShapeMismatch,
};

/**
 * The rank is the one LoRA shape the config decides (lora_A `[r, in]`, lora_B `[out, r]`, embedding A `[r, vocab]`,
 * embedding B `[dim, r]`): a file of another rank means adapter_config.json's `r` (PEFT's default 8 when the field is
 * missing) or `rank_pattern` does not describe the weights.
 */
function explainLoraShapeMismatch(config: LoraConfig, fileKey: string, fileShape: readonly number[], modelShape: readonly number[]): string | null {
  const rankDim = /\.lora_(?:embedding_)?A(?:\.weight)?$/.test(fileKey) ? 0 : /\.lora_(?:embedding_)?B(?:\.weight)?$/.test(fileKey) ? 1 : -1;
  if (rankDim < 0 || fileShape.length !== 2 || modelShape.length !== 2) return null;
  const fileRank = fileShape[rankDim];
  const configRank = modelShape[rankDim];
  if (fileRank === undefined || configRank === undefined || fileRank === configRank) return null;
  return `the file's LoRA rank is ${fileRank} but the config gives r = ${configRank} for this module (adapter_config.json "r" is ${config.r}, PEFT's default 8 when the field is missing${Object.keys(config.rankPattern).length > 0 ? ", or its rank_pattern" : ""}): set "r": ${fileRank} (or a rank_pattern entry for this module)`;
}

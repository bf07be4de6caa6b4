/**
 * TEST ONLY: PEFT's IA³ restricted to non-feedforward Linear layers (`feedforward_modules` empty), enough to
 * load and save adapters made by Python PEFT and check core's file layout, config handling, modules_to_save and
 * parameter counts against PEFT itself. Not a method package: no feedforward (input) scaling, no Conv layers.
 * peft `tuners/ia3/config.py` (fields, defaults) and `layer.py` (`ia3_l` `[out, 1]`, init ones).
 */
import { readCommonPeftConfig, writeCommonPeftConfig } from "../../src/index.js";
import type { AdapterSpec, BasePeftConfig, Method, TargetSelection } from "../../src/index.js";
import { injectScaleLayers } from "./scale-layer.js";
import type { ScaleStyle } from "./scale-layer.js";

export interface Ia3Config extends BasePeftConfig, TargetSelection {
  readonly peftType: "IA3";
  feedforwardModules: string[] | null;
  fanInFanOut: boolean;
  /** PEFT default true: the vectors start at 1 (identity). False: seeded U(0.5, 1.5) here. */
  initIa3Weights: boolean;
}

const STYLE: ScaleStyle = { methodName: "test-ia3", paramName: "ia3_l", offset: 0, column: true };
const PREFIX = "ia3_";
const KNOWN = ["peft_type", "task_type", "base_model_name_or_path", "inference_mode", "modules_to_save", "target_modules", "exclude_modules", "feedforward_modules", "fan_in_fan_out", "init_ia3_weights"];

function parseConfig(raw: unknown): Ia3Config {
  const o = (raw ?? {}) as Record<string, unknown>;
  const ff = (o["feedforwardModules"] as string[] | null | undefined) ?? null;
  if (ff !== null && ff.length > 0) throw new Error("test-ia3 supports only non-feedforward layers: feedforwardModules must be empty.");
  return {
    peftType: "IA3",
    targetModules: (o["targetModules"] as Ia3Config["targetModules"] | undefined) ?? null,
    excludeModules: (o["excludeModules"] as Ia3Config["excludeModules"] | undefined) ?? null,
    layersToTransform: null,
    layersPattern: null,
    feedforwardModules: ff,
    fanInFanOut: (o["fanInFanOut"] as boolean | undefined) ?? false,
    initIa3Weights: (o["initIa3Weights"] as boolean | undefined) ?? true,
    taskType: (o["taskType"] as string | null | undefined) ?? null,
    baseModelNameOrPath: (o["baseModelNameOrPath"] as string | null | undefined) ?? null,
    inferenceMode: (o["inferenceMode"] as boolean | undefined) ?? false,
    modulesToSave: (o["modulesToSave"] as string[] | null | undefined) ?? null,
  };
}

export const ia3TestMethod: Method<Ia3Config> = {
  specificationVersion: "v2",
  name: "test-ia3",
  peftType: "IA3",
  prefix: PREFIX,
  canMerge: true,
  parseConfig,
  toPeftConfig(config) {
    return {
      ...writeCommonPeftConfig(config),
      target_modules: config.targetModules,
      exclude_modules: config.excludeModules,
      feedforward_modules: config.feedforwardModules,
      fan_in_fan_out: config.fanInFanOut,
      init_ia3_weights: config.initIa3Weights,
    };
  },
  fromPeftConfig(json) {
    const config = parseConfig({
      ...readCommonPeftConfig(json),
      targetModules: json["target_modules"] ?? null,
      excludeModules: json["exclude_modules"] ?? null,
      feedforwardModules: json["feedforward_modules"] ?? null,
      fanInFanOut: json["fan_in_fan_out"] ?? false,
      initIa3Weights: json["init_ia3_weights"] ?? true,
    });
    return { config, unknownFields: Object.keys(json).filter((k) => !KNOWN.includes(k)) };
  },
  inject: (model, config, adapterName) => injectScaleLayers(model, config, adapterName, STYLE, PREFIX, config.initIa3Weights ? { constant: 1 } : { uniform: [0.5, 1.5] }),
};

export function ia3Test(options: Partial<Omit<Ia3Config, "peftType">>): AdapterSpec<Ia3Config> {
  return { method: ia3TestMethod, config: ia3TestMethod.parseConfig(options) };
}

/**
 * TEST ONLY: "scale", a tiny mergeable method that exercises the Method contract and PeftModel without LoRA.
 * Each adapter learns a per-output vector v; a wrapped Linear computes `y = base(x) ⊙ Π_active (1 + v)`
 * (see ScaleLayer). On disk: peft_type "TEST_SCALE", keys `<path>.scale_vector` (the adapter name removed).
 */
import { readCommonPeftConfig, writeCommonPeftConfig } from "../../src/index.js";
import type { AdapterSpec, BasePeftConfig, Method, TargetSelection } from "../../src/index.js";
import { injectScaleLayers } from "./scale-layer.js";
import type { ScaleStyle } from "./scale-layer.js";

export interface ScaleConfig extends BasePeftConfig, TargetSelection {
  readonly peftType: "TEST_SCALE";
  /** "zeros": v = 0 (the adapter starts as the identity); "random": v ~ U(-0.5, 0.5), seeded. */
  initScale: "zeros" | "random";
}

const STYLE: ScaleStyle = { methodName: "test-scale", paramName: "scale_vector", offset: 1, column: false };
const PREFIX = "scale_";

/** adapter_config.json field → config key. */
const OWN_FIELDS = {
  target_modules: "targetModules",
  exclude_modules: "excludeModules",
  layers_to_transform: "layersToTransform",
  layers_pattern: "layersPattern",
  init_scale: "initScale",
} as const;
const COMMON_KEYS = ["taskType", "baseModelNameOrPath", "inferenceMode", "modulesToSave"];

function parseConfig(raw: unknown): ScaleConfig {
  if (raw === null || typeof raw !== "object") throw new Error("scale: options must be an object.");
  const o = raw as Record<string, unknown>;
  const allowed: string[] = [...Object.values(OWN_FIELDS), ...COMMON_KEYS, "peftType"];
  const bad = Object.keys(o).filter((k) => !allowed.includes(k));
  if (bad.length > 0) throw new Error(`scale: unknown option(s) ${bad.join(", ")}; allowed: ${allowed.join(", ")}.`);
  const init = o["initScale"] ?? "zeros";
  if (init !== "zeros" && init !== "random") throw new Error(`scale: initScale must be "zeros" or "random", got ${JSON.stringify(init)}.`);
  return {
    peftType: "TEST_SCALE",
    targetModules: (o["targetModules"] as ScaleConfig["targetModules"] | undefined) ?? null,
    excludeModules: (o["excludeModules"] as ScaleConfig["excludeModules"] | undefined) ?? null,
    layersToTransform: (o["layersToTransform"] as ScaleConfig["layersToTransform"] | undefined) ?? null,
    layersPattern: (o["layersPattern"] as ScaleConfig["layersPattern"] | undefined) ?? null,
    initScale: init,
    taskType: (o["taskType"] as string | null | undefined) ?? null,
    baseModelNameOrPath: (o["baseModelNameOrPath"] as string | null | undefined) ?? null,
    inferenceMode: (o["inferenceMode"] as boolean | undefined) ?? false,
    modulesToSave: (o["modulesToSave"] as string[] | null | undefined) ?? null,
  };
}

export const scaleMethod: Method<ScaleConfig> = {
  specificationVersion: "v2",
  name: "test-scale",
  peftType: "TEST_SCALE",
  prefix: PREFIX,
  canMerge: true,
  parseConfig,
  toPeftConfig(config) {
    const out: Record<string, unknown> = writeCommonPeftConfig(config);
    for (const [file, key] of Object.entries(OWN_FIELDS)) out[file] = config[key];
    return out;
  },
  fromPeftConfig(json) {
    const raw: Record<string, unknown> = { ...readCommonPeftConfig(json) };
    for (const [file, key] of Object.entries(OWN_FIELDS)) if (json[file] !== undefined) raw[key] = json[file];
    const known = new Set<string>([...Object.keys(OWN_FIELDS), "peft_type", "task_type", "base_model_name_or_path", "inference_mode", "modules_to_save"]);
    return { config: parseConfig(raw), unknownFields: Object.keys(json).filter((k) => !known.has(k)) };
  },
  inject: (model, config, adapterName) => injectScaleLayers(model, config, adapterName, STYLE, PREFIX, config.initScale === "zeros" ? { constant: 0 } : { uniform: [-0.5, 0.5] }),
};

/** `scale({ targetModules: ["fc1"] })` → an AdapterSpec for getPeftModel. */
export function scale(options: Partial<Omit<ScaleConfig, "peftType">>): AdapterSpec<ScaleConfig> {
  return { method: scaleMethod, config: scaleMethod.parseConfig(options) };
}

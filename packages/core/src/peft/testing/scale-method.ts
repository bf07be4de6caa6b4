/**
 * TEST ONLY: a tiny mergeable method that exercises the Method contract and PeftModel without LoRA.
 *
 * "Scale" (IA³-like, Liu et al. 2022, on layer outputs): each adapter learns a per-output vector v and a
 * wrapped Linear computes `y = base(x) ⊙ Π_active (1 + v)`. Merging scales the weight's output rows and the
 * bias by (1 + v); unmerging divides them back. Parameters live in a per-adapter dict
 * `<path>.scale_vector.<adapter>` (file key `<path>.scale_vector`), like PEFT's `ParameterDict` methods.
 */
import { tf } from "../../tf.js";
import type { Tensor, Variable } from "../../tf.js";
import { Module } from "../../nn/module.js";
import { isLinearLike } from "../../nn/layers.js";
import type { LinearLike } from "../../nn/layers.js";
import type { AdapterSpec, BasePeftConfig, Method, TargetSelection, TunerLayer } from "../../method.js";
import { nextSeed } from "../../random.js";
import { matchTargets } from "../targets.js";
import { defaultAdapterFileKey, defaultAdapterParamPath } from "../adapter-keys.js";
import { readCommonPeftConfig, writeCommonPeftConfig } from "../config-io.js";

export interface ScaleConfig extends BasePeftConfig, TargetSelection {
  readonly peftType: "TEST_SCALE";
  /** "zeros": v = 0 (the adapter starts as the identity); "random": v ~ U(-0.5, 0.5), seeded. */
  initScale: "zeros" | "random";
}

class ParameterDict extends Module {}

export class ScaleLayer extends Module implements TunerLayer {
  readonly isTunerLayer = true as const;
  readonly methodName = "test-scale";
  disabled = false;
  private active: string[] = [];
  private merged: string[] = [];
  private rows: readonly string[] | null = null;
  private readonly vectors: ParameterDict;

  constructor(base: LinearLike) {
    super();
    this.registerModule("base_layer", base);
    this.vectors = this.registerModule("scale_vector", new ParameterDict());
  }

  get baseLayer(): LinearLike {
    return this.getSubmodule("base_layer") as LinearLike;
  }

  addAdapter(name: string, init: ScaleConfig["initScale"]): void {
    const n = this.baseLayer.outFeatures;
    const v = init === "zeros" ? tf.zeros([n]) : tf.randomUniform([n], -0.5, 0.5, "float32", nextSeed());
    this.vectors.addParameter(name, v, true);
    v.dispose();
  }

  vector(name: string): Variable {
    const v = this.vectors.getParameter(name);
    if (v === undefined) throw new Error(`ScaleLayer: no adapter "${name}".`);
    return v;
  }

  adapterNames(): string[] {
    return this.vectors.ownParameters().map(([n]) => n);
  }
  activeAdapters(): readonly string[] {
    return this.active;
  }
  setActiveAdapters(names: readonly string[]): void {
    this.active = names.filter((n) => this.adapterNames().includes(n));
  }
  setRowAdapters(names: readonly string[] | null): void {
    this.rows = names;
  }
  deleteAdapter(name: string): void {
    this.vectors.deleteParameter(name);
    this.active = this.active.filter((n) => n !== name);
  }
  mergedAdapters(): readonly string[] {
    return this.merged;
  }

  forward(x: Tensor): Tensor {
    if (this.disabled) {
      // PEFT: a disabled layer with merged adapters unmerges, so the output is the base model's.
      if (this.merged.length > 0) this.unmerge();
      return this.baseLayer.forward(x);
    }
    return tf.tidy(() => {
      const y = this.baseLayer.forward(x);
      if (this.rows !== null) {
        const rows = this.rows;
        if (rows.length !== x.shape[0]) throw new Error(`ScaleLayer: ${rows.length} row adapter names for a batch of ${x.shape[0]}.`);
        const one = tf.ones([this.baseLayer.outFeatures]);
        const perRow = tf.stack(rows.map((n) => (this.adapterNames().includes(n) ? tf.add(1, this.vector(n)) : one)));
        return tf.mul(y, tf.reshape(perRow, [rows.length, ...new Array<number>(y.rank - 2).fill(1), this.baseLayer.outFeatures]));
      }
      const live = this.active.filter((n) => !this.merged.includes(n));
      if (live.length === 0) return y;
      return tf.mul(y, this.factor(live));
    });
  }

  /** Π (1 + v) over `names`. */
  private factor(names: readonly string[]): Tensor {
    return tf.tidy(() => names.map((n) => tf.add(1, this.vector(n))).reduce((a, b) => tf.mul(a, b)));
  }

  merge(names: readonly string[], options: { safe: boolean }): void {
    const todo = names.filter((n) => !this.merged.includes(n));
    if (todo.length === 0) return;
    const base = this.baseLayer;
    const s = this.factor(todo);
    const w = tf.tidy(() => (base.weightLayout === "out_in" ? tf.mul(base.weight, tf.reshape(s, [-1, 1])) : tf.mul(base.weight, s)));
    const b = base.bias === null ? null : tf.mul(base.bias, s);
    s.dispose();
    const dispose = (): void => {
      w.dispose();
      b?.dispose();
    };
    if (options.safe) {
      const finite = tf.tidy(() => tf.all(tf.isFinite(w)).dataSync()[0] === 1 && (b === null || tf.all(tf.isFinite(b)).dataSync()[0] === 1));
      if (!finite) {
        dispose();
        throw new Error(`NaNs or Infs detected in the merged weights of adapter(s) ${todo.join(", ")}; the adapter seems to be broken.`);
      }
    }
    base.weight.assign(w);
    if (b !== null) base.bias!.assign(b);
    dispose();
    this.merged.push(...todo);
  }

  unmerge(): void {
    if (this.merged.length === 0) return;
    const base = this.baseLayer;
    tf.tidy(() => {
      const s = this.factor(this.merged);
      base.weight.assign(base.weightLayout === "out_in" ? tf.div(base.weight, tf.reshape(s, [-1, 1])) : tf.div(base.weight, s));
      if (base.bias !== null) base.bias.assign(tf.div(base.bias, s));
    });
    this.merged = [];
  }
}

const OWN_FIELDS: Record<string, keyof ScaleConfig> = {
  target_modules: "targetModules",
  exclude_modules: "excludeModules",
  layers_to_transform: "layersToTransform",
  layers_pattern: "layersPattern",
  init_scale: "initScale",
};
const COMMON_FIELDS = ["taskType", "baseModelNameOrPath", "inferenceMode", "modulesToSave"];

function parseConfig(raw: unknown): ScaleConfig {
  if (raw === null || typeof raw !== "object") throw new Error("scale: options must be an object.");
  const o = raw as Record<string, unknown>;
  const allowed = [...Object.values(OWN_FIELDS), ...COMMON_FIELDS, "peftType"];
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
  specificationVersion: "v1",
  name: "test-scale",
  peftType: "TEST_SCALE",
  prefix: "scale_",
  canMerge: true,
  parseConfig,
  toPeftConfig(config) {
    const out: Record<string, unknown> = writeCommonPeftConfig(config);
    for (const [file, key] of Object.entries(OWN_FIELDS)) out[file] = config[key];
    return out;
  },
  fromPeftConfig(json) {
    const common = readCommonPeftConfig(json);
    const raw: Record<string, unknown> = { ...common };
    for (const [file, key] of Object.entries(OWN_FIELDS)) if (json[file] !== undefined) raw[key] = json[file];
    const known = new Set([...Object.keys(OWN_FIELDS), "peft_type", "task_type", "base_model_name_or_path", "inference_mode", "modules_to_save"]);
    return { config: parseConfig(raw), unknownFields: Object.keys(json).filter((k) => !known.has(k)) };
  },
  inject(model, config, adapterName) {
    const targets = matchTargets(model, config, { isTargetable: (m) => isLinearLike(m) || m instanceof ScaleLayer });
    for (const path of targets) {
      const m = model.getSubmodule(path);
      const layer = m instanceof ScaleLayer ? m : new ScaleLayer(m as LinearLike);
      layer.addAdapter(adapterName, config.initScale);
      if (layer !== m) model.setSubmodule(path, layer);
    }
    return { targets };
  },
  toFileKey: (paramPath, adapterName) => defaultAdapterFileKey(paramPath, adapterName, "scale_"),
  fromFileKey: (fileKey, adapterName) => defaultAdapterParamPath(fileKey, adapterName, "scale_"),
};

/** `scale({ targetModules: ["fc1"] })` → an AdapterSpec for getPeftModel. */
export function scale(options: Partial<Omit<ScaleConfig, "peftType">>): AdapterSpec<ScaleConfig> {
  return { method: scaleMethod, config: scaleMethod.parseConfig(options) };
}

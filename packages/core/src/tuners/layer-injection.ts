/**
 * The `Injection` of a method that wraps layers (LoRA, bottleneck adapters): its state is the adapter's
 * parameters found in the tree by a key mapping, and `remove()` takes the adapter out of the method's tuner
 * layers at the targets, unwrapping those left empty (PEFT `BaseTuner.delete_adapter` + `_unload_and_optionally_merge`).
 */
import type { Module } from "../nn/module.js";
import type { BasePeftConfig } from "../contract/config.js";
import type { Injection } from "../contract/method.js";
import type { TunerLayer } from "../contract/tuner-layer.js";
import { collectAdapterState } from "../peft/adapter-keys.js";
import { isTunerLayer } from "./base-tuner-layer.js";

export interface TunerLayerInjectionOptions<C extends BasePeftConfig> {
  readonly model: Module;
  /** The config as applied to this model. */
  readonly config: C;
  readonly adapterName: string;
  /** The method's `name` (its tuner layers' `methodName`). */
  readonly methodName: string;
  /** Paths of the tuner layers the adapter was added to. */
  readonly targets: readonly string[];
  /** Parameter path → file key without `base_model.model.`, or null when the parameter is not this adapter's. */
  readonly fileKey: (paramPath: string) => string | null;
}

export function tunerLayerInjection<C extends BasePeftConfig>(options: TunerLayerInjectionOptions<C>): Injection<C> {
  const { model, config, adapterName, methodName, targets, fileKey } = options;
  return {
    config,
    targets: [...targets],
    state: () => collectAdapterState(model, fileKey),
    remove: () => removeFromTunerLayers(model, targets, adapterName, methodName),
  };
}

/**
 * Takes adapter `adapterName` out of method `methodName`'s tuner layers at `paths` (also when nested inside
 * another method's layer); a layer left without adapters is replaced by the module it wrapped. Paths where the
 * layer is gone already (merged and unloaded) are skipped.
 */
export function removeFromTunerLayers(model: Module, paths: readonly string[], adapterName: string, methodName: string): void {
  for (const path of paths) {
    let parent: { set(m: Module): void } = { set: (m) => model.setSubmodule(path, m) };
    let cur: Module;
    try {
      cur = model.getSubmodule(path);
    } catch {
      continue;
    }
    while (isTunerLayer(cur)) {
      const layer: TunerLayer = cur;
      const next = layer.baseLayer;
      if (layer.methodName === methodName && layer.adapterNames().includes(adapterName)) {
        layer.deleteAdapter(adapterName);
        if (layer.adapterNames().length === 0) {
          parent.set(next);
          cur = next;
          continue;
        }
      }
      parent = { set: (m) => layer.registerModule("base_layer", m) };
      cur = next;
    }
  }
}

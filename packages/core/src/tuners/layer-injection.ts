/**
 * The `Injection` of a method that wraps layers (LoRA, bottleneck adapters): its state is the adapter's
 * parameters found in the tree by a key mapping, and `remove()` takes the adapter out of the tuner layers it
 * was added to, unwrapping those left empty (PEFT `BaseTuner.delete_adapter` + `_unload_and_optionally_merge`).
 */
import type { Module } from "../nn/module.js";
import type { BasePeftConfig } from "../contract/config.js";
import type { Injection } from "../contract/method.js";
import type { TunerLayer } from "../contract/tuner-layer.js";
import { collectAdapterState } from "../peft/adapter-keys.js";
import { tunerLayerChain } from "./base-tuner-layer.js";

export interface TunerLayerInjectionOptions<C extends BasePeftConfig> {
  readonly model: Module;
  /** The config as applied to this model. */
  readonly config: C;
  readonly adapterName: string;
  /** Paths the method wrapped or added to (reported as the injection's `targets`). */
  readonly targets: readonly string[];
  /**
   * The tuner layers the adapter was added to; `remove()` finds them by identity, wherever they sit by then.
   * Without it, they are looked up now at `targets` (outermost first, through nested wrappers) as the layers of
   * `methodName` that hold the adapter.
   */
  readonly layers?: readonly TunerLayer[];
  /** The method's `name` (its tuner layers' `methodName`); needed when `layers` is not given. */
  readonly methodName?: string;
  /** Parameter path → file key without `base_model.model.`, or null when the parameter is not this adapter's. */
  readonly fileKey: (paramPath: string) => string | null;
}

export function tunerLayerInjection<C extends BasePeftConfig>(options: TunerLayerInjectionOptions<C>): Injection<C> {
  const { model, config, adapterName, targets, fileKey } = options;
  const layers = options.layers ?? layersAt(model, targets, adapterName, options.methodName);
  return {
    config,
    targets: [...targets],
    state: () => collectAdapterState(model, fileKey),
    remove: () => removeFromTunerLayers(model, layers, adapterName),
  };
}

/** The tuner layers of `methodName` holding `adapterName` at `paths` (also nested through `baseLayer`). */
function layersAt(model: Module, paths: readonly string[], adapterName: string, methodName: string | undefined): TunerLayer[] {
  if (methodName === undefined) throw new Error("tunerLayerInjection: pass the tuner layers the adapter was added to (layers), or the method's name (methodName) to find them at the targets.");
  const out: TunerLayer[] = [];
  for (const path of paths) {
    for (const layer of tunerLayerChain(model.getSubmodule(path))) {
      if (layer.methodName === methodName && layer.adapterNames().includes(adapterName) && !out.includes(layer)) out.push(layer);
    }
  }
  return out;
}

/**
 * Takes adapter `adapterName` out of `layers`; a layer left without adapters is replaced, where it sits in
 * `model`'s tree (also inside another tuner layer, or moved under another method's wrapper since), by the module
 * it wrapped. Layers no longer in the tree (merged and unloaded) are skipped.
 */
export function removeFromTunerLayers(model: Module, layers: readonly TunerLayer[], adapterName: string): void {
  const wanted = new Set<Module>(layers);
  const places = new Map<Module, { parent: Module; name: string }>();
  for (const [, parent] of model.namedModules()) {
    for (const [name, child] of parent.namedChildren()) if (wanted.has(child)) places.set(child, { parent, name });
  }
  for (const layer of layers) {
    const place = places.get(layer);
    if (place === undefined || !layer.adapterNames().includes(adapterName)) continue;
    layer.deleteAdapter(adapterName);
    if (layer.adapterNames().length === 0) {
      // registerModule keeps the child's place in its parent's order.
      place.parent.registerModule(place.name, layer.baseLayer);
    }
  }
}

/**
 * The bottleneck adapter `Method`: where adapters go (the architecture's residual-connection paths, see
 * `architectures.ts`), their size per layer (AdapterHub `BottleneckLayer.add_adapter`), and how parameters
 * are named in adapter_model.safetensors.
 *
 * File keys (PEFT's layout, adapter name removed): `base_model.model.<location>.<AdapterHub's name inside the
 * adapter>`, e.g. `base_model.model.transformer.h.0.mlp_residual.adapter_down.0.weight`, `….adapter_up.bias`,
 * `….scaling`, `….adapter_norm_after.weight`, `….gate.weight`. Inside the model the adapter sits at
 * `<location>.bottleneck_adapters.<name>.…`.
 */
import { isTunerLayer, nextSeed, tunerLayerInjection } from "@peftjs/core";
import type { Injection, Method, Module } from "@peftjs/core";
import { ARCHITECTURES, adapterLocations, locationsFor } from "./architectures.js";
import type { AdapterLocation } from "./architectures.js";
import { bottleneckSizeAt, fromPeftBottleneckConfig, parseBottleneckConfig, toPeftBottleneckConfig, BOTTLENECK_PEFT_TYPE } from "./config.js";
import type { BottleneckConfig } from "./config.js";
import type { BottleneckSettings, SeedSource } from "./bottleneck.js";
import { BOTTLENECK_CONTAINER, BOTTLENECK_METHOD_NAME, BottleneckLayer, CANNOT_MERGE_REASON } from "./layer.js";

function modelConfig(model: Module): Record<string, unknown> {
  const config = (model as unknown as { config?: unknown }).config;
  return typeof config === "object" && config !== null ? (config as Record<string, unknown>) : {};
}

/** The model's hidden size (AdapterHub's adapter `input_size` = `model_config.hidden_size`). */
function hiddenSize(model: Module): number {
  const h = modelConfig(model).hiddenSize;
  if (typeof h !== "number" || !Number.isInteger(h) || h < 1) {
    throw new Error(`Bottleneck adapters: the model has no config.hiddenSize (got ${JSON.stringify(h)}); adapters are sized from it. Give the model a config with hiddenSize.`);
  }
  return h;
}

function numLayers(model: Module, layersPath: string): number {
  const layers = model.getSubmodule(layersPath);
  const n = layers.namedChildren().filter(([name]) => /^\d+$/.test(name)).length;
  if (n === 0) throw new Error(`Bottleneck adapters: "${layersPath}" has no numbered blocks (children "0", "1", …); locations.layers must name the model's block list.`);
  return n;
}

/** The settings of one adapter module, from a config (the fields `BottleneckAdapter` reads). */
export function adapterSettings(config: BottleneckConfig): BottleneckSettings {
  const { nonLinearity, originalLnBefore, originalLnAfter, lnBefore, lnAfter, initWeights, isParallel, scaling, useGating, residualBeforeLn, adapterResidualBeforeLn, dropout } = config;
  return { nonLinearity, originalLnBefore, originalLnAfter, lnBefore, lnAfter, initWeights, isParallel, scaling, useGating, residualBeforeLn, adapterResidualBeforeLn, dropout };
}

/**
 * Seeds for one adapter module's initialisation. With `initWeightsSeed`, the same sequence for every module
 * (AdapterHub's `fix_seed` before each module's init: every adapter module starts the same); otherwise core's
 * seeded generator (`setSeed`).
 */
function seedSource(seed: number | null): SeedSource {
  if (seed === null) return nextSeed;
  let i = 0;
  return () => (Math.abs(seed) * 7919 + ++i * 104729) % 2147483647;
}

/** The locations an adapter of `config` gets in `model`. */
export function bottleneckLocations(model: Module, config: BottleneckConfig): AdapterLocation[] {
  const type = modelConfig(model).modelType;
  const locations = locationsFor(typeof type === "string" ? type : "(unknown: the model has no config.modelType)", config.locations);
  return adapterLocations(locations, numLayers(model, locations.layers), config);
}

function isResidualModule(m: Module): boolean {
  const forward = (m as unknown as { forward?: unknown }).forward;
  // forward(sublayerOutput, residual, layerNorm): a one-input layer (Linear, LayerNorm) at a mapped path is a wrong mapping.
  return typeof forward === "function" && forward.length >= 2 && m.ownParameters().length === 0;
}

/**
 * Adds adapter `adapterName` at every location: a `BottleneckLayer` takes the residual connection's place (or
 * the adapter joins the one already there). Sizes follow `reductionFactor` per layer (or `bottleneckSize`).
 */
export function injectBottleneck(model: Module, config: BottleneckConfig, adapterName: string): Injection<BottleneckConfig> {
  const input = hiddenSize(model);
  const targets: string[] = [];
  for (const loc of bottleneckLocations(model, config)) {
    const target = model.getSubmodule(loc.path);
    let layer: BottleneckLayer;
    if (target instanceof BottleneckLayer) {
      layer = target;
    } else if (isTunerLayer(target) || !isResidualModule(target)) {
      throw new Error(
        `Bottleneck adapters: "${loc.path}" is a ${target.constructor.name}, not a residual connection (a module with forward(sublayerOutput, residual, layerNorm) and no parameters). ` +
          `Check the adapter locations for this architecture (${Object.keys(ARCHITECTURES).join(", ")} are built in; others need locations).`,
      );
    } else {
      layer = new BottleneckLayer(target);
      model.setSubmodule(loc.path, layer);
    }
    layer.addAdapter(adapterName, {
      inputSize: input,
      downSample: bottleneckSizeAt(config, input, loc.layerIdx),
      settings: adapterSettings(config),
      seeds: seedSource(config.initWeightsSeed),
    });
    targets.push(loc.path);
  }
  return tunerLayerInjection({
    model,
    config,
    adapterName,
    methodName: BOTTLENECK_METHOD_NAME,
    targets,
    fileKey: (p) => bottleneckFileKey(p, adapterName),
  });
}

/** `<location>.bottleneck_adapters.<adapterName>.<rest>` → `<location>.<rest>`; null for other parameters. */
export function bottleneckFileKey(paramPath: string, adapterName: string): string | null {
  const parts = paramPath.split(".");
  const i = parts.lastIndexOf(BOTTLENECK_CONTAINER);
  if (i < 0 || parts[i + 1] !== adapterName || i + 2 >= parts.length) return null;
  return [...parts.slice(0, i), ...parts.slice(i + 2)].join(".");
}

/**
 * The bottleneck method. `canMerge` is `false` in its type: a non-linearity sits between the projections, so
 * the adapter cannot be folded into a weight (`CANNOT_MERGE_REASON`).
 */
export const bottleneckMethod: Method<BottleneckConfig> & { readonly canMerge: false } = {
  specificationVersion: "v2",
  name: BOTTLENECK_METHOD_NAME,
  peftType: BOTTLENECK_PEFT_TYPE,
  prefix: "bottleneck_",
  canMerge: false,
  cannotMergeReason: CANNOT_MERGE_REASON,
  parseConfig: parseBottleneckConfig,
  toPeftConfig: toPeftBottleneckConfig,
  fromPeftConfig: fromPeftBottleneckConfig,
  inject: (model, config, adapterName) => injectBottleneck(model, config, adapterName),
};

/**
 * TEST ONLY: a bottleneck adapter inserted after a sublayer's output (Houlsby et al. 2019 / Pfeiffer et al.
 * 2021: `h ← h + W_up·relu(W_down·h)` on the output h of, e.g., a block's feed-forward), written against
 * @peftjs/core's public contract alone: its layer extends core's `BaseTunerLayer` and holds only this maths.
 * Wraps the matched sublayer (`transformer.h.N.mlp`); per adapter `bottleneck_down.<adapter>` `[size, hidden]`
 * and `bottleneck_up.<adapter>` `[hidden, size]` (bias-free Linears, torch layout), saved as
 * `base_model.model.<path>.bottleneck_down.weight`. Cannot merge (the relu is between the matrices).
 */
import { tf, BaseTunerLayer, Linear, Module, defaultAdapterFileKey, isTunerLayer, matchTargets, nextSeed, readCommonPeftConfig, tunerLayerInjection, writeCommonPeftConfig } from "@peftjs/core";
import type { AdapterSpec, BasePeftConfig, Method, TargetSelection, Tensor } from "@peftjs/core";

export interface BottleneckConfig extends BasePeftConfig, TargetSelection {
  readonly peftType: "TEST_BOTTLENECK";
  readonly bottleneckSize: number;
  /** "zeros": W_up = 0, the adapter starts as the identity (Houlsby's near-identity init); "random": both N(0, 0.1²). */
  readonly initWeights: "zeros" | "random";
}

interface BottleneckSettings {
  size: number;
  hidden: number;
  init: "zeros" | "random";
}

class AdapterDict extends Module {}

const PREFIX = "bottleneck_";

export class BottleneckLayer extends BaseTunerLayer<BottleneckSettings> {
  readonly methodName = "test-bottleneck";
  private readonly down: AdapterDict;
  private readonly up: AdapterDict;

  constructor(sublayer: Module) {
    super(sublayer);
    this.down = this.registerModule("bottleneck_down", new AdapterDict());
    this.up = this.registerModule("bottleneck_up", new AdapterDict());
  }

  addAdapter(name: string, settings: BottleneckSettings): void {
    if (!Number.isInteger(settings.size) || settings.size <= 0) throw new Error(`bottleneck: bottleneckSize must be a positive integer, got ${settings.size}.`);
    this.registerAdapter(name, settings);
  }

  protected createAdapter(name: string, s: BottleneckSettings): void {
    const down = tf.randomNormal([s.size, s.hidden], 0, 0.1, "float32", nextSeed());
    const up = s.init === "zeros" ? tf.zeros([s.hidden, s.size]) : tf.randomNormal([s.hidden, s.size], 0, 0.1, "float32", nextSeed());
    this.down.registerModule(name, new Linear(s.hidden, s.size, { bias: false, weight: down }));
    this.up.registerModule(name, new Linear(s.size, s.hidden, { bias: false, weight: up }));
    tf.dispose([down, up]);
  }

  protected deleteAdapterWeights(name: string): void {
    for (const dict of [this.down, this.up]) {
      const child = dict.namedChildren().find(([n]) => n === name)?.[1];
      child?.dispose();
      dict.deleteModule(name);
    }
  }

  linear(which: "down" | "up", name: string): Linear {
    return (which === "down" ? this.down : this.up).getSubmodule(name) as Linear;
  }

  /** On the sublayer's output (`running`), not its input. */
  protected adapterDelta(running: Tensor, _x: Tensor, name: string): Tensor {
    return this.linear("up", name).forward(tf.relu(this.linear("down", name).forward(running)));
  }
}

function parseConfig(raw: unknown): BottleneckConfig {
  const o = (raw ?? {}) as Record<string, unknown>;
  const init = o["initWeights"] ?? "zeros";
  if (init !== "zeros" && init !== "random") throw new Error(`bottleneck: initWeights must be "zeros" or "random", got ${JSON.stringify(init)}.`);
  return {
    peftType: "TEST_BOTTLENECK",
    bottleneckSize: (o["bottleneckSize"] as number | undefined) ?? 4,
    initWeights: init,
    targetModules: (o["targetModules"] as BottleneckConfig["targetModules"] | undefined) ?? ["mlp"],
    excludeModules: null,
    layersToTransform: (o["layersToTransform"] as BottleneckConfig["layersToTransform"] | undefined) ?? null,
    layersPattern: null,
    taskType: (o["taskType"] as string | null | undefined) ?? null,
    baseModelNameOrPath: null,
    inferenceMode: (o["inferenceMode"] as boolean | undefined) ?? false,
    modulesToSave: null,
  };
}

export const bottleneckMethod: Method<BottleneckConfig> = {
  specificationVersion: "v2",
  name: "test-bottleneck",
  peftType: "TEST_BOTTLENECK",
  prefix: PREFIX,
  canMerge: false,
  parseConfig,
  toPeftConfig: (c) => ({ ...writeCommonPeftConfig(c), bottleneck_size: c.bottleneckSize, init_weights: c.initWeights, target_modules: c.targetModules, layers_to_transform: c.layersToTransform }),
  fromPeftConfig: (json) => ({
    config: parseConfig({ ...readCommonPeftConfig(json), bottleneckSize: json["bottleneck_size"], initWeights: json["init_weights"], targetModules: json["target_modules"], layersToTransform: json["layers_to_transform"] }),
    unknownFields: [],
  }),
  inject(model, config, adapterName) {
    const hidden = (model as unknown as { config?: { hiddenSize?: unknown } }).config?.hiddenSize;
    if (typeof hidden !== "number") throw new Error("bottleneck: the model's config has no hiddenSize (the sublayer's output width).");
    // Any sublayer with a forward can be wrapped; another method's tuner layer is wrapped too (nested through baseLayer).
    const targets = matchTargets(model, config, { isTargetable: (m) => m instanceof BottleneckLayer || (!isTunerLayer(m) && typeof (m as { forward?: unknown }).forward === "function") || isTunerLayer(m) });
    const layers = targets.map((path) => {
      const m = model.getSubmodule(path);
      const layer = m instanceof BottleneckLayer ? m : new BottleneckLayer(m);
      layer.addAdapter(adapterName, { size: config.bottleneckSize, hidden, init: config.initWeights });
      if (layer !== m) model.setSubmodule(path, layer);
      return layer;
    });
    return tunerLayerInjection({ model, config, adapterName, targets, layers, fileKey: (p) => defaultAdapterFileKey(p, adapterName, PREFIX) });
  },
};

export function bottleneck(options: Partial<Pick<BottleneckConfig, "bottleneckSize" | "initWeights" | "targetModules" | "layersToTransform">> = {}): AdapterSpec<BottleneckConfig> {
  return { method: bottleneckMethod, config: bottleneckMethod.parseConfig(options) };
}

/**
 * The test-only bottleneck method (public contract only) on GPT-2 and LLaMA: the wrapped sublayer computes
 * h + W_up·relu(W_down·h) (checked in float64), zero-initialised it leaves the model's outputs exact, only its
 * weights train, mixed batches equal per-row runs, it cannot merge, delete/unload give the original modules back,
 * save → load is exact, and it nests with LoRA (a LoRA layer inside the wrapped sublayer).
 */
import { afterEach, describe, expect, it } from "vitest";
import { tf, createRegistry, getPeftModel, PeftModel, setSeed } from "@peftjs/core";
import type { Module, Tensor } from "@peftjs/core";
import { createModel, gpt2Config, llamaConfig } from "@peftjs/models";
import type { PretrainedModel } from "@peftjs/models";
import { lora } from "@peftjs/lora";
import { BottleneckLayer, bottleneck, bottleneckMethod } from "./bottleneck.js";

const made: Module[] = [];
afterEach(() => {
  for (const m of made.splice(0)) m.dispose();
});

const ARCH = {
  gpt2: { make: () => gpt2Config("tiny", { initializerRange: 0.3 }), mlp: "transformer.h.0.mlp", fc: "c_fc" },
  llama: { make: () => llamaConfig("tiny", { initializerRange: 0.3 }), mlp: "model.layers.0.mlp", fc: "gate_proj" },
} as const;

function tiny(arch: keyof typeof ARCH, seed = 5): PretrainedModel {
  setSeed(seed);
  const m = createModel(ARCH[arch].make()).eval();
  made.push(m);
  return m;
}

const IDS = [
  [1, 2, 3, 4],
  [9, 8, 7, 6],
];
const logits = (m: { forward(i: { inputIds: Tensor }): { logits: Tensor } }, rows = IDS): number[] =>
  Array.from(tf.tidy(() => m.forward({ inputIds: tf.tensor2d(rows, undefined, "int32") }).logits).dataSync());

describe.each(["gpt2", "llama"] as const)("test-only bottleneck after a sublayer's output (%s)", (arch) => {
  const { mlp } = ARCH[arch];

  it("computes h + W_up·relu(W_down·h) on the sublayer's output h (float64 reference)", () => {
    const model = tiny(arch);
    const hidden = model.config.hiddenSize;
    setSeed(11);
    const x = tf.randomNormal([2, 3, hidden], 0, 1, "float32", 3);
    const sub = model.getSubmodule(mlp) as Module & { forward(t: Tensor): Tensor };
    const h = sub.forward(x);
    const hv = Array.from(h.dataSync());
    const peft = getPeftModel(model, bottleneck({ bottleneckSize: 3, initWeights: "random", targetModules: [mlp] }));
    const layer = peft.getSubmodule(mlp) as BottleneckLayer;
    expect(layer).toBeInstanceOf(BottleneckLayer);
    expect(layer.baseLayer).toBe(sub);
    const down = layer.linear("down", "default").weight.arraySync() as number[][]; // [3, hidden]
    const up = layer.linear("up", "default").weight.arraySync() as number[][]; // [hidden, 3]
    const want: number[] = [];
    for (let row = 0; row < hv.length / hidden; row++) {
      const hr = hv.slice(row * hidden, (row + 1) * hidden);
      const z = down.map((w) => Math.max(0, w.reduce((a, wi, i) => a + wi * hr[i]!, 0)));
      for (let o = 0; o < hidden; o++) want.push(hr[o]! + up[o]!.reduce((a, u, k) => a + u * z[k]!, 0));
    }
    const got = layer.forward(x);
    const gv = got.dataSync();
    expect(Math.max(...want.map((w, i) => Math.abs(w - gv[i]!)))).toBeLessThan(1e-5);
    expect(Math.max(...want.map((w, i) => Math.abs(w - hv[i]!)))).toBeGreaterThan(1e-3); // the adapter did something
    tf.dispose([x, h, got]);
  });

  it("zero-initialised is exact, only its weights train, mixed batches equal per-row runs, it cannot merge", () => {
    const model = tiny(arch);
    const base = logits(model);
    const peft = getPeftModel(model, bottleneck({ bottleneckSize: 4 }));
    expect(logits(peft)).toEqual(base);
    const trainable = peft.namedParameters().filter(([, v]) => v.trainable).map(([k]) => k);
    expect(trainable.length).toBe(2 * model.config.numHiddenLayers);
    expect(trainable.every((k) => /\.mlp\.bottleneck_(down|up)\.default\.weight$/.test(k))).toBe(true);
    expect([...peft.adapterStateDict("default").keys()].slice(0, 2)).toEqual([`base_model.model.${mlp}.bottleneck_down.weight`, `base_model.model.${mlp}.bottleneck_up.weight`]);

    peft.addAdapter("other", bottleneck({ bottleneckSize: 2, initWeights: "random" }));
    peft.setAdapter("other");
    const row0 = logits(peft, [IDS[0]!]);
    const row1 = peft.disableAdapters(() => logits(peft, [IDS[1]!]));
    const mixed = tf.tidy(() => peft.forward({ inputIds: tf.tensor2d(IDS, undefined, "int32") }, { adapterNames: ["other", "__base__"] }).logits);
    const m = Array.from(mixed.dataSync());
    mixed.dispose();
    const close = (a: number[], b: number[]): number => Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
    expect(close(m.slice(0, row0.length), row0)).toBeLessThan(1e-5);
    expect(close(m.slice(row0.length), row1)).toBeLessThan(1e-5);
    expect(() => peft.merge()).toThrow(/method "test-bottleneck"\) cannot be merged/);
  });

  it("delete and unload put the original sublayers back and free every adapter tensor", () => {
    const model = tiny(arch);
    const sub = model.getSubmodule(mlp);
    const n = tf.memory().numTensors;
    const peft = getPeftModel(model, bottleneck());
    peft.addAdapter("two", bottleneck({ initWeights: "random" }));
    peft.deleteAdapter("two");
    expect((peft.getSubmodule(mlp) as BottleneckLayer).adapterNames()).toEqual(["default"]);
    expect(peft.unload()).toBe(model);
    expect(model.getSubmodule(mlp)).toBe(sub);
    expect(tf.memory().numTensors).toBe(n);
  });

  it("save → load is exact (keys, values, logits)", async () => {
    const model = tiny(arch);
    const peft = getPeftModel(model, bottleneck({ bottleneckSize: 3, initWeights: "random" }));
    const files = await peft.adapterFilesAsync();
    const want = logits(peft);
    const fresh = tiny(arch);
    const loaded = PeftModel.fromFiles(fresh, { config: files["adapter_config.json"] as string, weights: files["adapter_model.safetensors"] as Uint8Array }, { registry: createRegistry(bottleneckMethod) });
    const a = peft.adapterStateDict("default");
    const b = loaded.adapterStateDict("default");
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [k, t] of a) expect(Array.from(b.get(k)!.dataSync())).toEqual(Array.from(t.dataSync()));
    expect(logits(loaded)).toEqual(want);
  });

  it("nests with LoRA: a LoRA layer inside the wrapped sublayer is found, trains, and leaves cleanly", () => {
    const model = tiny(arch);
    const base = logits(model);
    const peft = getPeftModel(model, lora({ r: 2, targetModules: [ARCH[arch].fc], initLoraWeights: false }), "lo");
    peft.addAdapter("bn", bottleneck({ initWeights: "random" }));
    peft.setAdapter(["lo", "bn"]);
    const paths = peft.tunerLayers().map(([p]) => p);
    expect(paths).toContain(mlp);
    expect(paths).toContain(`${mlp}.base_layer.${ARCH[arch].fc}`); // LoRA, now inside the bottleneck's base layer
    expect(peft.namedParameters().filter(([, v]) => v.trainable).some(([k]) => k.includes(".lora_A.lo."))).toBe(true);
    const both = logits(peft);
    expect(both).not.toEqual(base);
    peft.deleteAdapter("lo"); // found by identity though its path moved under the wrapper
    expect(peft.tunerLayers().map(([p]) => p).some((p) => p.endsWith(ARCH[arch].fc))).toBe(false);
    peft.unload();
    expect(logits(model)).toEqual(base);
  });
});

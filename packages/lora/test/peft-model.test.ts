/**
 * LoRA through core's PeftModel on the reference models of @peftjs/models: injection (targets, rank/alpha
 * patterns, Conv1D layout), trainable parameters, PEFT file keys, save → load, merge, mixed batch, training.
 */
import { describe, it, expect, afterAll } from "vitest";
import { mkdtempSync, rmSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tf, setSeed, getPeftModel, PeftModel, createRegistry, readSafetensors, train, Conv1D, Linear, isTunerLayer, silentLogger } from "@peftjs/core";
import type { Tensor, Variable } from "@peftjs/core";
import { createModel, gpt2Config, llamaConfig } from "@peftjs/models";
import type { GPT2LMHeadModel, LlamaForCausalLM, PretrainedModel } from "@peftjs/models";
import { lora, dora, rslora, loraMethod, LoraLinear, LoraEmbedding } from "../src/index.js";
import { maxAbsDiff, relErr } from "./reference.js";

const registry = createRegistry(loraMethod);
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "peftjs-lora-"));
  dirs.push(d);
  return d;
}

const quiet = { logger: silentLogger };

function gpt2(seed = 1): GPT2LMHeadModel {
  setSeed(seed);
  return createModel(gpt2Config("tiny", { vocabSize: 64, maxPositionEmbeddings: 16, initializerRange: 0.2 })).eval();
}

function llama(seed = 2): LlamaForCausalLM {
  setSeed(seed);
  return createModel(llamaConfig("tiny", { vocabSize: 64, maxPositionEmbeddings: 16, initializerRange: 0.2 })).eval();
}

const IDS = [
  [1, 5, 9, 2, 33, 60],
  [7, 7, 12, 40, 3, 0],
];

function logits(model: { forward(i: { inputIds: Tensor }): { logits: Tensor } }): Float32Array {
  return tf.tidy(() => {
    const out = model.forward({ inputIds: tf.tensor2d(IDS, [2, 6], "int32") });
    return out.logits;
  }).dataSync() as Float32Array;
}

function values(vars: Variable[]): Float32Array[] {
  return vars.map((v) => Float32Array.from(v.dataSync()));
}

/** Makes every LoRA B (and embedding A) non-zero, as training would. */
function perturbAdapters(model: PretrainedModel, seed: number): void {
  setSeed(seed);
  for (const [path, v] of model.namedParameters()) {
    if (/\.lora_(B|embedding_A)\./.test(path)) tf.tidy(() => v.assign(tf.randomNormal(v.shape, 0, 0.2, "float32", seed++)));
    if (path.includes(".lora_magnitude_vector.")) tf.tidy(() => v.assign(tf.mul(v, tf.randomUniform(v.shape, 0.8, 1.2, "float32", seed++))));
  }
}

describe("one spec, many models (the spec is a value)", () => {
  it("reuses one lora({...}) on GPT-2 and then on LLaMA: each gets its model type's default targets, the spec is unchanged", () => {
    const spec = lora({ r: 2, fanInFanOut: false });
    const before = JSON.stringify(spec.config);
    const onGpt2 = getPeftModel(gpt2(), spec, "default", quiet);
    const onLlama = getPeftModel(llama(), spec, "default", quiet);
    expect(JSON.stringify(spec.config)).toBe(before);
    expect(spec.config.targetModules).toBeNull();
    // What each model got, as its adapter_config.json records it (PEFT fills these in the same way).
    expect(onGpt2.peftConfig.get("default")).toMatchObject({ targetModules: ["c_attn"], fanInFanOut: true });
    expect(onLlama.peftConfig.get("default")).toMatchObject({ targetModules: ["q_proj", "v_proj"], fanInFanOut: false });
    expect(onGpt2.tunerLayers().map(([p]) => p)).toEqual(["transformer.h.0.attn.c_attn", "transformer.h.1.attn.c_attn"]);
    expect(onLlama.tunerLayers().map(([p]) => p.split(".").slice(-1)[0])).toEqual(["q_proj", "v_proj", "q_proj", "v_proj"]);
    onGpt2.dispose();
    onLlama.dispose();
  });
});

describe("inject through getPeftModel", () => {
  it("wraps GPT-2's Conv1D layers, sets fanInFanOut like PEFT and trains only LoRA parameters", () => {
    const model = gpt2();
    const warnings: string[] = [];
    const peft = getPeftModel(model, lora({ r: 4, loraAlpha: 8, targetModules: ["c_attn", "c_proj", "c_fc"] }), "default", { logger: { ...silentLogger, warn: (m) => warnings.push(m) } });
    const config = peft.peftConfig.get("default") as ReturnType<typeof lora>["config"];
    expect(config.fanInFanOut).toBe(true);
    const layers = peft.tunerLayers();
    // c_attn, c_proj (attention) and c_fc, c_proj (MLP) in each of 2 blocks.
    expect(layers.map(([p]) => p)).toEqual([
      "transformer.h.0.attn.c_attn",
      "transformer.h.0.attn.c_proj",
      "transformer.h.0.mlp.c_fc",
      "transformer.h.0.mlp.c_proj",
      "transformer.h.1.attn.c_attn",
      "transformer.h.1.attn.c_proj",
      "transformer.h.1.mlp.c_fc",
      "transformer.h.1.mlp.c_proj",
    ]);
    const cAttn = model.getSubmodule("transformer.h.0.attn.c_attn") as LoraLinear;
    expect(cAttn).toBeInstanceOf(LoraLinear);
    expect(cAttn.baseLayer).toBeInstanceOf(Conv1D);
    expect(cAttn.fanInFanOut).toBe(true);
    expect(cAttn.loraA("default").shape).toEqual([4, 32]);
    expect(cAttn.loraB("default").shape).toEqual([96, 4]);
    const trainable = peft.namedParameters().filter(([, v]) => v.trainable).map(([p]) => p);
    expect(trainable.length).toBe(16);
    expect(trainable.every((p) => /\.lora_[AB]\.default\.weight$/.test(p))).toBe(true);
    // Per block: c_attn 4·32 + 96·4, attn.c_proj 4·32 + 32·4, c_fc 4·32 + 128·4, mlp.c_proj 4·128 + 32·4.
    const perBlock = 4 * 32 + 96 * 4 + (4 * 32 + 32 * 4) + (4 * 32 + 128 * 4) + (4 * 128 + 32 * 4);
    expect(peft.getNbTrainableParameters().trainableParams).toBe(2 * perBlock);
    // A fresh LoRA (B = 0) does not change the model.
    const base = gpt2();
    expect(maxAbsDiff(logits(peft), logits(base))).toBe(0);
    base.dispose();
    model.dispose();
  });

  it("applies rank_pattern / alpha_pattern per module with PEFT's pattern semantics, and rsLoRA scaling", () => {
    const model = llama();
    getPeftModel(
      model,
      rslora({
        r: 4,
        loraAlpha: 8,
        targetModules: ["q_proj", "k_proj", "v_proj", "o_proj"],
        rankPattern: { o_proj: 2, "model.layers.1.self_attn.k_proj": 6 },
        alphaPattern: { v_proj: 16 },
      }),
      "default",
      quiet,
    );
    const layer = (p: string): LoraLinear => model.getSubmodule(p) as LoraLinear;
    expect(layer("model.layers.0.self_attn.q_proj").settings("default").r).toBe(4);
    expect(layer("model.layers.0.self_attn.q_proj").scaling("default")).toBeCloseTo(8 / 2, 12);
    expect(layer("model.layers.0.self_attn.o_proj").loraA("default").shape).toEqual([2, 32]);
    expect(layer("model.layers.0.self_attn.o_proj").scaling("default")).toBeCloseTo(8 / Math.sqrt(2), 12);
    expect(layer("model.layers.0.self_attn.k_proj").settings("default").r).toBe(4);
    expect(layer("model.layers.1.self_attn.k_proj").loraB("default").shape).toEqual([16, 6]);
    expect(layer("model.layers.1.self_attn.v_proj").scaling("default")).toBeCloseTo(16 / 2, 12);
    model.dispose();
  });

  it("adapts an Embedding (llama embed_tokens) and refuses targets that are not Linear / Conv1D / Embedding", () => {
    const model = llama();
    getPeftModel(model, lora({ targetModules: ["embed_tokens", "q_proj"] }), "default", quiet);
    const emb = model.getSubmodule("model.embed_tokens");
    expect(emb).toBeInstanceOf(LoraEmbedding);
    expect((emb as LoraEmbedding).loraA("default").shape).toEqual([8, 64]);
    expect((emb as LoraEmbedding).loraB("default").shape).toEqual([32, 8]);
    model.dispose();
    const other = llama();
    expect(() => getPeftModel(other, lora({ targetModules: ["input_layernorm"] }), "default", quiet)).toThrow(/cannot adapt/);
    expect(other.parameters().every((v) => v.trainable)).toBe(true);
    other.dispose();
  });

  it("uses PEFT's default targets when targetModules is not given", () => {
    const model = gpt2();
    const peft = getPeftModel(model, lora(), "default", quiet);
    expect(peft.tunerLayers().map(([p]) => p)).toEqual(["transformer.h.0.attn.c_attn", "transformer.h.1.attn.c_attn"]);
    expect((peft.peftConfig.get("default") as ReturnType<typeof lora>["config"]).targetModules).toEqual(["c_attn"]);
    model.dispose();
  });
});

describe("save and load (PEFT file layout)", () => {
  it("writes PEFT's keys and shapes and loads back to identical logits (LoRA + DoRA, Conv1D)", async () => {
    const model = gpt2();
    const peft = getPeftModel(model, dora({ r: 4, loraAlpha: 8, targetModules: ["c_attn", "c_fc"] }), "default", quiet);
    perturbAdapters(model, 5);
    const expected = logits(peft);
    const dir = tempDir();
    await peft.save(dir);

    const config = JSON.parse(readFileSync(join(dir, "adapter_config.json"), "utf8")) as Record<string, unknown>;
    expect(config).toMatchObject({ peft_type: "LORA", r: 4, lora_alpha: 8, use_dora: true, fan_in_fan_out: true, target_modules: ["c_attn", "c_fc"], bias: "none", use_rslora: false, init_lora_weights: true });
    const file = await readSafetensors(join(dir, "adapter_model.safetensors"));
    const shapes = Object.fromEntries([...file.tensors].map(([k, t]) => [k, t.shape]));
    expect(shapes["base_model.model.transformer.h.0.attn.c_attn.lora_A.weight"]).toEqual([4, 32]);
    expect(shapes["base_model.model.transformer.h.0.attn.c_attn.lora_B.weight"]).toEqual([96, 4]);
    expect(shapes["base_model.model.transformer.h.0.attn.c_attn.lora_magnitude_vector"]).toEqual([96]);
    expect(shapes["base_model.model.transformer.h.1.mlp.c_fc.lora_magnitude_vector"]).toEqual([128]);
    expect(Object.keys(shapes)).toHaveLength(2 * 2 * 3);
    for (const t of file.tensors.values()) t.dispose();

    const fresh = gpt2();
    const loaded = await PeftModel.fromPretrained(fresh, dir, { registry, ...quiet });
    expect(maxAbsDiff(logits(loaded), expected)).toBe(0);
    // Loaded for inference by default: nothing trains.
    expect(loaded.getNbTrainableParameters().trainableParams).toBe(0);
    fresh.dispose();
    model.dispose();
  });

  it('bias "all" trains and saves every bias of the model; "lora_only" those of the wrapped layers', async () => {
    for (const bias of ["all", "lora_only"] as const) {
      const model = gpt2();
      const peft = getPeftModel(model, lora({ r: 2, targetModules: ["c_attn"], bias }), "default", quiet);
      const trainable = peft.namedParameters().filter(([, v]) => v.trainable).map(([p]) => p);
      const biases = model.namedParameters().filter(([p]) => p.endsWith(".bias")).map(([p]) => p);
      const wrappedBiases = ["transformer.h.0.attn.c_attn.base_layer.bias", "transformer.h.1.attn.c_attn.base_layer.bias"];
      expect(trainable.filter((p) => p.endsWith(".bias")).sort()).toEqual(bias === "all" ? biases.sort() : wrappedBiases);
      const dir = tempDir();
      await peft.save(dir);
      const file = await readSafetensors(join(dir, "adapter_model.safetensors"));
      const keys = [...file.tensors.keys()];
      for (const t of file.tensors.values()) t.dispose();
      expect(keys).toContain("base_model.model.transformer.h.0.attn.c_attn.base_layer.bias");
      expect(keys.includes("base_model.model.transformer.ln_f.bias")).toBe(bias === "all");
      expect(keys).toHaveLength(4 + (bias === "all" ? biases.length : 2));
      model.dispose();
    }
  });
});

describe("merge", () => {
  it("merged and unmerged logits agree; unmerge restores every weight; mergeAndUnload gives the plain model back", () => {
    const model = llama();
    const peft = getPeftModel(model, lora({ r: 4, useDora: false, targetModules: ["q_proj", "v_proj", "up_proj", "embed_tokens"] }), "default", quiet);
    perturbAdapters(model, 9);
    const before = peft.tunerLayers().map(([, l]) => Float32Array.from(l.baseLayer.getParameter("weight")!.dataSync()));
    const unmerged = logits(peft);
    peft.merge({ safe: true });
    const merged = logits(peft);
    expect(relErr(merged, unmerged)).toBeLessThan(1e-5);
    peft.unmerge();
    peft.tunerLayers().forEach(([, l], i) => {
      const w = l.baseLayer.getParameter("weight")!.dataSync();
      const scale = Math.max(...before[i]!.map(Math.abs));
      expect(maxAbsDiff(w, before[i]!) / scale).toBeLessThan(1e-6);
    });
    const plain = peft.mergeAndUnload({ safe: true });
    expect([...plain.namedModules()].some(([, m]) => isTunerLayer(m))).toBe(false);
    expect(plain.getSubmodule("model.layers.0.self_attn.q_proj")).toBeInstanceOf(Linear);
    expect(relErr(logits(plain), unmerged)).toBeLessThan(1e-5);
    plain.dispose();
  });

  it("disableAdapters gives the base model's logits", () => {
    const model = gpt2();
    const base = logits(model);
    const peft = getPeftModel(model, dora({ r: 2, targetModules: ["c_attn", "c_proj"] }), "default", quiet);
    perturbAdapters(model, 3);
    expect(maxAbsDiff(logits(peft), base)).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(peft.disableAdapters(() => logits(peft)), base)).toBe(0);
    model.dispose();
  });
});

describe("mixed batch", () => {
  it("each row equals running that row with its adapter alone", () => {
    const model = gpt2();
    const peft = getPeftModel(model, lora({ r: 2, targetModules: ["c_attn"] }), "a", quiet);
    peft.addAdapter("b", lora({ r: 3, targetModules: ["c_attn", "c_fc"], useDora: true }));
    perturbAdapters(model, 11);
    const rowsOf = (names: string[]) =>
      tf.tidy(() => peft.forward({ inputIds: tf.tensor2d(IDS, [2, 6], "int32") }, { adapterNames: names }).logits).dataSync();
    const run = (adapter: string | null, row: number): Float32Array =>
      tf.tidy(() => {
        const ids = tf.tensor2d([IDS[row]!], [1, 6], "int32");
        if (adapter === null) return peft.disableAdapters(() => peft.forward({ inputIds: ids }).logits);
        peft.setAdapter(adapter);
        return peft.forward({ inputIds: ids }).logits;
      }).dataSync() as Float32Array;
    const mixed = rowsOf(["b", "__base__"]);
    const half = mixed.length / 2;
    expect(relErr(mixed.slice(0, half), run("b", 0))).toBeLessThan(1e-5);
    expect(relErr(mixed.slice(half), run(null, 1))).toBeLessThan(1e-5);
    const mixed2 = rowsOf(["a", "b"]);
    expect(relErr(mixed2.slice(0, half), run("a", 0))).toBeLessThan(1e-5);
    expect(relErr(mixed2.slice(half), run("b", 1))).toBeLessThan(1e-5);
    model.dispose();
  });
});

describe("training", () => {
  it("changes only LoRA parameters, and tf.memory().numTensors is flat over 100 steps", { timeout: 60_000 }, async () => {
    setSeed(4);
    const model = createModel(gpt2Config("tiny", { vocabSize: 64, maxPositionEmbeddings: 16, numHiddenLayers: 1, hiddenSize: 16, numAttentionHeads: 2 })).eval();
    const peft = getPeftModel(model, lora({ r: 4, loraDropout: 0.1, targetModules: ["c_attn", "c_fc"], useDora: true }), "default", quiet);
    const trainable = peft.namedParameters().filter(([, v]) => v.trainable);
    expect(trainable.length).toBeGreaterThan(0);
    expect(trainable.every(([p]) => /\.lora_(A|B|magnitude_vector)\./.test(p))).toBe(true);
    const frozen = peft.namedParameters().filter(([, v]) => !v.trainable).map(([, v]) => v);
    const frozenBefore = values(frozen);
    const trainableBefore = values(trainable.map(([, v]) => v));
    const ids = tf.tensor2d(IDS, [2, 6], "int32");
    const counts: number[] = [];
    peft.train();
    const result = await train({
      model: peft,
      loss: () => peft.forward({ inputIds: ids, labels: ids }).loss as tf.Scalar,
      batches: () => null,
      steps: 100,
      lr: 1e-2,
      seed: 3,
      onStep: (s) => void counts.push(s.numTensors),
    });
    peft.eval();
    expect(result.steps).toBe(100);
    expect(new Set(counts.slice(1)).size).toBe(1);
    expect(result.losses[99]!).toBeLessThan(result.losses[0]!);
    values(frozen).forEach((v, i) => expect(maxAbsDiff(v, frozenBefore[i]!)).toBe(0));
    values(trainable.map(([, v]) => v)).forEach((v, i) => expect(maxAbsDiff(v, trainableBefore[i]!)).toBeGreaterThan(0));
    ids.dispose();
    model.dispose();
  });
});

/**
 * The bottleneck method through core's PeftModel, on tiny random GPT-2, BERT and LLaMA models: a zero
 * up-projection leaves the outputs exactly the base model's; trainable-parameter counts follow the formula;
 * training moves only adapter parameters with a flat tensor count; save → load is exact; merge is refused
 * with the reason; several adapters compose; a LoRA layer inside an adapted block works; mixed batches.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, expectTypeOf, it } from "vitest";
import { tf, createRegistry, getPeftModel, setSeed, train, Embedding, Linear, Module, ModuleList, PeftModel } from "@peftjs/core";
import type { ModelInputs, ModelOutput, PreTrainedModelLike, Tensor, Variable } from "@peftjs/core";
import { bertConfig, callModule, callResidual, createModel, decoderConfig, gpt2Config, llamaConfig, ResidualConnection } from "@peftjs/models";
import { lora, loraMethod } from "@peftjs/lora";
import { Average, BatchSplit, BottleneckLayer, Stack, bottleneck, bottleneckMethod, houlsby, parBn, pfeiffer, setAdapterComposition } from "../src/index.js";
import type { BottleneckConfig } from "../src/index.js";
import type { AdapterSpec } from "@peftjs/core";

/** A model of no known type: blocks of `ff` + a residual connection, the hook point @peftjs/models blocks have. */
class ToyBlock extends Module {
  constructor() {
    super();
    this.registerModule("ff", new Linear(H, H));
    this.registerModule("ff_residual", new ResidualConnection());
  }
  forward(x: Tensor): Tensor {
    return callResidual(this, "ff_residual", tf.tanh(callModule(this, "ff", x)), x, null);
  }
}

class ToyModel extends Module implements PreTrainedModelLike {
  readonly config = { modelType: "toy", hiddenSize: H };
  readonly outputEmbeddingsPath = null;
  constructor() {
    super();
    this.registerModule("blocks", new ModuleList([new ToyBlock(), new ToyBlock()]));
    this.registerModule("embed", new Embedding(50, H));
  }
  getInputEmbeddings(): Embedding {
    return this.getSubmodule("embed") as Embedding;
  }
  forward(inputs: ModelInputs): ModelOutput {
    return {
      logits: tf.tidy(() => {
        let h = this.getInputEmbeddings().forward(inputs.inputIds!);
        for (const b of this.getSubmodule("blocks") as ModuleList<ToyBlock>) h = b.forward(h);
        return h;
      }),
    };
  }
}

function logits1(model: { forward(i: ModelInputs): ModelOutput }): Float32Array {
  const i = ids();
  const out = model.forward({ inputIds: i });
  const data = out.logits.dataSync() as Float32Array;
  tf.dispose([i, out.logits]);
  return data;
}

const tmp = mkdtempSync(join(tmpdir(), "peftjs-adapter-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const H = 32; // the tiny presets' hidden size
const LAYERS = 2;
const MODELS = {
  gpt2: () => createModel(gpt2Config("tiny", { vocabSize: 50 })),
  bert: () => createModel(bertConfig("tiny", { vocabSize: 50, numLabels: 3 })),
  llama: () => createModel(llamaConfig("tiny", { vocabSize: 50 })),
} as const;
type ModelName = keyof typeof MODELS;
const PRESETS = { houlsby, pfeiffer, par_bn: parBn } as const;

function build(name: ModelName, seed = 11): PreTrainedModelLike {
  setSeed(seed);
  const m = MODELS[name]().eval();
  expect(m.config.hiddenSize).toBe(H);
  return m;
}

const ids = (): Tensor => tf.tensor2d([[3, 14, 15, 9, 2, 6], [5, 35, 8, 9, 7, 9]], undefined, "int32");
const mask = (): Tensor => tf.tensor2d([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]], undefined, "int32");

function logits(model: { forward(i: { inputIds: Tensor; attentionMask: Tensor }, o?: { adapterNames?: readonly string[] }): { logits: Tensor } }, adapterNames?: string[]): Float32Array {
  const [i, m] = [ids(), mask()];
  const out = model.forward({ inputIds: i, attentionMask: m }, adapterNames === undefined ? undefined : { adapterNames });
  const data = out.logits.dataSync() as Float32Array;
  tf.dispose([i, m, out.logits]);
  return data;
}

function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let s = 0;
  for (let k = 0; k < b.length; k++) {
    d = Math.max(d, Math.abs(a[k]! - b[k]!));
    s = Math.max(s, Math.abs(b[k]!));
  }
  return d / s;
}

function adapterParams(peft: PeftModel<PreTrainedModelLike>, name = "default"): [string, Variable][] {
  return [...peft.injectionOf(name).state()];
}

/** Moves every adapter parameter away from its init (so adapters are not no-ops), seeded. */
function perturb(peft: PeftModel<PreTrainedModelLike>, name = "default", seed = 5): void {
  for (const [i, [, v]] of adapterParams(peft, name).entries()) tf.tidy(() => v.assign(tf.add(v, tf.randomNormal(v.shape, 0, 0.3, "float32", seed + i))));
}

describe("zero up-projection: outputs equal the base model's exactly", () => {
  for (const model of Object.keys(MODELS) as ModelName[]) {
    for (const [preset, spec] of Object.entries(PRESETS)) {
      it(`${model} ${preset}`, () => {
        const base = build(model);
        const before = logits(base);
        const peft = getPeftModel(base, spec());
        perturb(peft);
        // Everything but the up-projection is random; with it zero the adapter adds exactly nothing.
        for (const [key, v] of adapterParams(peft)) if (key.includes(".adapter_up.")) v.assign(tf.zerosLike(v));
        expect(Array.from(logits(peft))).toEqual(Array.from(before));
        peft.dispose();
        base.dispose();
      });
    }
  }
});

describe("trainable parameters = the formula", () => {
  // One adapter module: down (h·d + d) + up (d·h + h), d = ⌊h / reduction_factor⌋ (AdapterHub `Adapter`).
  const perModule = (h: number, d: number): number => h * d + d + d * h + h;
  const expected: Record<keyof typeof PRESETS, number> = {
    houlsby: 2 * LAYERS * perModule(H, Math.floor(H / 16)), // two per layer: after attention and after the FFN
    pfeiffer: LAYERS * perModule(H, Math.floor(H / 16)), // one per layer, after the FFN
    par_bn: LAYERS * perModule(H, Math.floor(H / 2)), // one per layer, beside the FFN, reduction 2
  };
  for (const model of Object.keys(MODELS) as ModelName[]) {
    it(`${model}: houlsby ${expected.houlsby}, pfeiffer ${expected.pfeiffer}, par_bn ${expected.par_bn}`, () => {
      for (const [preset, spec] of Object.entries(PRESETS) as [keyof typeof PRESETS, () => AdapterSpec<BottleneckConfig>][]) {
        const base = build(model);
        const peft = getPeftModel(base, spec());
        // BERT's classifier head is trained too (SEQ_CLS modules_to_save) only when the task type says so; not here.
        expect(peft.getNbTrainableParameters().trainableParams).toBe(expected[preset]);
        expect(base.numParameters(true)).toBe(expected[preset]);
        peft.dispose();
        base.dispose();
      }
    });
  }
  it("options change it as the formula says: layer norms, learned / channel scaling, gating, leaveOut, per-layer factors", () => {
    const base = build("gpt2");
    const peft = getPeftModel(base, houlsby({ lnBefore: true, lnAfter: true, scaling: "channel", useGating: true, leaveOut: [1], reductionFactor: { "0": 4, default: 8 } }));
    // Layer 0 only (leaveOut 1), two locations, d = 32 / 4 = 8: + 2 LayerNorms (2h each) + channel scaling (h) + gate (h + 1).
    expect(peft.getNbTrainableParameters().trainableParams).toBe(2 * (perModule(H, 8) + 4 * H + H + H + 1));
    peft.dispose();
    base.dispose();
  });
});

describe("training", () => {
  it("moves only adapter parameters; tf.memory().numTensors is flat over 100 steps", async () => {
    const base = build("gpt2");
    const peft = getPeftModel(base, houlsby({ dropout: 0.1, useGating: true, scaling: "channel", lnAfter: true }));
    const frozen = base.namedParameters().filter(([, v]) => !v.trainable).map(([k, v]) => [k, v.dataSync().slice()] as const);
    const trainable = adapterParams(peft).map(([k, v]) => [k, v, v.dataSync().slice()] as const);
    expect(trainable.length).toBeGreaterThan(0);
    expect(peft.trainableParameters().length).toBe(trainable.length);
    const batch = ids();
    const counts: number[] = [];
    const { losses } = await train({
      model: peft,
      lr: 1e-2,
      loss: (b: Tensor) => peft.forward({ inputIds: b, labels: b }).loss as tf.Scalar,
      batches: () => batch,
      steps: 100,
      onStep: () => void counts.push(tf.memory().numTensors),
    });
    expect(new Set(counts.slice(1)).size).toBe(1);
    expect(losses[99]!).toBeLessThan(losses[0]!);
    for (const [k, before] of frozen) expect(Array.from(base.getSubmodule(k.split(".").slice(0, -1).join(".")).getParameter(k.split(".").at(-1)!)!.dataSync()), k).toEqual(Array.from(before));
    for (const [k, v, before] of trainable) expect(maxRel(v.dataSync(), before), k).toBeGreaterThan(0);
    batch.dispose();
    peft.dispose();
    base.dispose();
  });
});

describe("save / load", () => {
  it("writes PEFT's layout with AdapterHub's field names; loading it gives the same outputs exactly", async () => {
    for (const model of Object.keys(MODELS) as ModelName[]) {
      const base = build(model);
      const peft = getPeftModel(base, pfeiffer({ reductionFactor: 8, scaling: "learned" }));
      perturb(peft);
      const want = logits(peft);
      const dir = join(tmp, `save-${model}`);
      await peft.save(dir);
      const json = JSON.parse(readFileSync(join(dir, "adapter_config.json"), "utf8")) as Record<string, unknown>;
      expect(json).toMatchObject({ peft_type: "BOTTLENECK", mh_adapter: false, output_adapter: true, reduction_factor: 8, non_linearity: "relu", original_ln_before: true, scaling: "learned" });
      const keys = Object.keys(JSON.parse(new TextDecoder().decode(readFileSync(join(dir, "adapter_model.safetensors")).subarray(8, 8 + Number(readFileSync(join(dir, "adapter_model.safetensors")).readBigUInt64LE(0))))) as object).filter((k) => k !== "__metadata__");
      const layers = { gpt2: "transformer.h", bert: "bert.encoder.layer", llama: "model.layers" }[model];
      const loc = { gpt2: "mlp_residual", bert: "output.residual", llama: "mlp_residual" }[model];
      expect(keys.sort()).toEqual(
        [0, 1].flatMap((i) => ["adapter_down.0.bias", "adapter_down.0.weight", "adapter_up.bias", "adapter_up.weight", "scaling"].map((p) => `base_model.model.${layers}.${i}.${loc}.${p}`)).sort(),
      );
      const fresh = build(model);
      const loaded = await PeftModel.fromPretrained(fresh, dir, { registry: createRegistry(bottleneckMethod) });
      expect(Array.from(logits(loaded))).toEqual(Array.from(want));
      peft.dispose();
      base.dispose();
      loaded.dispose();
      fresh.dispose();
    }
  });
});

describe("merge", () => {
  it("is refused, saying why (the non-linearity); the types say canMerge is false", () => {
    expectTypeOf(bottleneckMethod.canMerge).toEqualTypeOf<false>();
    const base = build("gpt2");
    const peft = getPeftModel(base, houlsby());
    expect(() => peft.merge()).toThrow(/Adapter "default" \(method "bottleneck"\) cannot be merged into the base weights: bottleneck adapters compute up\(f\(down\(x\)\)\) with a non-linearity/);
    expect(() => peft.mergeAndUnload()).toThrow(/non-linearity/);
    const layer = base.getSubmodule("transformer.h.0.mlp_residual") as BottleneckLayer;
    expect(() => layer.merge(["default"], { safe: false })).toThrow(/non-linearity f between the two projections/);
    peft.dispose();
    base.dispose();
  });
});

describe("several adapters", () => {
  function twoAdapters(): { base: PreTrainedModelLike; peft: PeftModel<PreTrainedModelLike> } {
    const base = build("gpt2");
    const peft = getPeftModel(base, houlsby(), "a");
    peft.addAdapter("b", houlsby({ nonLinearity: "relu", reductionFactor: 8 }));
    perturb(peft, "a", 1);
    perturb(peft, "b", 2);
    return { base, peft };
  }

  it("a list of active adapters is Stack; Average and BatchSplit follow AdapterHub's formulas", () => {
    const { base, peft } = twoAdapters();
    peft.setAdapter(["a", "b"]);
    const stacked = logits(peft);
    setAdapterComposition(peft, new Stack("a", "b"));
    expect(Array.from(logits(peft))).toEqual(Array.from(stacked));
    peft.setAdapter("a");
    const onlyA = logits(peft);
    peft.setAdapter("b");
    const onlyB = logits(peft);
    expect(maxRel(stacked, onlyA)).toBeGreaterThan(1e-3);
    // BatchSplit: row 0 through a, row 1 through b = each adapter alone on its row.
    setAdapterComposition(peft, new BatchSplit(["a", "b"], { batchSizes: [1, 1] }));
    const split = logits(peft);
    const row = split.length / 2;
    expect(maxRel(split.subarray(0, row), onlyA.subarray(0, row))).toBeLessThan(1e-6);
    expect(maxRel(split.subarray(row), onlyB.subarray(row))).toBeLessThan(1e-6);
    // Average with weight [1, 0] normalised: Σ wᵢhᵢ / N halves the adapted block output, so it differs from a alone.
    setAdapterComposition(peft, new Average(["a", "b"], { weights: [1, 0] }));
    expect(maxRel(logits(peft), onlyA)).toBeGreaterThan(1e-3);
    expect(() => setAdapterComposition(peft, new BatchSplit(["a", "b"], { batchSizes: [2, 1] }))).not.toThrow();
    expect(() => logits(peft)).toThrow(/the batch has 2 rows but batchSizes \[2, 1\] sum to 3/);
    peft.dispose();
    base.dispose();
  });

  it("mixed batch: each row through its own adapter (or none)", () => {
    const { base, peft } = twoAdapters();
    peft.setAdapter("a");
    const onlyA = logits(peft);
    const plain = peft.disableAdapters(() => logits(peft));
    const mixed = logits(peft, ["a", "__base__"]);
    const row = mixed.length / 2;
    expect(maxRel(mixed.subarray(0, row), onlyA.subarray(0, row))).toBeLessThan(1e-6);
    expect(maxRel(mixed.subarray(row), plain.subarray(row))).toBeLessThan(1e-6);
    peft.dispose();
    base.dispose();
  });
});

describe("beside LoRA", () => {
  it("a LoRA-wrapped layer inside an adapted block: both act, and merging the LoRA alone keeps the outputs", () => {
    const base = build("gpt2");
    const peft = getPeftModel(base, lora({ r: 4, loraAlpha: 8, targetModules: ["c_fc"], fanInFanOut: true }), "low_rank", { registry: createRegistry(loraMethod, bottleneckMethod) });
    peft.addAdapter("bn", houlsby());
    perturb(peft, "low_rank", 3);
    perturb(peft, "bn", 4);
    peft.setAdapter(["low_rank", "bn"]);
    const both = logits(peft);
    peft.setAdapter("bn");
    const bnOnly = logits(peft);
    peft.setAdapter("low_rank");
    const loraOnly = logits(peft);
    expect(maxRel(both, bnOnly)).toBeGreaterThan(1e-3);
    expect(maxRel(both, loraOnly)).toBeGreaterThan(1e-3);
    // Merging LoRA into c_fc while the bottleneck stays separate gives the same outputs.
    peft.setAdapter(["low_rank", "bn"]);
    peft.merge({ adapterNames: ["low_rank"] });
    expect(maxRel(logits(peft), both)).toBeLessThan(1e-5);
    peft.unmerge();
    expect(base.getSubmodule("transformer.h.0.mlp.c_fc").constructor.name).toBe("LoraLinear");
    expect(base.getSubmodule("transformer.h.0.mlp_residual")).toBeInstanceOf(BottleneckLayer);
    peft.dispose();
    base.dispose();
  });
});

describe("placement", () => {
  it("a new architecture needs a mapping of paths, not code; an unmapped model type is refused naming the fix", () => {
    setSeed(1);
    const toy = new ToyModel();
    expect(() => getPeftModel(toy, houlsby())).toThrow(/no adapter placement is known for model type "toy" .* Pass locations/);
    const before = logits1(toy);
    const peft = getPeftModel(toy, bottleneck({ preset: "pfeiffer", locations: { layers: "blocks", mhAdapter: null, outputAdapter: "ff_residual" } }));
    expect(peft.injectionOf("default").targets).toEqual(["blocks.0.ff_residual", "blocks.1.ff_residual"]);
    perturb(peft);
    expect(maxRel(logits1(peft), before)).toBeGreaterThan(1e-3);
    expect(() => getPeftModel(new ToyModel(), houlsby({ locations: { layers: "blocks", mhAdapter: null, outputAdapter: "ff_residual" } }))).toThrow(/asks for mhAdapter adapters but the placement names no mhAdapter location/);
    expect(() => getPeftModel(new ToyModel(), pfeiffer({ locations: { layers: "blocks", mhAdapter: null, outputAdapter: "ff" } }))).toThrow(
      /"blocks.0.ff" is a Linear, not a residual connection/,
    );
    peft.dispose();
    toy.dispose();
  });

  it("one spec is reused on another architecture; deleting the adapter restores the residual modules", () => {
    const spec = houlsby();
    for (const model of Object.keys(MODELS) as ModelName[]) {
      const base = build(model);
      const before = logits(base);
      const peft = getPeftModel(base, spec);
      perturb(peft);
      expect(maxRel(logits(peft), before)).toBeGreaterThan(1e-3);
      const unloaded = peft.unload();
      expect([...unloaded.namedModules()].some(([, m]) => m instanceof BottleneckLayer)).toBe(false);
      expect(Array.from(logits(unloaded))).toEqual(Array.from(before));
      unloaded.dispose();
    }
  });
});

describe("the LLaMA-style families of @peftjs/models", () => {
  it.each(["mistral", "qwen2", "qwen3", "gemma2", "gemma3_text", "phi3"] as const)("%s: adapters at model.layers.N.{self_attn,mlp}_residual; zero up-projection is exact", (type) => {
    setSeed(2);
    const base = createModel(
      decoderConfig(type, { vocab_size: 50, hidden_size: H, intermediate_size: 64, num_hidden_layers: LAYERS, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 8 }),
    ).eval();
    const before = logits(base);
    const peft = getPeftModel(base, houlsby());
    expect(peft.injectionOf("default").targets).toEqual([0, 1].flatMap((i) => [`model.layers.${i}.self_attn_residual`, `model.layers.${i}.mlp_residual`]));
    perturb(peft);
    expect(maxRel(logits(peft), before)).toBeGreaterThan(1e-3);
    for (const [key, v] of adapterParams(peft)) if (key.includes(".adapter_up.")) v.assign(tf.zerosLike(v));
    expect(Array.from(logits(peft))).toEqual(Array.from(before));
    peft.dispose();
    base.dispose();
  });
});

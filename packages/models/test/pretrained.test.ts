/**
 * Loading and saving folders beyond the transformers fixtures: legacy key names (TF-converted BERT,
 * BertModel / pretraining checkpoints, tied copies), half-precision files, clear errors for missing or
 * wrong files, atomic saves that keep tokenizer files, configs and presets.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { tf, readSafetensors, saveSafetensors, Module, silentLogger } from "@peftjs/core";
import type { Logger, Tensor } from "@peftjs/core";

/** Records info and warn lines (in order) into `into`. */
const recordTo = (into: string[]): Logger => ({ ...silentLogger, info: (m) => into.push(m), warn: (m) => into.push(m) });
import {
  bertConfig,
  configFromJson,
  createModel,
  gpt2Config,
  gpt2ConfigToJson,
  llamaConfig,
  llamaConfigFromJson,
  loadPretrained,
  savePretrained,
} from "../src/index.js";
import type { BertForSequenceClassification, BertModel } from "../src/index.js";
import { caseInputs, disposeInputs, expectClose, fixture, readExpected } from "./helpers.js";

const tmp = mkdtempSync(join(tmpdir(), "peftjs-pretrained-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const newDir = () => join(tmp, `d${n++}`);

/** A copy of a fixture folder whose weights are rewritten by `edit`. */
async function editedCopy(name: string, edit: (t: Map<string, Tensor>) => void): Promise<string> {
  const src = fixture(name);
  const dir = newDir();
  mkdirSync(dir);
  copyFileSync(join(src, "config.json"), join(dir, "config.json"));
  const { tensors } = await readSafetensors(join(src, "model.safetensors"));
  edit(tensors);
  await saveSafetensors(join(dir, "model.safetensors"), tensors, { metadata: { format: "pt" } });
  tf.dispose([...tensors.values()]);
  return dir;
}

function rename(t: Map<string, Tensor>, f: (k: string) => string): void {
  for (const [k, v] of [...t]) {
    t.delete(k);
    t.set(f(k), v);
  }
}

async function firstCaseLogits(dir: string, fixtureName: string, tol: number): Promise<void> {
  const model = await loadPretrained(dir, { logger: silentLogger });
  const c = readExpected(fixture(fixtureName)).cases[0]!;
  const inputs = caseInputs(c);
  expectClose(model.forward(inputs).logits, c.logits, tol);
  disposeInputs(inputs);
  model.dispose();
}

describe("checkpoint key conventions", () => {
  it("GPT-2: accepts lm_head.weight instead of (or beside) the tied wte", async () => {
    const onlyHead = await editedCopy("gpt2", (t) => rename(t, (k) => (k === "transformer.wte.weight" ? "lm_head.weight" : k)));
    await firstCaseLogits(onlyHead, "gpt2", 1e-4);
    const both = await editedCopy("gpt2", (t) => t.set("lm_head.weight", tf.clone(t.get("transformer.wte.weight")!)));
    await firstCaseLogits(both, "gpt2", 1e-4);
  });

  it("BERT: a TF-converted BertModel checkpoint with pretraining heads loads; the classifier is reported as new", async () => {
    const dir = await editedCopy("bert", (t) => {
      for (const k of [...t.keys()]) {
        if (!k.startsWith("classifier.")) continue;
        t.get(k)!.dispose();
        t.delete(k);
      }
      rename(t, (k) => k.replace(/^bert\./, "").replace(/LayerNorm\.weight$/, "LayerNorm.gamma").replace(/LayerNorm\.bias$/, "LayerNorm.beta"));
      t.set("cls.predictions.bias", tf.zeros([96]));
      t.set("embeddings.position_ids", tf.reshape(tf.range(0, 32, 1, "int32"), [1, 32]));
    });
    const warnings: string[] = [];
    const model = (await loadPretrained(dir, { logger: recordTo(warnings) })) as BertForSequenceClassification;
    expect(warnings.join("\n")).toMatch(/dropped the pretraining heads/);
    expect(warnings.join("\n")).toMatch(/newly initialised: classifier\.weight, classifier\.bias/);
    // New heads are drawn like transformers' (N(0, initializer_range) weights, zero bias), not left at zero.
    const head = model.stateDict();
    const { variance } = tf.moments(head.get("classifier.weight")!);
    expect(Math.sqrt(variance.dataSync()[0]!)).toBeGreaterThan(0.1);
    expect(Array.from(head.get("classifier.bias")!.dataSync())).toEqual([0, 0, 0]);
    // The encoder is transformers' exactly: compare its pooled output with the original folder's.
    const original = (await loadPretrained(fixture("bert"))) as BertForSequenceClassification;
    const inputs = caseInputs(readExpected(fixture("bert")).cases[1]!);
    const pooled = (m: BertForSequenceClassification) => (m.getSubmodule("bert") as BertModel).forward(inputs).pooled;
    expectClose(pooled(model), pooled(original).dataSync(), 1e-6);
    disposeInputs(inputs);
    model.dispose();
    original.dispose();
  });

  it("reads half-precision (bfloat16) checkpoints into float32 parameters", async () => {
    const src = fixture("llama");
    const dir = newDir();
    mkdirSync(dir);
    copyFileSync(join(src, "config.json"), join(dir, "config.json"));
    const { tensors } = await readSafetensors(join(src, "model.safetensors"));
    await saveSafetensors(join(dir, "model.safetensors"), tensors, { metadata: { format: "pt" }, floatDtype: "BF16" });
    tf.dispose([...tensors.values()]);
    // bfloat16 keeps 8 bits of mantissa: logits move by ~1e-2 relative, far less than their spread.
    await firstCaseLogits(dir, "llama", 5e-2);
  });
});

describe("load errors name the file and the fix", () => {
  it("missing config.json, missing weights, missing shard, unknown model_type", async () => {
    const empty = newDir();
    mkdirSync(empty);
    await expect(loadPretrained(empty)).rejects.toThrow(new RegExp(`"${join(empty, "config.json")}" not found. peftjs never downloads`));
    copyFileSync(join(fixture("gpt2"), "config.json"), join(empty, "config.json"));
    await expect(loadPretrained(empty)).rejects.toThrow(/neither ".*model\.safetensors" nor ".*model\.safetensors\.index\.json" exists/);
    writeFileSync(join(empty, "pytorch_model.bin"), "");
    await expect(loadPretrained(empty)).rejects.toThrow(/convert it to safetensors/);

    const sharded = newDir();
    mkdirSync(sharded);
    for (const f of readdirSync(fixture("llama_sharded"))) if (!f.startsWith("model-00003")) copyFileSync(join(fixture("llama_sharded"), f), join(sharded, f));
    await expect(loadPretrained(sharded)).rejects.toThrow(/shard ".*model-00003-of-00007\.safetensors" \(listed in model\.safetensors\.index\.json\) not found/);

    const other = newDir();
    mkdirSync(other);
    writeFileSync(join(other, "config.json"), JSON.stringify({ model_type: "t5" }));
    await expect(loadPretrained(other)).rejects.toThrow(/model_type "t5" is not supported; supported: gpt2 \(GPT2LMHeadModel\), bert \(BertForSequenceClassification\), llama \(LlamaForCausalLM\), mistral .* phi3 \(Phi3ForCausalLM\)/);
    // Without model_type, architectures picks the family (transformers' AutoConfig does the same).
    writeFileSync(join(other, "config.json"), JSON.stringify({ architectures: ["T5ForConditionalGeneration"] }));
    await expect(loadPretrained(other)).rejects.toThrow(/has no model_type and its architectures \["T5ForConditionalGeneration"\] name no supported class; supported: gpt2/);
    writeFileSync(join(other, "config.json"), "{ not json");
    await expect(loadPretrained(other)).rejects.toThrow(/is not valid JSON/);
  });

  it("missing weights and unexpected tensors (strict by default)", async () => {
    const lacking = await editedCopy("llama", (t) => {
      t.get("model.norm.weight")!.dispose();
      t.delete("model.norm.weight");
    });
    await expect(loadPretrained(lacking)).rejects.toThrow(/lacks weights of LlamaForCausalLM: model\.norm\.weight/);
    const extra = await editedCopy("llama", (t) => t.set("model.layers.0.self_attn.q_norm.weight", tf.ones([8])));
    await expect(loadPretrained(extra)).rejects.toThrow(/does not use: model\.layers\.0\.self_attn\.q_norm\.weight\. Pass \{ strict: false \}/);
    const warnings: string[] = [];
    const model = await loadPretrained(extra, { strict: false, logger: recordTo(warnings) });
    expect(warnings).toEqual([expect.stringMatching(/ignored the checkpoint has tensors/)]);
    model.dispose();
    const wrongShape = await editedCopy("llama", (t) => {
      t.get("model.norm.weight")!.dispose();
      t.set("model.norm.weight", tf.ones([31]));
    });
    await expect(loadPretrained(wrongShape)).rejects.toThrow(/shape mismatch for "model\.norm\.weight"/);
  });
});

describe("savePretrained", () => {
  it("keeps tokenizer files, replaces an old sharded save, and writes atomically", async () => {
    const dir = newDir();
    mkdirSync(dir);
    for (const f of readdirSync(fixture("llama_sharded"))) copyFileSync(join(fixture("llama_sharded"), f), join(dir, f));
    copyFileSync(join(fixture("tokenizer"), "tokenizer.json"), join(dir, "tokenizer.json"));
    const model = await loadPretrained(fixture("llama"));
    await savePretrained(model, dir);
    const files = readdirSync(dir).sort();
    expect(files).toEqual(["config.json", "expected.json", "generation_config.json", "model.safetensors", "tokenizer.json"]);
    expect(readdirSync(tmp).filter((f) => f.includes(".tmp-") || f.includes(".old-"))).toEqual([]);
    await firstCaseLogits(dir, "llama", 1e-4);
    await savePretrained(model, dir, { keepOtherFiles: false });
    expect(readdirSync(dir).sort()).toEqual(["config.json", "model.safetensors"]);
    model.dispose();
  });

  it("refuses a model with PEFT tuner layers in it", async () => {
    const model = createModel(gpt2Config("tiny"));
    class FakeTuner extends Module {
      readonly isTunerLayer = true;
      forward(x: Tensor): Tensor {
        return x;
      }
    }
    model.setSubmodule("transformer.h.0.attn.c_attn", new FakeTuner());
    const dir = newDir();
    await expect(savePretrained(model, dir)).rejects.toThrow(/tuner layers at transformer\.h\.0\.attn\.c_attn; save the adapter with PeftModel\.save/);
    expect(existsSync(dir)).toBe(false);
    model.dispose();
  });
});

describe("configs and presets", () => {
  it("gpt2 'small' is GPT-2 small; presets take overrides; bad values are named", () => {
    const c = gpt2Config("small");
    expect([c.numHiddenLayers, c.hiddenSize, c.numAttentionHeads, c.maxPositionEmbeddings, c.vocabSize]).toEqual([12, 768, 12, 1024, 50257]);
    expect([c.headDim, c.intermediateSize, c.eosTokenId, c.layerNormEpsilon, c.activationFunction]).toEqual([64, 3072, 50256, 1e-5, "gelu_new"]);
    expect(gpt2Config("tiny", { numHiddenLayers: 3 }).numHiddenLayers).toBe(3);
    expect(() => gpt2Config("tiny", { numAttentionHeads: 5 })).toThrow(/hidden size \(32\) must be a multiple of the number of attention heads \(5\)/);
    expect(() => gpt2Config("huge" as "tiny")).toThrow(/unknown preset "huge"/);
    expect(() => llamaConfig("tiny", { numKeyValueHeads: 3 })).toThrow(/num_attention_heads \(4\) must be a multiple of num_key_value_heads \(3\)/);
    expect(bertConfig("base").layerNormEps).toBe(1e-12);
    expect(bertConfig("tiny", { labels: ["neg", "pos"] }).numLabels).toBe(2);
  });

  it("parameter counts follow the architectures' formulas", () => {
    const g = createModel(gpt2Config("tiny"));
    const [V, P, H, L, I] = [128, 64, 32, 2, 128];
    const block = 2 * 2 * H + (H * 3 * H + 3 * H) + (H * H + H) + (H * I + I) + (I * H + H);
    expect(g.numParameters()).toBe(V * H + P * H + L * block + 2 * H);
    g.dispose();
    const l = createModel(llamaConfig("tiny"));
    const [kv, d, i] = [2, 8, 64];
    expect(l.numParameters()).toBe(128 * H * 2 + 2 * (2 * H * H + 2 * H * kv * d + 3 * H * i + 2 * H) + H);
    l.dispose();
  });

  it("round-trips config.json, keeping unknown fields, and reads transformers 4's rope_theta", () => {
    const json = { ...gpt2ConfigToJson(gpt2Config("tiny")), summary_type: "cls_index" };
    const back = configFromJson(json);
    expect(gpt2ConfigToJson(back as ReturnType<typeof gpt2Config>)).toEqual(json);
    const old = JSON.parse(readFileSync(join(fixture("llama"), "config.json"), "utf8")) as Record<string, unknown>;
    delete old.rope_parameters;
    expect(llamaConfigFromJson({ ...old, rope_theta: 1234, rope_scaling: null }).ropeTheta).toBe(1234);
    expect(llamaConfigFromJson({ ...old }).ropeTheta).toBe(10000);
    expect(() => llamaConfigFromJson({ ...old, rope_parameters: { rope_type: "llama3", factor: 8 } })).toThrow(/rope_type "llama3" needs "low_freq_factor"/);
    expect(() => llamaConfigFromJson({ ...old, rope_parameters: { rope_type: "ntk-by-parts", factor: 8 } })).toThrow(/rope_type "ntk-by-parts" is not supported here; supported: default, linear, dynamic, llama3, yarn, longrope/);
    expect(() => configFromJson({ model_type: "gpt2", n_embd: "wide" }, "x/config.json")).toThrow(/x\/config\.json: field "n_embd" must be a positive integer, got "wide"/);
  });
});

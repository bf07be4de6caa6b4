/**
 * Adapters made by Python PEFT 0.21 (packages/lora/scripts/make_fixtures.py, run on the GPU host) load here
 * onto the same base (saved by transformers) and give PEFT's logits: unmerged, merged, and after
 * mergeAndUnload. Also PiSSA's initialisation against PEFT's (torch.linalg.svd). A missing fixture fails.
 */
import { describe, it, expect } from "vitest";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { tf, PeftModel, createRegistry, Linear, Conv1D, silentLogger } from "@peftjs/core";
import type { Tensor } from "@peftjs/core";
import { loadPretrained } from "@peftjs/models";
import type { PretrainedModel } from "@peftjs/models";
import { loraMethod, LoraLinear } from "../src/index.js";
import { relErr, maxAbsDiff } from "./reference.js";

const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));
const TOLERANCE = 1e-4;
const registry = createRegistry(loraMethod);

interface Expected {
  case: string;
  base: string;
  task: "CAUSAL_LM" | "SEQ_CLS";
  input_ids: number[][];
  attention_mask: number[][];
  logits: unknown;
  merged_logits: unknown;
  base_logits: unknown;
}

const CASES = ["gpt2_lora", "llama_rslora", "llama_dora", "llama_embedding", "gpt2_bias_all", "bert_lora_only", "gpt2_dora_conv1d", "llama_dora_embedding"];

function readJson<T>(path: string): T {
  if (!existsSync(path)) {
    throw new Error(`Missing fixture ${path}. Run packages/lora/scripts/make_fixtures.py OUTDIR on a host with torch/transformers/peft and unpack OUTDIR into packages/lora/test/fixtures/ (scripts/gpu/make-fixtures.sh + unpack-fixtures.sh).`);
  }
  return JSON.parse(readFileSync(path, "utf8")) as T;
}

/** Nested logits (any depth) → a flat list, row-major. */
function flat(nested: unknown): number[] {
  return Array.isArray(nested) ? nested.flatMap((x) => flat(x)) : [nested as number];
}

function run(model: { forward(i: { inputIds: Tensor; attentionMask: Tensor }): { logits: Tensor } }, e: Expected): Float32Array {
  return tf.tidy(() => {
    const inputIds = tf.tensor2d(e.input_ids, undefined, "int32");
    const attentionMask = tf.tensor2d(e.attention_mask, undefined, "int32");
    return model.forward({ inputIds, attentionMask }).logits;
  }).dataSync() as Float32Array;
}

describe("Python PEFT adapters load here with PEFT's logits", () => {
  it.each(CASES)("%s", async (name) => {
    const dir = join(FIXTURES, name);
    const expected = readJson<Expected>(join(dir, "expected.json"));
    const base: PretrainedModel = await loadPretrained(join(FIXTURES, expected.base));
    // The base model is the same as PEFT's before any adapter.
    expect(relErr(run(base, expected), flat(expected.base_logits))).toBeLessThan(TOLERANCE);

    // PEFT also saves an Embedding/lm_head target's base weight (…embed_tokens.base_layer.weight,
    // save_embedding_layers="auto"); PeftModel loads it into the base model, as PEFT does.
    const peft = await PeftModel.fromPretrained(base, dir, { registry, logger: silentLogger });
    peft.eval();
    const unmerged = run(peft, expected);
    expect(relErr(unmerged, flat(expected.logits))).toBeLessThan(TOLERANCE);

    peft.merge({ safe: true });
    expect(relErr(run(peft, expected), flat(expected.merged_logits))).toBeLessThan(TOLERANCE);
    peft.unmerge();
    expect(relErr(run(peft, expected), unmerged)).toBeLessThan(1e-5);

    const plain = peft.mergeAndUnload();
    expect(relErr(run(plain, expected), flat(expected.merged_logits))).toBeLessThan(TOLERANCE);
    plain.dispose();
  });
});

interface PissaExpected {
  layer: string;
  layout: "out_in" | "in_out";
  r: number;
  lora_alpha: number;
  scaling: number;
  weight: number[][];
  residual_weight: number[][];
  delta: number[][];
}

describe("PiSSA initialisation matches PEFT's", () => {
  it.each(["pissa_llama", "pissa_gpt2"])("%s", (name) => {
    const e = readJson<PissaExpected>(join(FIXTURES, name, "expected.json"));
    const w = tf.tensor2d(e.weight);
    const [rows, cols] = [e.weight.length, e.weight[0]!.length];
    const base = e.layout === "out_in" ? new Linear(cols, rows, { weight: w }) : new Conv1D(rows, cols, { weight: w });
    w.dispose();
    const layer = new LoraLinear(base);
    layer.updateLayer("default", { r: e.r, loraAlpha: e.lora_alpha, loraDropout: 0, useRslora: false, useDora: false, initLoraWeights: "pissa" });
    expect(layer.scaling("default")).toBeCloseTo(e.scaling, 12);
    const delta = tf.tidy(() => tf.mul(tf.matMul(layer.loraB("default"), layer.loraA("default")), layer.scaling("default")));
    const scale = Math.max(...e.weight.flat().map(Math.abs));
    expect(maxAbsDiff(delta.dataSync(), e.delta.flat()) / scale).toBeLessThan(1e-5);
    expect(maxAbsDiff(base.weight.dataSync(), e.residual_weight.flat()) / scale).toBeLessThan(1e-5);
    delta.dispose();
    layer.dispose();
  });
});

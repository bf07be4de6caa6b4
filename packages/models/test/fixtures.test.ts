/**
 * Models made by transformers 5 (scripts/make_fixtures.py: tiny random-init GPT2LMHeadModel,
 * BertForSequenceClassification, LlamaForCausalLM with GQA, saved with save_pretrained) load here and give
 * transformers' logits and loss (relative error ≤ 1e-4 in float32 on the cpu backend), and its greedy tokens
 * with and without the KV cache. Saving here and loading again round-trips the same file keys.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { tf, readSafetensorsHeader } from "@peftjs/core";
import { generate, loadPretrained, savePretrained, BertForSequenceClassification, GPT2LMHeadModel, LlamaForCausalLM } from "../src/index.js";
import type { PretrainedModel } from "../src/index.js";
import { caseInputs, disposeInputs, expectClose, fixture, readExpected } from "./helpers.js";

const TOL = 1e-4;
const tmp = mkdtempSync(join(tmpdir(), "peftjs-models-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function checkCases(model: PretrainedModel, dir: string): void {
  for (const c of readExpected(dir).cases) {
    const inputs = caseInputs(c);
    const out = model.forward(inputs);
    expect(out.logits.shape).toEqual(shapeOf(c.logits));
    expectClose(out.logits, c.logits, TOL);
    if (c.loss !== null) {
      expect(out.loss).toBeDefined();
      expect(Math.abs(out.loss!.dataSync()[0]! - c.loss) / Math.abs(c.loss)).toBeLessThanOrEqual(TOL);
    }
    out.logits.dispose();
    out.loss?.dispose();
    disposeInputs(inputs);
  }
}

function shapeOf(x: unknown): number[] {
  const shape: number[] = [];
  let v = x;
  while (Array.isArray(v)) {
    shape.push(v.length);
    v = v[0];
  }
  return shape;
}

describe.each([
  ["gpt2", GPT2LMHeadModel],
  ["gpt2_prefixless", GPT2LMHeadModel],
  ["bert", BertForSequenceClassification],
  ["llama", LlamaForCausalLM],
  ["llama_sharded", LlamaForCausalLM],
] as const)("transformers fixture %s", (name, cls) => {
  it("loads and matches transformers' logits and loss", async () => {
    const dir = fixture(name);
    const model = await loadPretrained(dir);
    expect(model).toBeInstanceOf(cls);
    expect(model.training).toBe(false);
    checkCases(model, dir);
    model.dispose();
  });

  it("generates transformers' greedy tokens with and without the KV cache", async () => {
    const dir = fixture(name);
    const gens = readExpected(dir).generate ?? [];
    if (cls === BertForSequenceClassification) {
      expect(gens).toEqual([]);
      return;
    }
    expect(gens.length).toBeGreaterThan(0);
    const model = await loadPretrained(dir);
    for (const g of gens) {
      const ids = tf.tensor2d(g.input_ids, undefined, "int32");
      for (const useCache of [true, false]) {
        const before = tf.memory().numTensors;
        const tokens = await generate(model, ids, { maxNewTokens: g.max_new_tokens, eosTokenId: g.eos_token_id, useCache });
        expect(tf.memory().numTensors).toBe(before + 1);
        expect(tokens.arraySync()).toEqual(g.tokens);
        tokens.dispose();
      }
      ids.dispose();
    }
    model.dispose();
  });
});

describe("per-class fromPretrained", () => {
  it("loads with the class's own loader and refuses another architecture's folder", async () => {
    const model = await LlamaForCausalLM.fromPretrained(fixture("llama"));
    checkCases(model, fixture("llama"));
    model.dispose();
    await expect(GPT2LMHeadModel.fromPretrained(fixture("llama"))).rejects.toThrow(/model_type "llama", expected "gpt2"/);
  });
});

describe.each(["gpt2", "bert", "llama"])("save → load round trip (%s)", (name) => {
  it("writes the keys transformers wrote, a config transformers reads, and reloads to the same logits", async () => {
    const src = fixture(name);
    const model = await loadPretrained(src);
    const out = join(tmp, name);
    await savePretrained(model, out);
    // Same tensor names, dtypes and shapes as transformers' own save (tied lm_head left out for GPT-2).
    const ours = await readSafetensorsHeader(join(out, "model.safetensors"));
    const theirs = await readSafetensorsHeader(join(src, "model.safetensors"));
    expect([...ours.tensors.keys()].sort()).toEqual([...theirs.tensors.keys()].sort());
    for (const [k, info] of theirs.tensors) {
      expect(ours.tensors.get(k)!.shape).toEqual(info.shape);
      expect(ours.tensors.get(k)!.dtype).toBe(info.dtype);
    }
    expect(ours.metadata).toEqual({ format: "pt" });
    // Every field transformers wrote survives (unknown ones included).
    const cfgOurs = JSON.parse(readFileSync(join(out, "config.json"), "utf8")) as Record<string, unknown>;
    const cfgTheirs = JSON.parse(readFileSync(join(src, "config.json"), "utf8")) as Record<string, unknown>;
    for (const [k, v] of Object.entries(cfgTheirs)) expect(cfgOurs[k], k).toEqual(v);

    const again = await loadPretrained(out);
    checkCases(again, src);
    again.dispose();
    model.dispose();
  });
});

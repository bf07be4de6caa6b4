/**
 * The LLaMA-style families and RoPE variants against transformers 5.17 (scripts/make_family_fixtures.py:
 * tiny random models saved by save_pretrained, in float32 / bfloat16 / float16, one sharded): each loads
 * through `loadPretrained` as its transformers class, gives transformers' logits and loss on a plain and a
 * right-padded batch (relative error ≤ 1e-4, cpu backend), and transformers' greedy tokens for a prompt and
 * a left-padded batch, with the KV cache and without (compared with transformers' own use_cache=False run:
 * dynamic RoPE and LongRoPE differ between the two there as well). Saving here writes transformers' keys and
 * config fields and reloads to the same logits.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { tf, readSafetensorsHeader } from "@peftjs/core";
import { generate, loadPretrained, savePretrained } from "../src/index.js";
import type { PretrainedModel } from "../src/index.js";
import { caseInputs, disposeInputs, expectClose, fixture, readExpected } from "./helpers.js";

const TOL = 1e-4;
const tmp = mkdtempSync(join(tmpdir(), "peftjs-families-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const NAMES = [
  "llama_linear",
  "llama_dynamic",
  "llama_llama3",
  "llama_yarn",
  "llama_tied_bf16",
  "qwen2",
  "qwen3",
  "mistral",
  "gemma2",
  "gemma3_text",
  "phi3",
  "phi3_longrope",
];

interface FamilyExpected {
  architecture: string;
  saved_dtype: "float32" | "bfloat16" | "float16";
  generate: { input_ids: number[][]; attention_mask: number[][] | null; max_new_tokens: number; eos_token_id: number; tokens: number[][]; tokens_no_cache: number[][] }[];
}

const dir = (name: string): string => fixture(`families/${name}`);

function maxCaseError(model: PretrainedModel, fixtureDir: string): number {
  let worst = 0;
  for (const c of readExpected(fixtureDir).cases) {
    const inputs = caseInputs(c);
    const out = model.forward(inputs);
    worst = Math.max(worst, expectClose(out.logits, c.logits, TOL));
    expect(Math.abs(out.loss!.dataSync()[0]! - c.loss!) / Math.abs(c.loss!)).toBeLessThanOrEqual(TOL);
    out.logits.dispose();
    out.loss?.dispose();
    disposeInputs(inputs);
  }
  return worst;
}

it("the fixture list covers every folder", () => {
  expect(readdirSync(fixture("families")).sort()).toEqual([...NAMES].sort());
});

describe.each(NAMES)("transformers family fixture %s", (name) => {
  it("loads as its transformers class and matches transformers' logits and loss", async () => {
    const expected = JSON.parse(readFileSync(join(dir(name), "expected.json"), "utf8")) as FamilyExpected;
    const model = await loadPretrained(dir(name));
    expect(model.constructor.name).toBe(expected.architecture);
    const err = maxCaseError(model, dir(name));
    expect(err).toBeLessThanOrEqual(TOL);
    model.dispose();
  });

  it("generates transformers' greedy tokens with and without the KV cache", async () => {
    const expected = JSON.parse(readFileSync(join(dir(name), "expected.json"), "utf8")) as FamilyExpected;
    const model = await loadPretrained(dir(name));
    for (const g of expected.generate) {
      const ids = tf.tensor2d(g.input_ids, undefined, "int32");
      const mask = g.attention_mask === null ? undefined : tf.tensor2d(g.attention_mask, undefined, "int32");
      for (const useCache of [true, false]) {
        const before = tf.memory().numTensors;
        const tokens = await generate(model, ids, { maxNewTokens: g.max_new_tokens, eosTokenId: g.eos_token_id, padTokenId: 0, useCache, ...(mask ? { attentionMask: mask } : {}) });
        expect(tf.memory().numTensors).toBe(before + 1);
        expect(tokens.arraySync(), `useCache ${useCache}`).toEqual(useCache ? g.tokens : g.tokens_no_cache);
        tokens.dispose();
      }
      tf.dispose([ids, ...(mask ? [mask] : [])]);
    }
    model.dispose();
  });

  it("saves transformers' keys and config fields and reloads to the same logits", async () => {
    const src = dir(name);
    const expected = JSON.parse(readFileSync(join(src, "expected.json"), "utf8")) as FamilyExpected;
    const model = await loadPretrained(src);
    const out = join(tmp, name);
    await savePretrained(model, out);
    const ours = await readSafetensorsHeader(join(out, "model.safetensors"));
    const index = join(src, "model.safetensors.index.json");
    const theirKeys = readdirSync(src).includes("model.safetensors.index.json")
      ? Object.keys((JSON.parse(readFileSync(index, "utf8")) as { weight_map: Record<string, string> }).weight_map)
      : [...(await readSafetensorsHeader(join(src, "model.safetensors"))).tensors.keys()];
    expect([...ours.tensors.keys()].sort()).toEqual(theirKeys.sort());
    if (!theirKeys.length) throw new Error("no keys");
    if (expected.saved_dtype !== "float32") {
      // The checkpoint really is half precision (so the test covers the cast on load).
      const header = await readSafetensorsHeader(join(src, "model.safetensors"));
      expect([...header.tensors.values()][0]!.dtype).toBe(expected.saved_dtype === "bfloat16" ? "BF16" : "F16");
    }
    const cfgOurs = JSON.parse(readFileSync(join(out, "config.json"), "utf8")) as Record<string, unknown>;
    const cfgTheirs = JSON.parse(readFileSync(join(src, "config.json"), "utf8")) as Record<string, unknown>;
    for (const [k, v] of Object.entries(cfgTheirs)) {
      if (k === "dtype") continue; // ours are float32 weights
      expect(cfgOurs[k], k).toEqual(v);
    }
    const again = await loadPretrained(out);
    expect(again.constructor.name).toBe(expected.architecture);
    maxCaseError(again, src);
    again.dispose();
    model.dispose();
  });
});

describe("Phi-3 LongRoPE generation past original_max_position_embeddings", () => {
  it("recomputes the cache when the factors switch, so cached and uncached tokens agree", async () => {
    // transformers 5.17 drops the cache here but then feeds only the newest token (see
    // make_family_fixtures.py); we recompute the whole sequence, as its prepare_inputs_for_generation intends.
    const model = await loadPretrained(dir("phi3_longrope"));
    const ids = tf.tensor2d([[5, 17, 42]], undefined, "int32");
    const cached = await generate(model, ids, { maxNewTokens: 6, eosTokenId: null });
    const uncached = await generate(model, ids, { maxNewTokens: 6, eosTokenId: null, useCache: false });
    expect(cached.arraySync()).toEqual(uncached.arraySync());
    tf.dispose([ids, cached, uncached]);
    model.dispose();
  });
});

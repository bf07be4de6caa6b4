/**
 * LoRA on the LLaMA-style families (Qwen2, Qwen3, Mistral, Gemma 2, Gemma 3, Phi-3): adapters made by PEFT
 * 0.21 (scripts/make_family_fixtures.py, on @peftjs/models' transformers fixtures, with PEFT's default
 * target_modules; Phi-3's fused qkv_proj / gate_up_proj) load here with PEFT's logits, unmerged and merged;
 * and with no targetModules LoRA picks the same modules PEFT picked (core's copy of PEFT's table).
 */
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { tf, PeftModel, createRegistry, getPeftModel, readSafetensorsHeader, silentLogger } from "@peftjs/core";
import type { Tensor } from "@peftjs/core";
import { loadPretrained } from "@peftjs/models";
import { lora, loraMethod } from "../src/index.js";
import { relErr } from "./reference.js";

const FIXTURES = fileURLToPath(new URL("./fixtures/families/", import.meta.url));
const BASES = fileURLToPath(new URL("../../models/test/fixtures/families/", import.meta.url));
const TOLERANCE = 1e-4;
const registry = createRegistry(loraMethod);
const FAMILIES = ["qwen2", "qwen3", "mistral", "gemma2", "gemma3_text", "phi3"];

interface Expected {
  target_modules: string[];
  input_ids: number[][];
  attention_mask: number[][];
  base_logits: unknown;
  logits: unknown;
  merged_logits: unknown;
}

function flat(nested: unknown): number[] {
  return Array.isArray(nested) ? nested.flatMap((x) => flat(x)) : [nested as number];
}

function run(model: { forward(i: { inputIds: Tensor; attentionMask: Tensor }): { logits: Tensor } }, e: Expected): Float32Array {
  return tf.tidy(() => model.forward({ inputIds: tf.tensor2d(e.input_ids, undefined, "int32"), attentionMask: tf.tensor2d(e.attention_mask, undefined, "int32") }).logits).dataSync() as Float32Array;
}

describe.each(FAMILIES)("PEFT LoRA adapter on %s", (family) => {
  const dir = join(FIXTURES, family);
  const expected = JSON.parse(readFileSync(join(dir, "expected.json"), "utf8")) as Expected;

  it("loads here with PEFT's logits (unmerged and merged)", async () => {
    const base = await loadPretrained(join(BASES, family));
    expect(relErr(run(base, expected), flat(expected.base_logits))).toBeLessThan(TOLERANCE);
    const peft = await PeftModel.fromPretrained(base, dir, { registry, logger: silentLogger });
    peft.eval();
    expect(relErr(run(peft, expected), flat(expected.logits))).toBeLessThan(TOLERANCE);
    const plain = peft.mergeAndUnload();
    expect(relErr(run(plain, expected), flat(expected.merged_logits))).toBeLessThan(TOLERANCE);
    plain.dispose();
  });

  it("without targetModules, targets what PEFT targeted by default (Phi-3: none, as in PEFT)", async () => {
    const base = await loadPretrained(join(BASES, family));
    if (family === "phi3") {
      expect(() => getPeftModel(base, lora({ r: 4, loraAlpha: 8 }), "default", { logger: silentLogger })).toThrow(/PEFT has no default for model type "phi3".*qkv_proj/);
      base.dispose();
      return;
    }
    const peft = getPeftModel(base, lora({ r: 4, loraAlpha: 8 }), "default", { logger: silentLogger });
    const files = peft.adapterFiles();
    const ours = (JSON.parse(files["adapter_config.json"] as string) as { target_modules: string[] }).target_modules;
    expect([...ours].sort()).toEqual(expected.target_modules);
    const theirs = await readSafetensorsHeader(join(dir, "adapter_model.safetensors"));
    const weights = files["adapter_model.safetensors"] as Uint8Array;
    const headerLength = Number(new DataView(weights.buffer, weights.byteOffset).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(weights.subarray(8, 8 + headerLength))) as Record<string, unknown>;
    expect(Object.keys(header).filter((k) => k !== "__metadata__").sort()).toEqual([...theirs.tensors.keys()].sort());
    peft.dispose();
  });
});

/**
 * LoRA adapters trained here on the LLaMA-style family fixtures of @peftjs/models, for Python PEFT to load
 * (the same check_export.py as export-for-check.ts):
 *
 *   node --conditions=@peftjs/source --import tsx packages/lora/scripts/export-families-for-check.ts OUTDIR
 *   /work/pyref/bin/python packages/lora/scripts/check_export.py OUTDIR   # torch 2.13 CPU, transformers 5.17, peft 0.21
 *
 * Per family: OUTDIR/base_<family>/ (the transformers fixture, re-saved by savePretrained) and
 * OUTDIR/<family>_lora/ (adapter_config.json + adapter_model.safetensors, PeftModel.save, after 8 training
 * steps; targetModules unset, so PEFT's default for the model type — Phi-3 has none and names its fused
 * qkv_proj / gate_up_proj) with expected.json {case, base, task, input_ids, attention_mask (row 1
 * right-padded), logits, merged_logits, losses}.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { tf, setSeed, getPeftModel, silentLogger, train } from "@peftjs/core";
import { loadPretrained, savePretrained } from "@peftjs/models";
import { lora } from "../src/index.js";

const BASES = fileURLToPath(new URL("../../models/test/fixtures/families/", import.meta.url));
const FAMILIES = ["qwen2", "qwen3", "mistral", "gemma2", "gemma3_text", "phi3"];
const INPUT_IDS = [
  [5, 17, 42, 3, 88, 61, 9],
  [71, 2, 33, 94, 14, 50, 27],
];
const ATTENTION_MASK = [
  [1, 1, 1, 1, 1, 1, 1],
  [1, 1, 1, 1, 1, 0, 0],
];

function logits(model: { forward(i: { inputIds: tf.Tensor; attentionMask: tf.Tensor }): { logits: tf.Tensor } }): unknown {
  return tf.tidy(() => model.forward({ inputIds: tf.tensor2d(INPUT_IDS, undefined, "int32"), attentionMask: tf.tensor2d(ATTENTION_MASK, undefined, "int32") }).logits).arraySync();
}

async function main(): Promise<void> {
  const outDir = process.argv[2];
  if (outDir === undefined) throw new Error("usage: export-families-for-check.ts OUTDIR");
  setSeed(20240611);
  for (const family of FAMILIES) {
    const fixtureModel = await loadPretrained(join(BASES, family));
    const baseDir = join(outDir, `base_${family}`);
    await savePretrained(fixtureModel, baseDir, { keepOtherFiles: false });
    fixtureModel.dispose();
    // Start from our saved base: its weights are exactly what transformers will load.
    const base = await loadPretrained(baseDir);
    const targetModules = family === "phi3" ? ["qkv_proj", "gate_up_proj"] : undefined;
    const peft = getPeftModel(base, lora({ r: 4, loraAlpha: 8, ...(targetModules ? { targetModules } : {}) }), "default", { logger: silentLogger });
    const inputIds = tf.tensor2d(INPUT_IDS, undefined, "int32");
    const attentionMask = tf.tensor2d(ATTENTION_MASK, undefined, "int32");
    const labels = tf.tensor2d(
      INPUT_IDS.map((r, i) => r.map((x, j) => (ATTENTION_MASK[i]![j] === 0 ? -100 : x))),
      undefined,
      "int32",
    );
    peft.train();
    const result = await train({
      model: peft,
      loss: () => peft.forward({ inputIds, attentionMask, labels }).loss as tf.Scalar,
      batches: () => null,
      steps: 8,
      lr: 2e-2,
      maxGradNorm: null,
      seed: 7,
    });
    peft.eval();
    const name = `${family}_lora`;
    const dir = join(outDir, name);
    await peft.save(dir);
    const ours = logits(peft);
    const merged = logits(peft.mergeAndUnload());
    writeFileSync(
      join(dir, "expected.json"),
      JSON.stringify({ case: name, base: `base_${family}`, task: "CAUSAL_LM", input_ids: INPUT_IDS, attention_mask: ATTENTION_MASK, logits: ours, merged_logits: merged, losses: result.losses }),
    );
    tf.dispose([inputIds, attentionMask, labels]);
    base.dispose();
    console.log(`wrote ${dir} (loss ${result.losses[0]!.toFixed(4)} → ${result.losses.at(-1)!.toFixed(4)})`);
  }
}

await main();

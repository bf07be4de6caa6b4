/**
 * Makes LoRA / rsLoRA / DoRA adapters here, trains each a few steps (so no weight is at its initial value),
 * and saves base models + adapters + our logits for `check_export.py` to load in Python PEFT.
 *
 *   node --conditions=@peftjs/source --import tsx packages/lora/scripts/export-for-check.ts OUTDIR
 *   python3 packages/lora/scripts/check_export.py OUTDIR        # on the host with torch/transformers/peft
 *
 * Writes OUTDIR/base_<arch>/ (config.json + model.safetensors, @peftjs/models' savePretrained) and, per case,
 * OUTDIR/<case>/ (adapter_config.json + adapter_model.safetensors, PeftModel.save) with expected.json:
 * {case, base, task, input_ids, attention_mask, logits (adapter active, eval), merged_logits (after
 * mergeAndUnload), notes}.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tf, setSeed, nextSeed, getPeftModel, silentLogger, train } from "@peftjs/core";
import type { AdapterSpec } from "@peftjs/core";
import { bertConfig, createModel, gpt2Config, llamaConfig, loadPretrained, savePretrained } from "@peftjs/models";
import type { ModelConfig, PretrainedModel } from "@peftjs/models";
import { lora } from "../src/index.js";
import type { LoraOptions } from "../src/index.js";

const VOCAB = 96;
const INPUT_IDS = [
  [5, 17, 42, 3, 88, 61, 9],
  [71, 2, 33, 95, 14, 50, 27],
];
const ATTENTION_MASK = INPUT_IDS.map((row) => row.map(() => 1));

const BASES: Record<string, ModelConfig> = {
  gpt2: gpt2Config("tiny", { vocabSize: VOCAB, maxPositionEmbeddings: 32, initializerRange: 0.1 }),
  llama: llamaConfig("tiny", { vocabSize: VOCAB, maxPositionEmbeddings: 64, initializerRange: 0.1 }),
  bert: bertConfig("tiny", { vocabSize: VOCAB, maxPositionEmbeddings: 32, initializerRange: 0.1, numLabels: 3 }),
};

interface Case {
  arch: keyof typeof BASES;
  options: LoraOptions;
  notes: string;
}

const CASES: Record<string, Case> = {
  gpt2_lora: { arch: "gpt2", options: { r: 4, loraAlpha: 8, loraDropout: 0.05, targetModules: ["c_attn", "c_proj", "c_fc"] }, notes: "LoRA on GPT-2 Conv1D layers" },
  gpt2_dora: { arch: "gpt2", options: { r: 4, loraAlpha: 8, useDora: true, targetModules: ["c_attn", "c_fc"] }, notes: "DoRA on Conv1D layers" },
  gpt2_bias_all: { arch: "gpt2", options: { r: 2, loraAlpha: 4, targetModules: ["c_attn"], bias: "all" }, notes: 'bias="all" (every bias trained and saved)' },
  llama_rslora: {
    arch: "llama",
    options: {
      r: 4,
      loraAlpha: 8,
      useRslora: true,
      targetModules: ["q_proj", "k_proj", "v_proj", "o_proj"],
      rankPattern: { o_proj: 2, "model.layers.1.self_attn.k_proj": 6 },
      alphaPattern: { v_proj: 16 },
    },
    notes: "rsLoRA with rank_pattern / alpha_pattern",
  },
  llama_dora: { arch: "llama", options: { r: 4, loraAlpha: 8, useDora: true, targetModules: ["q_proj", "v_proj", "up_proj"] }, notes: "DoRA on Linear layers" },
  llama_embedding: { arch: "llama", options: { r: 4, loraAlpha: 4, targetModules: ["embed_tokens", "q_proj"], modulesToSave: ["lm_head"] }, notes: "LoRA on an Embedding + Linear, lm_head in modules_to_save" },
  llama_dora_embedding: { arch: "llama", options: { r: 4, loraAlpha: 8, useDora: true, targetModules: ["embed_tokens", "v_proj"] }, notes: "DoRA on an Embedding + Linear" },
  bert_lora_only: {
    arch: "bert",
    options: { r: 4, loraAlpha: 8, targetModules: ["query", "value"], bias: "lora_only", taskType: "SEQ_CLS" },
    notes: 'SEQ_CLS (classifier saved in full), bias="lora_only"',
  },
};

/** Norm weights and biases get noise so that a dropped or swapped one shows in the logits. */
function perturbVectors(model: PretrainedModel): void {
  for (const [, v] of model.namedParameters()) {
    if (v.rank === 1) tf.tidy(() => v.assign(tf.add(v, tf.randomNormal(v.shape, 0, 0.1, "float32", nextSeed()))));
  }
}

function logits(model: { forward(i: { inputIds: tf.Tensor; attentionMask: tf.Tensor }): { logits: tf.Tensor } }): unknown {
  return tf.tidy(() =>
    model.forward({ inputIds: tf.tensor2d(INPUT_IDS, undefined, "int32"), attentionMask: tf.tensor2d(ATTENTION_MASK, undefined, "int32") }).logits,
  ).arraySync();
}

async function main(): Promise<void> {
  const outDir = process.argv[2];
  if (outDir === undefined) throw new Error("usage: export-for-check.ts OUTDIR");
  setSeed(20240607);
  for (const [arch, config] of Object.entries(BASES)) {
    const model = createModel(config).eval();
    perturbVectors(model);
    await savePretrained(model, join(outDir, `base_${arch}`), { keepOtherFiles: false });
    model.dispose();
    console.log(`wrote ${join(outDir, `base_${arch}`)}`);
  }

  for (const [name, c] of Object.entries(CASES)) {
    // Start from the saved base, so that our weights are exactly what transformers will load.
    const base = await loadPretrained(join(outDir, `base_${c.arch}`));
    const spec: AdapterSpec = lora({ ...c.options, initLoraWeights: true });
    const peft = getPeftModel(base, spec, "default", { logger: silentLogger });
    const inputIds = tf.tensor2d(INPUT_IDS, undefined, "int32");
    const labels = c.arch === "bert" ? tf.tensor1d([0, 2], "int32") : inputIds;
    peft.train();
    const result = await train({
      model: peft,
      loss: () => peft.forward({ inputIds, labels }).loss as tf.Scalar,
      batches: () => null,
      steps: 8,
      lr: 2e-2,
      maxGradNorm: null,
      seed: 7,
    });
    peft.eval();
    const dir = join(outDir, name);
    await peft.save(dir);
    const ours = logits(peft);
    const merged = logits(peft.mergeAndUnload());
    writeFileSync(
      join(dir, "expected.json"),
      JSON.stringify({
        case: name,
        base: `base_${c.arch}`,
        task: c.arch === "bert" ? "SEQ_CLS" : "CAUSAL_LM",
        input_ids: INPUT_IDS,
        attention_mask: ATTENTION_MASK,
        logits: ours,
        merged_logits: merged,
        losses: result.losses,
        notes: c.notes,
      }),
    );
    tf.dispose(labels === inputIds ? [inputIds] : [inputIds, labels]);
    base.dispose();
    console.log(`wrote ${dir} (loss ${result.losses[0]!.toFixed(4)} → ${result.losses.at(-1)!.toFixed(4)})`);
  }
}

await main();

/**
 * Trains prompt-tuning / prefix-tuning / P-tuning adapters here (a few steps, so no value is at its
 * initialisation), saves them with `PeftModel.save`, and writes our logits and greedy tokens for
 * `check_export.py` to compare with Python PEFT:
 *
 *   node --conditions=@peftjs/source --import tsx packages/prompt-tuning/scripts/export-for-check.ts OUTDIR
 *   /work/pyref/bin/python packages/prompt-tuning/scripts/check_export.py OUTDIR
 *
 * The base models are the committed fixture bases (test/fixtures/base_*), named by absolute path in each
 * OUTDIR/<case>/expected.json: {case, base, task, input_ids, attention_mask, logits, generate, notes}.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { getPeftModel, setSeed, tf, train } from "@peftjs/core";
import type { AdapterSpec, ModelInputs, PreTrainedModelLike } from "@peftjs/core";
import { generate, loadPretrained, loadTokenizer } from "@peftjs/models";
import { pTuning, prefixTuning, promptTuning } from "../src/index.js";

const FIXTURES = fileURLToPath(new URL("../test/fixtures", import.meta.url));
const INPUT_IDS = [
  [5, 17, 42, 3, 88, 61, 9],
  [0, 0, 33, 95, 14, 50, 27],
  [71, 2, 110, 7, 0, 0, 0],
];
const ATTENTION_MASK = [
  [1, 1, 1, 1, 1, 1, 1],
  [0, 0, 1, 1, 1, 1, 1],
  [1, 1, 1, 1, 0, 0, 0],
];
const GEN_IDS = [
  [0, 0, 12, 54, 7],
  [33, 8, 91, 4, 60],
];
const GEN_MASK = [
  [0, 0, 1, 1, 1],
  [1, 1, 1, 1, 1],
];
const MAX_NEW_TOKENS = 6;

interface Case {
  base: "base_gpt2" | "base_llama" | "base_bert";
  spec: () => Promise<AdapterSpec>;
  notes: string;
}

const CASES: Record<string, Case> = {
  gpt2_prompt_random: { base: "base_gpt2", spec: () => Promise.resolve(promptTuning({ numVirtualTokens: 4 })), notes: "prompt tuning, RANDOM init" },
  gpt2_prompt_text: {
    base: "base_gpt2",
    spec: async () =>
      promptTuning({ numVirtualTokens: 5, promptTuningInit: "TEXT", promptTuningInitText: "hello world", tokenizer: await loadTokenizer(join(FIXTURES, "base_gpt2")), tokenizerNameOrPath: "base_gpt2" }),
    notes: "prompt tuning, TEXT init",
  },
  llama_prompt_sample_vocab: { base: "base_llama", spec: () => Promise.resolve(promptTuning({ numVirtualTokens: 3, promptTuningInit: "SAMPLE_VOCAB" })), notes: "prompt tuning, SAMPLE_VOCAB init" },
  bert_prompt_random: { base: "base_bert", spec: () => Promise.resolve(promptTuning({ numVirtualTokens: 3, taskType: "SEQ_CLS" })), notes: "SEQ_CLS prompt tuning (classifier trained and saved)" },
  gpt2_prefix: { base: "base_gpt2", spec: () => Promise.resolve(prefixTuning({ numVirtualTokens: 3 })), notes: "prefix tuning" },
  llama_prefix_projection: { base: "base_llama", spec: () => Promise.resolve(prefixTuning({ numVirtualTokens: 2, prefixProjection: true, encoderHiddenSize: 12 })), notes: "prefix tuning with projection, GQA" },
  bert_prefix: { base: "base_bert", spec: () => Promise.resolve(prefixTuning({ numVirtualTokens: 3, taskType: "SEQ_CLS" })), notes: "SEQ_CLS prefix tuning" },
  gpt2_ptuning_lstm: { base: "base_gpt2", spec: () => Promise.resolve(pTuning({ numVirtualTokens: 4, encoderReparameterizationType: "LSTM", encoderHiddenSize: 6 })), notes: "P-tuning, LSTM" },
  llama_ptuning_mlp: { base: "base_llama", spec: () => Promise.resolve(pTuning({ numVirtualTokens: 3, encoderHiddenSize: 10 })), notes: "P-tuning, MLP" },
  bert_ptuning_mlp: { base: "base_bert", spec: () => Promise.resolve(pTuning({ numVirtualTokens: 2, taskType: "SEQ_CLS" })), notes: "SEQ_CLS P-tuning, MLP" },
};

function batch(seqCls: boolean): ModelInputs {
  const inputIds = tf.tensor2d(INPUT_IDS, undefined, "int32");
  const attentionMask = tf.tensor2d(ATTENTION_MASK, undefined, "int32");
  const labels = seqCls ? tf.tensor1d([2, 0, 1], "int32") : tf.tensor2d(INPUT_IDS.map((r, i) => r.map((t, j) => (ATTENTION_MASK[i]![j] === 1 ? t : -100))), undefined, "int32");
  return { inputIds, attentionMask, labels };
}

async function exportCase(out: string, name: string, c: Case): Promise<void> {
  setSeed(7);
  const base = (await loadPretrained(join(FIXTURES, c.base))) as unknown as PreTrainedModelLike;
  const peft = getPeftModel(base, await c.spec());
  const seqCls = c.base === "base_bert";
  const data = batch(seqCls);
  await train({ model: peft, loss: (b: ModelInputs) => peft.forward(b).loss as tf.Scalar, batches: [data], steps: 5, lr: 5e-2, schedule: "constant" });
  peft.eval();
  const { logits } = peft.forward({ inputIds: data.inputIds!, attentionMask: data.attentionMask! });
  const dir = join(out, name);
  await peft.save(dir);
  let gen = null;
  if (!seqCls) {
    const ids = tf.tensor2d(GEN_IDS, undefined, "int32");
    const mask = tf.tensor2d(GEN_MASK, undefined, "int32");
    const tokens = await generate(peft, ids, { maxNewTokens: MAX_NEW_TOKENS, attentionMask: mask, eosTokenId: null, padTokenId: 0 });
    gen = { input_ids: GEN_IDS, attention_mask: GEN_MASK, max_new_tokens: MAX_NEW_TOKENS, tokens: await tokens.array() };
    tf.dispose([ids, mask, tokens]);
  }
  const expected = { case: name, base: resolve(FIXTURES, c.base), task: seqCls ? "SEQ_CLS" : "CAUSAL_LM", input_ids: INPUT_IDS, attention_mask: ATTENTION_MASK, logits: await logits.array(), generate: gen, notes: c.notes };
  writeFileSync(join(dir, "expected.json"), JSON.stringify(expected));
  tf.dispose([logits, ...(Object.values(data) as tf.Tensor[])]);
  peft.dispose();
}

/** Writes every case under `out` (also used by test/peft-check.test.ts). */
export async function exportAdapters(out: string): Promise<string[]> {
  mkdirSync(out, { recursive: true });
  for (const [name, c] of Object.entries(CASES)) await exportCase(out, name, c);
  return Object.keys(CASES);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const out = process.argv[2];
  if (out === undefined) throw new Error("usage: export-for-check.ts OUTDIR");
  await exportAdapters(out);
}

/**
 * Builds tiny random models here, saves them with `savePretrained`, and writes `expected.json` with our
 * logits, loss and greedy tokens, for `check_export.py` to compare against transformers on the GPU host.
 *
 *   node --conditions=@peftjs/source --import tsx packages/models/scripts/export-for-check.ts OUTDIR
 *   python3 packages/models/scripts/check_export.py OUTDIR        # on the host with transformers
 *
 * OUTDIR/<name>/{config.json, model.safetensors, expected.json}; expected.json has make_fixtures.py's format.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tf, random, setSeed, nextSeed } from "@peftjs/core";
import type { ModelInputs } from "@peftjs/core";
import { bertConfig, createModel, generate, gpt2Config, llamaConfig, savePretrained } from "../src/index.js";
import type { ModelConfig, PretrainedModel } from "../src/index.js";

const VOCAB = 96;
const SEQ = 7;

const MODELS: Record<string, ModelConfig> = {
  gpt2: gpt2Config("tiny", { vocabSize: VOCAB, maxPositionEmbeddings: 32, initializerRange: 0.2 }),
  gpt2_untied: gpt2Config("tiny", { vocabSize: VOCAB, maxPositionEmbeddings: 32, initializerRange: 0.2, tieWordEmbeddings: false, numHiddenLayers: 1 }),
  bert: bertConfig("tiny", { vocabSize: VOCAB, maxPositionEmbeddings: 32, initializerRange: 0.2, numLabels: 3 }),
  llama: llamaConfig("tiny", { vocabSize: VOCAB, maxPositionEmbeddings: 64, initializerRange: 0.2, ropeTheta: 500 }),
  llama_tied: llamaConfig("tiny", { vocabSize: VOCAB, initializerRange: 0.2, tieWordEmbeddings: true, numKeyValueHeads: 1, numHiddenLayers: 1 }),
};

/** Every 1-D parameter (norm weights, biases) gets noise, so a swapped or ignored one shows in the logits. */
function perturbVectors(model: PretrainedModel): void {
  for (const [, v] of model.namedParameters()) {
    if (v.rank === 1) tf.tidy(() => v.assign(tf.add(v, tf.randomNormal(v.shape, 0, 0.1, "float32", nextSeed()))));
  }
}

function randomIds(rows: number, cols: number, max: number): number[][] {
  return Array.from({ length: rows }, () => Array.from({ length: cols }, () => Math.floor(random() * max)));
}

function runCase(model: PretrainedModel, name: string, inputIds: number[][], extra: { attentionMask?: number[][]; tokenTypeIds?: number[][]; labels: number[][] | number[] }) {
  const inputs: ModelInputs = { inputIds: tf.tensor2d(inputIds, undefined, "int32"), labels: tf.tensor(extra.labels, undefined, "int32") };
  if (extra.attentionMask !== undefined) inputs.attentionMask = tf.tensor2d(extra.attentionMask, undefined, "int32");
  if (extra.tokenTypeIds !== undefined) inputs.tokenTypeIds = tf.tensor2d(extra.tokenTypeIds, undefined, "int32");
  const out = model.forward(inputs);
  const result = {
    name,
    input_ids: inputIds,
    attention_mask: extra.attentionMask ?? null,
    token_type_ids: extra.tokenTypeIds ?? null,
    labels: extra.labels,
    logits: out.logits.arraySync(),
    loss: out.loss!.dataSync()[0]!,
  };
  tf.dispose([out.logits, out.loss!, ...(Object.values(inputs) as tf.Tensor[])]);
  return result;
}

async function main(): Promise<void> {
  const outDir = process.argv[2];
  if (outDir === undefined) throw new Error("usage: export-for-check.ts OUTDIR");
  setSeed(20240607);
  for (const [name, config] of Object.entries(MODELS)) {
    const model = createModel(config).eval();
    perturbVectors(model);
    const dir = join(outDir, name);
    await savePretrained(model, dir, { keepOtherFiles: false });
    const ids = randomIds(2, SEQ, VOCAB);
    const mask = [new Array<number>(SEQ).fill(1), [...new Array<number>(SEQ - 2).fill(1), 0, 0]];
    const labels = ids.map((r) => [...r]);
    labels[0]![2] = -100;
    labels[1]![5] = -100;
    const paddedLabels = labels.map((r, i) => r.map((x, j) => (mask[i]![j] === 0 ? -100 : x)));
    let expected: Record<string, unknown>;
    if (config.modelType === "bert") {
      const tokenTypes = ids.map((r) => r.map((_, j) => (j >= 4 ? 1 : 0)));
      expected = {
        model_type: "bert",
        architecture: "BertForSequenceClassification",
        cases: [
          runCase(model, "plain", ids, { labels: [0, 2] }),
          runCase(model, "padded", ids, { attentionMask: mask, tokenTypeIds: tokenTypes, labels: [0, 2] }),
        ],
      };
    } else {
      const prompt = tf.tensor2d([[5, 17, 42]], undefined, "int32");
      const eos = VOCAB - 1;
      const tokens = await generate(model, prompt, { maxNewTokens: 8, eosTokenId: eos });
      expected = {
        model_type: config.modelType,
        architecture: config.modelType === "gpt2" ? "GPT2LMHeadModel" : "LlamaForCausalLM",
        cases: [runCase(model, "plain", ids, { labels }), runCase(model, "padded", ids, { attentionMask: mask, labels: paddedLabels })],
        generate: [{ input_ids: prompt.arraySync(), max_new_tokens: 8, eos_token_id: eos, tokens: tokens.arraySync() }],
      };
      tf.dispose([prompt, tokens]);
    }
    writeFileSync(join(dir, "expected.json"), JSON.stringify(expected));
    model.dispose();
    console.log(`wrote ${dir}`);
  }
}

await main();

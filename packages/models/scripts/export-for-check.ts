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
import { DECODER_ARCHITECTURES, bertConfig, createModel, decoderConfig, generate, gpt2Config, llamaConfig, savePretrained } from "../src/index.js";
import type { ModelConfig, PretrainedModel } from "../src/index.js";

const VOCAB = 96;
const SEQ = 7;

const MODELS: Record<string, ModelConfig> = {
  gpt2: gpt2Config("tiny", { vocabSize: VOCAB, maxPositionEmbeddings: 32, initializerRange: 0.2 }),
  gpt2_untied: gpt2Config("tiny", { vocabSize: VOCAB, maxPositionEmbeddings: 32, initializerRange: 0.2, tieWordEmbeddings: false, numHiddenLayers: 1 }),
  bert: bertConfig("tiny", { vocabSize: VOCAB, maxPositionEmbeddings: 32, initializerRange: 0.2, numLabels: 3 }),
  llama: llamaConfig("tiny", { vocabSize: VOCAB, maxPositionEmbeddings: 64, initializerRange: 0.2, ropeTheta: 500 }),
  llama_tied: llamaConfig("tiny", { vocabSize: VOCAB, initializerRange: 0.2, tieWordEmbeddings: true, numKeyValueHeads: 1, numHiddenLayers: 1 }),
  // The families and RoPE variants of test/fixtures/families, made here (random init) in config.json terms.
  llama_linear: decoderConfig("llama", tiny({ rope_parameters: { rope_type: "linear", factor: 2, rope_theta: 10000 } })),
  llama_dynamic: decoderConfig("llama", tiny({ max_position_embeddings: 4, rope_parameters: { rope_type: "dynamic", factor: 2, rope_theta: 10000 } })),
  llama_llama3: decoderConfig(
    "llama",
    tiny({ rope_parameters: { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16, rope_theta: 10000 } }),
  ),
  llama_yarn: decoderConfig("llama", tiny({ rope_parameters: { rope_type: "yarn", factor: 4, original_max_position_embeddings: 16, rope_theta: 10000 } })),
  qwen2: decoderConfig("qwen2", tiny({ tie_word_embeddings: true, use_sliding_window: true, sliding_window: 4, max_window_layers: 1 })),
  qwen3: decoderConfig("qwen3", tiny({ head_dim: 16 })),
  mistral: decoderConfig("mistral", tiny({ sliding_window: 4 })),
  gemma2: decoderConfig("gemma2", tiny({ head_dim: 8, query_pre_attn_scalar: 16, sliding_window: 4, attn_logit_softcapping: 2, final_logit_softcapping: 3 })),
  gemma3_text: decoderConfig(
    "gemma3_text",
    tiny({
      head_dim: 8,
      query_pre_attn_scalar: 16,
      sliding_window: 4,
      layer_types: ["sliding_attention", "full_attention"],
      rope_parameters: { sliding_attention: { rope_type: "default", rope_theta: 10000 }, full_attention: { rope_type: "linear", factor: 2, rope_theta: 1e6 } },
      final_logit_softcapping: 3,
    }),
  ),
  phi3: decoderConfig("phi3", tiny({ sliding_window: 5, original_max_position_embeddings: 64, rope_parameters: { rope_type: "default", rope_theta: 10000, partial_rotary_factor: 0.5 } })),
  phi3_longrope: decoderConfig(
    "phi3",
    tiny({
      max_position_embeddings: 16,
      original_max_position_embeddings: 4,
      rope_parameters: { rope_type: "longrope", rope_theta: 10000, short_factor: [1, 1.1, 1.3, 1.6], long_factor: [1, 2, 4, 8] },
    }),
  ),
};

/** config.json fields of a tiny decoder (hidden 32, 2 layers, 4 heads / 2 kv heads, vocab 96). */
function tiny(fields: Record<string, unknown>): Record<string, unknown> {
  return {
    vocab_size: VOCAB,
    hidden_size: 32,
    intermediate_size: 64,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    max_position_embeddings: 64,
    initializer_range: 0.2,
    bos_token_id: 1,
    eos_token_id: VOCAB - 1,
    pad_token_id: 0,
    ...fields,
  };
}

/**
 * Prompts for greedy generation: one row, and a left-padded batch of two. Phi-3 LongRoPE's are longer than
 * its original length (4): transformers 5.17 mishandles the cache when generation crosses it (see
 * make_family_fixtures.py).
 */
function prompts(name: string): { ids: number[][]; mask: number[][] | null }[] {
  if (name === "phi3_longrope") {
    return [
      { ids: [[5, 17, 42, 9, 33]], mask: null },
      { ids: [[0, 0, 5, 17, 42, 9], [7, 33, 64, 12, 8, 3]], mask: [[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]] },
    ];
  }
  return [
    { ids: [[5, 17, 42]], mask: null },
    { ids: [[0, 0, 5, 17], [7, 33, 64, 12]], mask: [[0, 0, 1, 1], [1, 1, 1, 1]] },
  ];
}

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
      const eos = VOCAB - 1;
      const gens: Record<string, unknown>[] = [];
      for (const p of config.modelType === "gpt2" || name === "llama" || name === "llama_tied" ? prompts(name).slice(0, 1) : prompts(name)) {
        const prompt = tf.tensor2d(p.ids, undefined, "int32");
        const attentionMask = p.mask === null ? undefined : tf.tensor2d(p.mask, undefined, "int32");
        const options = { maxNewTokens: 8, eosTokenId: eos, padTokenId: 0, ...(attentionMask ? { attentionMask } : {}) };
        const tokens = await generate(model, prompt, options);
        const uncached = await generate(model, prompt, { ...options, useCache: false });
        gens.push({ input_ids: p.ids, attention_mask: p.mask, max_new_tokens: 8, eos_token_id: eos, tokens: tokens.arraySync(), tokens_no_cache: uncached.arraySync() });
        tf.dispose([prompt, tokens, uncached, ...(attentionMask ? [attentionMask] : [])]);
      }
      expected = {
        model_type: config.modelType,
        architecture: config.modelType === "gpt2" ? "GPT2LMHeadModel" : DECODER_ARCHITECTURES[config.modelType],
        cases: [runCase(model, "plain", ids, { labels }), runCase(model, "padded", ids, { attentionMask: mask, labels: paddedLabels })],
        generate: gens,
      };
    }
    writeFileSync(join(dir, "expected.json"), JSON.stringify(expected));
    model.dispose();
    console.log(`wrote ${dir}`);
  }
}

await main();

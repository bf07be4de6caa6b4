/**
 * What the page does, without the page: the tiny GPT-2 it builds, its byte-level tokens, the LoRA it trains,
 * the batches, the probe whose logits it shows. The Node tests import the same functions, so "the page's
 * model" and "the model the test rebuilds" are one definition.
 */
import { tf, setSeed } from "@peftjs/core";
import type { Tensor } from "@peftjs/core";
import { lora } from "@peftjs/lora";
import type { LoraOptions } from "@peftjs/lora";
import { GPT2LMHeadModel, gpt2Config } from "@peftjs/models";
import type { PretrainedModel, PretrainedTokenizer } from "@peftjs/models";

/** The seed the tiny GPT-2's random weights come from (core's generator: the same numbers on every backend). */
export const BASE_SEED = 0;

/** A 2-layer GPT-2 over UTF-8 bytes (vocab 256; id 255, never a UTF-8 byte, is <|endoftext|>). */
export const TINY_GPT2 = gpt2Config("tiny", { vocabSize: 256, maxPositionEmbeddings: 128, hiddenSize: 64, numHiddenLayers: 2, numAttentionHeads: 4 });

/** The name transformers / PEFT see in adapter_config.json for the tiny model. */
export const TINY_NAME = "peftjs-playground/tiny-gpt2-bytes";

export function buildTinyGpt2(seed = BASE_SEED): GPT2LMHeadModel {
  setSeed(seed);
  const model = new GPT2LMHeadModel(TINY_GPT2);
  model.eval();
  return model;
}

/** The page's LoRA: every GPT-2 projection (attention c_attn/c_proj, MLP c_fc/c_proj), r 8, α 16. */
export const LORA_OPTIONS: LoraOptions = {
  r: 8,
  loraAlpha: 16,
  loraDropout: 0,
  targetModules: ["c_attn", "c_proj", "c_fc"],
  taskType: "CAUSAL_LM",
  baseModelNameOrPath: TINY_NAME,
};

export function loraSpec(): ReturnType<typeof lora> {
  return lora(LORA_OPTIONS);
}

/** Text ↔ ids: the tiny model's UTF-8 bytes, or a loaded folder's tokenizer.json. */
export interface TextCodec {
  encode(text: string): number[];
  decode(ids: readonly number[]): string;
  eosTokenId: number | undefined;
}

export const byteCodec: TextCodec = {
  encode: (text) => Array.from(new TextEncoder().encode(text)),
  decode: (ids) => new TextDecoder().decode(Uint8Array.from(ids.filter((i) => i < 255))),
  eosTokenId: 255,
};

export function tokenizerCodec(tokenizer: PretrainedTokenizer): TextCodec {
  return { encode: (t) => tokenizer.encode(t), decode: (ids) => tokenizer.decode([...ids]), eosTokenId: tokenizer.eosTokenId };
}

/** The fixed input whose logits the page shows after training (and the test compares). */
export const PROBE_TEXT = "The adapter was trained in a browser.";

export interface TrainSettings {
  steps: number;
  batchSize: number;
  seqLen: number;
  lr: number;
  seed: number;
}

export const DEFAULT_SETTINGS: TrainSettings = { steps: 30, batchSize: 8, seqLen: 32, lr: 1e-2, seed: 0 };

/**
 * Batch `index`: `batchSize` windows of `seqLen` ids taken from `ids` at offsets drawn from a generator seeded
 * by (seed, index), so a run repeats exactly. A text shorter than a window is repeated to fill it.
 */
export function batchAt(ids: readonly number[], index: number, s: TrainSettings): Tensor {
  if (ids.length < 2) throw new Error("The training text is too short: paste at least a sentence.");
  const source = ids.length > s.seqLen ? ids : Array.from({ length: s.seqLen + 1 }, (_, i) => ids[i % ids.length]!);
  let state = (s.seed * 0x9e3779b1 + index * 0x85ebca6b + 1) >>> 0;
  const next = (): number => {
    // xorshift32: a tiny deterministic generator, independent of core's global one.
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
  const rows: number[][] = [];
  for (let b = 0; b < s.batchSize; b++) {
    const start = next() % (source.length - s.seqLen + 1);
    rows.push(source.slice(start, start + s.seqLen));
  }
  return tf.tensor2d(rows, [s.batchSize, s.seqLen], "int32");
}

/** Logits `[1, len, vocab]` of `ids`, flattened (eval mode: no dropout). */
export async function logitsOf(model: { forward(i: never): unknown }, ids: readonly number[]): Promise<number[]> {
  const input = tf.tensor2d([ids as number[]], [1, ids.length], "int32");
  try {
    const out = (model.forward as (i: unknown) => { logits: Tensor }).call(model, { inputIds: input });
    const data = await out.logits.data();
    out.logits.dispose();
    return Array.from(data);
  } finally {
    input.dispose();
  }
}

/** max|a − b| / max|b|: the error measure the fixture checks use. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`relativeError: lengths differ (${a.length} vs ${b.length}).`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / (scale === 0 ? 1 : scale);
}

export type { PretrainedModel };

/** Fixture access and comparisons shared by the tests. */
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readSafetensors, tf } from "@peftjs/core";
import type { Tensor } from "@peftjs/core";

export const FIXTURES = fileURLToPath(new URL("./fixtures", import.meta.url));

export interface GenerateExpected {
  input_ids: number[][];
  attention_mask: number[][];
  max_new_tokens: number;
  tokens: number[][];
  tokens_without_cache: number[][] | null;
  without_cache_error: string | null;
  single_input_ids: number[][];
  single_tokens: number[][];
}

export interface CaseExpected {
  case: string;
  base: string;
  arch: "gpt2" | "llama" | "bert";
  task: "CAUSAL_LM" | "SEQ_CLS";
  config: Record<string, unknown>;
  input_ids: number[][];
  attention_mask: number[][];
  init_token_ids: number[] | null;
  generate: GenerateExpected | null;
  versions: Record<string, string>;
  notes: string;
}

export function readCase(name: string): CaseExpected {
  return JSON.parse(readFileSync(join(FIXTURES, name, "expected.json"), "utf8")) as CaseExpected;
}

/** Every case folder (those with an expected.json). */
export const CASES: readonly string[] = [
  "bert_prefix",
  "bert_prompt_text",
  "bert_ptuning_mlp",
  "gpt2_prefix",
  "gpt2_prefix_projection",
  "gpt2_prompt_random",
  "gpt2_prompt_text",
  "gpt2_ptuning_lstm",
  "gpt2_ptuning_mlp",
  "llama_prefix",
  "llama_prefix_projection",
  "llama_prompt_random",
  "llama_prompt_sample_vocab",
  "llama_ptuning_lstm",
];

export async function readTensors(name: string, file: string): Promise<Map<string, Tensor>> {
  const path = join(FIXTURES, name, file);
  if (!existsSync(path)) throw new Error(`fixture ${path} is missing`);
  return (await readSafetensors(path)).tensors;
}

export function hasFile(name: string, file: string): boolean {
  return existsSync(join(FIXTURES, name, file));
}

/** max |a − b| / max |b| (the check scripts' relative error). */
export function relError(ours: Tensor, reference: Tensor): number {
  if (ours.shape.join() !== reference.shape.join()) throw new Error(`shape [${ours.shape.join(", ")}] vs reference [${reference.shape.join(", ")}]`);
  return tf.tidy(() => {
    const diff = tf.max(tf.abs(tf.sub(ours, reference))).dataSync()[0]!;
    const scale = tf.max(tf.abs(reference)).dataSync()[0]!;
    return diff / (scale > 0 ? scale : 1);
  });
}

export function disposeAll(tensors: Iterable<Tensor>): void {
  for (const t of tensors) t.dispose();
}

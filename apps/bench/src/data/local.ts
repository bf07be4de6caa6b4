/**
 * A local dataset instead of the synthetic task: a `.txt` file (language modelling on every token) or a
 * `.jsonl` file with `{"text": …}` lines (same) or `{"prompt": …, "completion": …}` lines (loss on the
 * completion and EOS only). Tokenised with the checkpoint's tokenizer when one is given, else UTF-8
 * bytes. Split deterministically: held-out 10% (at least 1); without a pre-trained checkpoint the first
 * half of the rest pre-trains the shared base and the second half fine-tunes.
 */
import { readFileSync } from "node:fs";
import { extname } from "node:path";
import { Rng } from "./rng.js";
import { IGNORE_INDEX } from "./example.js";
import type { Dataset, Example } from "./example.js";

export interface TextTokenizer {
  /** A name for the report, e.g. "utf-8 bytes" or the checkpoint folder. */
  name: string;
  vocabSize: number;
  eosTokenId: number;
  encode(text: string): number[];
}

/** UTF-8 bytes 0–255 and EOS = 256. */
export function byteTokenizer(): TextTokenizer {
  const enc = new TextEncoder();
  return { name: "utf-8 bytes", vocabSize: 257, eosTokenId: 256, encode: (text) => [...enc.encode(text)] };
}

type Record_ = { text: string } | { prompt: string; completion: string };

export function parseLocalRecords(path: string, content: string): Record_[] {
  const ext = extname(path).toLowerCase();
  if (ext === ".txt") return [{ text: content }];
  if (ext !== ".jsonl") throw new Error(`--data ${path}: expected a .txt or .jsonl file, got "${ext || "no extension"}".`);
  const out: Record_[] = [];
  content.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      throw new Error(`--data ${path}: line ${i + 1} is not JSON (${(e as Error).message}).`);
    }
    const r = value as Partial<Record<"text" | "prompt" | "completion", unknown>>;
    if (typeof r.text === "string") out.push({ text: r.text });
    else if (typeof r.prompt === "string" && typeof r.completion === "string") out.push({ prompt: r.prompt, completion: r.completion });
    else throw new Error(`--data ${path}: line ${i + 1} needs a string "text", or string "prompt" and "completion" fields.`);
  });
  if (out.length === 0) throw new Error(`--data ${path}: the file holds no records.`);
  return out;
}

/** Turns records into fixed-length examples: text is packed into windows, prompt/completion pairs padded. */
export function recordsToExamples(records: readonly Record_[], tokenizer: TextTokenizer, seqLen: number): Example[] {
  const examples: Example[] = [];
  const stream: number[] = [];
  for (const r of records) {
    if ("text" in r) {
      stream.push(...tokenizer.encode(r.text), tokenizer.eosTokenId);
      continue;
    }
    const prompt = tokenizer.encode(r.prompt);
    const answer = [...tokenizer.encode(r.completion), tokenizer.eosTokenId];
    const ids = [...prompt, ...answer].slice(-seqLen);
    const answerStart = Math.max(0, ids.length - answer.length);
    const inputIds = new Int32Array(seqLen).fill(tokenizer.eosTokenId);
    const labels = new Int32Array(seqLen).fill(IGNORE_INDEX);
    ids.forEach((id, t) => {
      inputIds[t] = id;
      if (t >= answerStart) labels[t] = id;
    });
    examples.push({ inputIds, labels });
  }
  for (let i = 0; i + seqLen <= stream.length; i += seqLen) {
    const inputIds = Int32Array.from(stream.slice(i, i + seqLen));
    examples.push({ inputIds, labels: inputIds.slice() });
  }
  return examples;
}

export interface LocalDatasetOptions {
  path: string;
  seqLen: number;
  tokenizer: TextTokenizer;
  seed: number;
  /** True when the base model is a pre-trained checkpoint: no pre-training split. */
  pretrainedBase: boolean;
}

export function loadLocalDataset(o: LocalDatasetOptions): Dataset {
  let content: string;
  try {
    content = readFileSync(o.path, "utf8");
  } catch (e) {
    throw new Error(`--data ${o.path}: cannot read the file (${(e as Error).message}).`);
  }
  return localDatasetFromText(o, content);
}

export function localDatasetFromText(o: LocalDatasetOptions, content: string): Dataset {
  const examples = recordsToExamples(parseLocalRecords(o.path, content), o.tokenizer, o.seqLen);
  if (examples.length < 2) {
    throw new Error(`--data ${o.path}: only ${examples.length} example(s) of ${o.seqLen} tokens; give more text or a shorter --seq.`);
  }
  new Rng(o.seed).shuffle(examples);
  const nHeldOut = Math.max(1, Math.round(examples.length * 0.1));
  const heldOut = examples.slice(0, nHeldOut);
  const rest = examples.slice(nHeldOut);
  const half = o.pretrainedBase || rest.length < 2 ? 0 : Math.floor(rest.length / 2);
  return {
    description: `local ${o.path} (${examples.length} × ${o.seqLen} tokens, ${o.tokenizer.name})`,
    vocabSize: o.tokenizer.vocabSize,
    seqLen: o.seqLen,
    source: rest.slice(0, half),
    train: rest.slice(half),
    heldOut,
  };
}

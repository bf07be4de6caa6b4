/**
 * Prompt tuning's table (PEFT `PromptEmbedding`, peft `tuners/prompt_tuning/model.py`): `numVirtualTokens`
 * learned embeddings, initialised RANDOM (N(0, 1), torch's nn.Embedding), SAMPLE_VOCAB (the model's word
 * embeddings at token ids drawn uniformly from the vocabulary) or TEXT (the word embeddings of the init
 * text's token ids, repeated, then cut, to length). Lester et al. 2021, §3 and §7 (class-label / vocab init).
 */
import { Embedding, random, tf } from "@peftjs/core";
import type { Tensor } from "@peftjs/core";
import { PromptTableEncoder } from "../encoder.js";
import { configError } from "../config.js";
import type { PromptTuningConfig } from "./config.js";

/**
 * PEFT's TEXT ids: `tokenizer(text)["input_ids"]` (special tokens included), cut to `n` when longer, else
 * repeated ⌈n / len⌉ times and cut.
 */
export function textInitIds(ids: readonly number[], n: number): number[] {
  if (ids.length === 0) configError("Prompt tuning", "promptTuningInitText tokenizes to no ids; use a text with at least one token.");
  const reps = Math.ceil(n / ids.length);
  return Array.from({ length: reps }, () => ids).flat().slice(0, n);
}

export class PromptEmbedding extends PromptTableEncoder {
  /**
   * `wordEmbeddings`: the base model's input embeddings (read once for SAMPLE_VOCAB / TEXT init, never
   * trained). `config` must have `tokenDim` resolved.
   */
  constructor(config: PromptTuningConfig, wordEmbeddings: Embedding) {
    super(config.inferenceMode);
    const total = config.numVirtualTokens * (config.numTransformerSubmodules ?? 1);
    const dim = config.tokenDim!;
    let ids: number[] | null = null;
    if (!config.inferenceMode && config.promptTuningInit === "SAMPLE_VOCAB") {
      const vocab = wordEmbeddings.numEmbeddings;
      ids = Array.from({ length: total }, () => Math.min(vocab - 1, Math.floor(random() * vocab)));
    } else if (!config.inferenceMode && config.promptTuningInit === "TEXT") {
      if (config.tokenizer === null) {
        configError("Prompt tuning", 'promptTuningInit "TEXT" needs the tokenizer to turn the text into ids: pass tokenizer (e.g. `await loadTokenizer(dir)` from @peftjs/models).');
      }
      ids = textInitIds(config.tokenizer.encode(config.promptTuningInitText!), total);
      const bad = ids.find((i) => !Number.isInteger(i) || i < 0 || i >= wordEmbeddings.numEmbeddings);
      if (bad !== undefined) {
        configError("Prompt tuning", `the tokenizer gave token id ${bad}, outside the model's vocabulary of ${wordEmbeddings.numEmbeddings}; pass the tokenizer of this model.`);
      }
    }
    const initial = ids === null ? undefined : tf.tidy(() => tf.gather(wordEmbeddings.weight, tf.tensor1d(ids, "int32")));
    try {
      this.registerModule("embedding", new Embedding(total, dim, initial === undefined ? {} : { weight: initial }));
    } finally {
      initial?.dispose();
    }
  }

  protected encode(): Tensor {
    return this.embedding.weight.clone();
  }
}

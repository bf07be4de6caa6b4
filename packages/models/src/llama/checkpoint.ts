/**
 * LLaMA checkpoint conventions: `model.…` and `lm_head.weight` (absent when `tie_word_embeddings` is
 * true); older files may carry the non-persistent `rotary_emb.inv_freq` buffers, which are recomputed.
 */
import type { Tensor } from "@peftjs/core";
import { dropKeys, keepOneTiedCopy } from "../checkpoint.js";
import type { LlamaConfig } from "./config.js";

export function adaptLlamaStateDict(tensors: Map<string, Tensor>, config: LlamaConfig): string[] {
  dropKeys(tensors, (k) => k.endsWith("rotary_emb.inv_freq"));
  if (config.tieWordEmbeddings) keepOneTiedCopy(tensors, "model.embed_tokens.weight", "lm_head.weight");
  return [];
}

export function llamaMissingAllowed(key: string, config: LlamaConfig): "tied" | false {
  return config.tieWordEmbeddings && key === "lm_head.weight" ? "tied" : false;
}

export function llamaTiedKeys(config: LlamaConfig): string[] {
  return config.tieWordEmbeddings ? ["lm_head.weight"] : [];
}

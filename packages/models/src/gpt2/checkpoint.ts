/**
 * GPT-2 checkpoint conventions. `GPT2LMHeadModel` files name tensors `transformer.…` and (transformers 5)
 * leave out the tied `lm_head.weight`. The original `gpt2` checkpoint uses `GPT2Model`'s names (no
 * `transformer.` prefix) and stores the causal-mask buffers `h.N.attn.bias` / `h.N.attn.masked_bias`,
 * which are not parameters.
 */
import type { Tensor } from "@peftjs/core";
import { dropKeys, keepOneTiedCopy, renameKey } from "../checkpoint.js";
import type { GPT2Config } from "./config.js";

const BASE_MODEL_KEY = /^(wte|wpe|ln_f|h\.\d+)\./;
const MASK_BUFFER = /^transformer\.h\.\d+\.attn\.(bias|masked_bias)$/;

export function adaptGPT2StateDict(tensors: Map<string, Tensor>, config: GPT2Config): string[] {
  const keys = [...tensors.keys()];
  if (!keys.some((k) => k.startsWith("transformer.")) && keys.some((k) => BASE_MODEL_KEY.test(k))) {
    for (const k of keys) if (BASE_MODEL_KEY.test(k)) renameKey(tensors, k, `transformer.${k}`);
  }
  dropKeys(tensors, (k) => MASK_BUFFER.test(k));
  if (config.tieWordEmbeddings) keepOneTiedCopy(tensors, "transformer.wte.weight", "lm_head.weight");
  return [];
}

export function gpt2MissingAllowed(key: string, config: GPT2Config): "tied" | false {
  return config.tieWordEmbeddings && key === "lm_head.weight" ? "tied" : false;
}

export function gpt2TiedKeys(config: GPT2Config): string[] {
  return config.tieWordEmbeddings ? ["lm_head.weight"] : [];
}

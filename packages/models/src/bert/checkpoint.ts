/**
 * BERT checkpoint conventions. `BertForSequenceClassification` files name tensors `bert.…` plus
 * `classifier.…`. Also accepted: `BertModel` files (no `bert.` prefix), checkpoints converted from
 * TensorFlow (`LayerNorm.gamma` / `.beta`), pretraining / masked-LM heads (`cls.…`, dropped), and the
 * `position_ids` / `token_type_ids` buffers older versions saved. A checkpoint without the classifier
 * (or pooler) leaves it newly initialised, as transformers does when fine-tuning from `bert-base`.
 */
import type { Tensor } from "@peftjs/core";
import { dropKeys, renameKey } from "../checkpoint.js";
import type { BertConfig } from "./config.js";

const BASE_MODEL_KEY = /^(embeddings|encoder|pooler)\./;
const BUFFERS = /^bert\.embeddings\.(position_ids|token_type_ids)$/;

export function adaptBertStateDict(tensors: Map<string, Tensor>, _config: BertConfig): string[] {
  const notes: string[] = [];
  const keys = [...tensors.keys()];
  if (!keys.some((k) => k.startsWith("bert.")) && keys.some((k) => BASE_MODEL_KEY.test(k))) {
    for (const k of keys) if (BASE_MODEL_KEY.test(k)) renameKey(tensors, k, `bert.${k}`);
  }
  for (const k of [...tensors.keys()]) {
    if (k.endsWith("LayerNorm.gamma")) renameKey(tensors, k, `${k.slice(0, -"gamma".length)}weight`);
    else if (k.endsWith("LayerNorm.beta")) renameKey(tensors, k, `${k.slice(0, -"beta".length)}bias`);
  }
  dropKeys(tensors, (k) => BUFFERS.test(k));
  const heads = dropKeys(tensors, (k) => k.startsWith("cls."));
  if (heads.length > 0) notes.push(`loadPretrained: dropped the pretraining heads (${heads.length} tensors under cls.*), which BertForSequenceClassification does not have.`);
  return notes;
}

export function bertMissingAllowed(key: string, _config: BertConfig): "initialised" | false {
  return key.startsWith("classifier.") || key.startsWith("bert.pooler.") ? "initialised" : false;
}

export function bertTiedKeys(_config: BertConfig): string[] {
  return [];
}

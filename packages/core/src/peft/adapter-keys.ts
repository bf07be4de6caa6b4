/**
 * Parameter path ⇄ adapter_model.safetensors key, PEFT's naming (peft `tuners_utils._remove_adapter_name_from_state_dict_key`,
 * `utils/save_and_load.get_peft_model_state_dict`): the file has no adapter name in its keys, so an adapter saved
 * as "default" loads under any name. Keys of layer-wrapping methods carry the `base_model.model.` prefix of PEFT's
 * PeftModel; prompt methods use bare keys (`prompt_embeddings`), which their `Injection.state()` gives directly.
 */
import type { Variable } from "../tf.js";
import type { Module } from "../nn/module.js";

/** What PEFT's `PeftModel` puts before every module path in the state dict of a (non-prompt) adapter. */
export const PEFT_KEY_PREFIX = "base_model.model.";

/**
 * `h.0.attn.c_attn.lora_A.default.weight` → `h.0.attn.c_attn.lora_A.weight` (a module per adapter) and
 * `h.0.mlp.ia3_l.default` → `h.0.mlp.ia3_l` (a parameter per adapter): the adapter-name segment right after the
 * last segment that starts with the method's `prefix` is removed. Returns null when the path has no such pair,
 * i.e. the parameter is not one of this adapter's (base weights, other adapters, other methods).
 *
 * Method packages can use this as their `toFileKey`; `defaultAdapterParamPath` is its inverse.
 */
export function defaultAdapterFileKey(paramPath: string, adapterName: string, prefix: string): string | null {
  const parts = paramPath.split(".");
  for (let i = parts.length - 2; i >= 0; i--) {
    if (parts[i]!.startsWith(prefix) && parts[i + 1] === adapterName) {
      return [...parts.slice(0, i + 1), ...parts.slice(i + 2)].join(".");
    }
  }
  return null;
}

/**
 * The inverse of `defaultAdapterFileKey` (file key without `base_model.model.`): inserts `adapterName` after the
 * last segment that starts with `prefix`. `h.0.attn.c_attn.lora_A.weight` → `h.0.attn.c_attn.lora_A.default.weight`.
 */
export function defaultAdapterParamPath(fileKey: string, adapterName: string, prefix: string): string {
  const parts = fileKey.split(".");
  for (let i = parts.length - 1; i >= 0; i--) {
    if (parts[i]!.startsWith(prefix)) return [...parts.slice(0, i + 1), adapterName, ...parts.slice(i + 1)].join(".");
  }
  throw new Error(`Adapter file key "${fileKey}" has no segment starting with the method prefix "${prefix}"; it is not a key of this method.`);
}

/**
 * An adapter's `state()` for a method that wraps layers: every parameter of `model` whose path `fileKey` maps
 * (to a key without `base_model.model.`; null for parameters that are not the adapter's), under its full file
 * key. Refuses two parameters with one key: the mapping must be one-to-one for save and load to agree.
 */
export function collectAdapterState(model: Module, fileKey: (paramPath: string) => string | null): Map<string, Variable> {
  const out = new Map<string, Variable>();
  for (const [path, v] of model.namedParameters()) {
    const key = fileKey(path);
    if (key === null) continue;
    const full = PEFT_KEY_PREFIX + key;
    const other = out.get(full);
    if (other !== undefined) throw new Error(`Two parameters map to the adapter file key "${full}" (the second is "${path}"); the method's key mapping is not one-to-one.`);
    out.set(full, v);
  }
  return out;
}

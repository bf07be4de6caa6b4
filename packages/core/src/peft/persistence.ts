/**
 * A PeftModel's adapters as PEFT adapter folders (PEFT `save_pretrained` / `get_peft_model_state_dict`,
 * `load_adapter` / `set_peft_model_state_dict`): which tensors go under which keys, and the checks a file passes
 * before any value is assigned. Every key comes from the adapter's `Injection.state()` (plus modules_to_save
 * copies and the base weights PEFT saves beside an adapter, both core's own); nothing here knows a method.
 */
import type { Tensor, Variable } from "../tf.js";
import type { Module } from "../nn/module.js";
import { PEFT_KEY_PREFIX } from "./adapter-keys.js";
import { modulesToSaveWrappers } from "./modules-to-save.js";

/** An adapter file that does not fit the model; the model was left unchanged. */
export class AdapterLoadError extends Error {
  override name = "AdapterLoadError";
}

/**
 * Adapter `name`'s tensors under their file keys: its state (`state()`, or `savedState()` when saving) and,
 * under the wrapped module's own path after `modulesToSavePrefix`, its modules_to_save copies
 * (`base_model.model.classifier.weight`, as PEFT ≥ 0.16 writes them; `base_model.classifier.weight` for
 * prompt learning). Live tensors: do not dispose them.
 */
export function adapterStateDict(root: Module, name: string, state: ReadonlyMap<string, Tensor>, modulesToSavePrefix: string = PEFT_KEY_PREFIX): Map<string, Tensor> {
  const out = new Map<string, Tensor>(state);
  for (const [path, w] of modulesToSaveWrappers(root)) {
    if (!w.adapterNames().includes(name)) continue;
    for (const [k, v] of w.copyFor(name).stateDict()) {
      const key = `${modulesToSavePrefix}${path}.${k}`;
      if (out.has(key)) throw new Error(`Adapter "${name}": the modules_to_save copy of "${path}" and the adapter's own state both use the file key "${key}".`);
      out.set(key, v);
    }
  }
  return out;
}

/**
 * File keys that are not adapter parameters but name a base-model parameter, with that parameter. PEFT's
 * `get_peft_model_state_dict` (save_embedding_layers="auto") also saves the untouched base weight of an
 * Embedding/lm_head target as `base_model.model.<path>.base_layer.weight`, and `set_peft_model_state_dict`
 * passes such keys through to `load_state_dict(strict=False)`, which loads them into the base model. A key
 * matches a parameter by its path in the tree, or by that path with the tuner layers' `base_layer` segments
 * left out (`embed_tokens.weight` for `embed_tokens.base_layer.weight`). `claimed` parameters (any adapter's
 * own, a modules_to_save copy, a base bias LoRA trains) are not base weights here.
 */
export function baseParametersInFile(baseModel: Module, file: ReadonlyMap<string, Tensor>, expected: ReadonlyMap<string, Tensor>, claimed: ReadonlySet<Variable>): Map<string, Variable> {
  const exact = new Map<string, Variable>();
  const viaBaseLayer = new Map<string, Variable>();
  for (const [path, v] of baseModel.namedParameters()) {
    if (claimed.has(v)) continue;
    exact.set(path, v);
    const plain = path
      .split(".")
      .filter((part) => part !== "base_layer")
      .join(".");
    if (plain !== path) viaBaseLayer.set(plain, v);
  }
  const out = new Map<string, Variable>();
  for (const key of file.keys()) {
    if (expected.has(key) || !key.startsWith(PEFT_KEY_PREFIX)) continue;
    const path = key.slice(PEFT_KEY_PREFIX.length);
    const target = exact.get(path) ?? viaBaseLayer.get(path);
    if (target === undefined) continue;
    const other = [...out].find(([, v]) => v === target)?.[0];
    if (other !== undefined) throw new AdapterLoadError(`The adapter file has two keys for the same base weight: "${other}" and "${key}"; keep one.`);
    out.set(key, target);
  }
  return out;
}

/** Missing / unexpected / shape problems between what the model expects and what the file has, as one error. */
export function checkAdapterTensors(
  expected: ReadonlyMap<string, Tensor>,
  file: ReadonlyMap<string, Tensor>,
  name: string,
  where: string,
  baseName: string | null,
  explain: (key: string, fileShape: readonly number[], modelShape: readonly number[]) => string | null = () => null,
): void {
  const problems: string[] = [];
  for (const [key, target] of expected) {
    const got = file.get(key);
    if (got === undefined) continue;
    if (!sameShape(target.shape, got.shape)) {
      const why = explain(key, got.shape, target.shape);
      problems.push(`shape mismatch for "${key}": the file has [${got.shape.join(", ")}], the model expects [${target.shape.join(", ")}]${why !== null ? ` — ${why}` : ""}`);
    } else if (got.dtype !== target.dtype && (got.dtype === "string" || got.dtype === "complex64" || got.dtype === "bool")) {
      problems.push(`dtype mismatch for "${key}": the file has ${got.dtype}, the model expects ${target.dtype}`);
    } else if (got.dtype === "int32" && target.dtype === "float32") {
      // An integer tensor where the model holds float weights (e.g. an I32 lora_A) is a broken file, not a cast.
      problems.push(`dtype mismatch for "${key}": the file stores integers (an integer safetensors dtype) for a float parameter; re-save it with float weights (F32, F16 or BF16)`);
    }
  }
  const missing = [...expected.keys()].filter((k) => !file.has(k));
  const unexpected = [...file.keys()].filter((k) => !expected.has(k));
  if (missing.length > 0) problems.push(`missing keys (the model has them, the file does not): ${preview(missing)}`);
  if (unexpected.length > 0) problems.push(`unexpected keys (in the file, not in the model): ${preview(unexpected)}`);
  if (problems.length === 0) return;
  throw new AdapterLoadError(
    `Adapter "${name}" from ${where} does not fit this model:\n- ${problems.join("\n- ")}\nThe model was left unchanged. Check that the adapter was trained on this base model${baseName !== null ? ` ("${baseName}")` : ""} with the same architecture.`,
  );
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function preview(keys: string[]): string {
  const shown = keys.slice(0, 10).join(", ");
  return keys.length > 10 ? `${shown}, … (${keys.length} in all)` : shown;
}

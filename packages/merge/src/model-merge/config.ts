/**
 * mergekit-style merge configuration (mergekit `config.py`: `MergeConfiguration`, `evaluate_setting`):
 *
 *   merge_method: ties
 *   base_model: path/to/base
 *   models:
 *     - model: path/to/a          # or base+path/to/lora_adapter (merged on the fly)
 *       parameters: { weight: 0.5, density: 0.7 }
 *   parameters: { normalize: true }
 *   dtype: float16                # also out_dtype
 *
 * A parameter is a number, a gradient (a list of numbers interpolated over the layer index, mergekit's
 * `t = layer / (layers − 1)`), or a list of `{ filter, value }` conditions (the first whose filter is a
 * substring of the tensor name, or has none, applies). `slices` (layer ranges), `modules`, `tokenizer`
 * and `chat_template` are mergekit features not implemented here and are refused by name; `int8_mask`
 * (a memory saving) is accepted and has no effect.
 */
import { parse } from "yaml";

export class MergeConfigError extends Error {
  override name = "MergeConfigError";
}

export type Setting = number | boolean | string | number[] | { filter?: string | null; value: Setting }[];

export interface ModelEntry {
  model: string;
  parameters: Record<string, Setting>;
}

export interface MergeConfig {
  mergeMethod: string;
  baseModel: string | null;
  models: ModelEntry[];
  parameters: Record<string, Setting>;
  dtype: "float32" | "float16" | "bfloat16" | null;
  outDtype: "float32" | "float16" | "bfloat16" | null;
}

export const MERGE_METHODS = [
  "linear",
  "task_arithmetic",
  "ties",
  "dare_ties",
  "dare_linear",
  "breadcrumbs",
  "breadcrumbs_ties",
  "della",
  "della_linear",
  "sce",
  "slerp",
  "nuslerp",
  "karcher",
  "model_stock",
  "passthrough",
] as const;

const UNSUPPORTED = ["slices", "modules", "tokenizer", "tokenizer_source", "chat_template"];
const KNOWN = ["merge_method", "base_model", "models", "parameters", "dtype", "out_dtype", "name", ...UNSUPPORTED];
const DTYPES: Record<string, "float32" | "float16" | "bfloat16"> = {
  float32: "float32",
  fp32: "float32",
  float16: "float16",
  fp16: "float16",
  half: "float16",
  bfloat16: "bfloat16",
  bf16: "bfloat16",
};

function setting(v: unknown, where: string): Setting {
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "string") return v;
  if (Array.isArray(v)) {
    if (v.length === 0) throw new MergeConfigError(`${where}: an empty list is not a parameter value.`);
    if (v.every((x) => typeof x === "number")) return v;
    return v.map((c, i) => {
      if (typeof c !== "object" || c === null || !("value" in c)) throw new MergeConfigError(`${where}[${i}]: expected a number (a gradient) or { filter, value } (a condition), got ${JSON.stringify(c)}.`);
      const cond = c as { filter?: unknown; value: unknown };
      if (cond.filter !== undefined && cond.filter !== null && typeof cond.filter !== "string") throw new MergeConfigError(`${where}[${i}].filter must be a string.`);
      return { filter: (cond.filter) ?? null, value: setting(cond.value, `${where}[${i}].value`) };
    });
  }
  throw new MergeConfigError(`${where}: expected a number, a list of numbers or a list of { filter, value }, got ${JSON.stringify(v)}.`);
}

function parameters(v: unknown, where: string): Record<string, Setting> {
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v)) throw new MergeConfigError(`${where} must be a mapping of parameter names to values.`);
  return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, setting(x, `${where}.${k}`)]));
}

function dtype(v: unknown, where: string): "float32" | "float16" | "bfloat16" | null {
  if (v === undefined || v === null) return null;
  const d = typeof v === "string" ? DTYPES[v] : undefined;
  if (d === undefined) throw new MergeConfigError(`${where}: ${JSON.stringify(v)} is not supported; use float32, float16 or bfloat16.`);
  return d;
}

/** Parses and validates a mergekit YAML config. Errors name the field and the fix. */
export function parseMergeConfig(text: string, where = "merge config"): MergeConfig {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (e) {
    throw new MergeConfigError(`${where}: not valid YAML (${(e as Error).message}).`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new MergeConfigError(`${where}: expected a YAML mapping with merge_method and models.`);
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (UNSUPPORTED.includes(k)) throw new MergeConfigError(`${where}: "${k}" is a mergekit feature peftjs-merge does not implement; use "models:" (every layer of every model).`);
    if (!KNOWN.includes(k)) throw new MergeConfigError(`${where}: unknown field "${k}"; fields are ${KNOWN.filter((f) => !UNSUPPORTED.includes(f)).join(", ")}.`);
  }
  const method = o.merge_method;
  if (typeof method !== "string" || !(MERGE_METHODS as readonly string[]).includes(method)) {
    throw new MergeConfigError(`${where}: merge_method ${JSON.stringify(method)} is not supported; use one of ${MERGE_METHODS.join(", ")}.`);
  }
  if (!Array.isArray(o.models) || o.models.length === 0) throw new MergeConfigError(`${where}: "models" must be a non-empty list of { model, parameters }.`);
  const models = o.models.map((m, i): ModelEntry => {
    if (typeof m !== "object" || m === null || typeof (m as { model?: unknown }).model !== "string") throw new MergeConfigError(`${where}: models[${i}] needs "model: <path>".`);
    const e = m as { model: string; parameters?: unknown };
    for (const k of Object.keys(e)) if (k !== "model" && k !== "parameters") throw new MergeConfigError(`${where}: models[${i}] has unknown field "${k}" (fields: model, parameters).`);
    return { model: e.model, parameters: parameters(e.parameters, `models[${i}].parameters`) };
  });
  const baseModel = o.base_model === undefined || o.base_model === null ? null : o.base_model;
  if (baseModel !== null && typeof baseModel !== "string") throw new MergeConfigError(`${where}: base_model must be a path.`);
  return {
    mergeMethod: method,
    baseModel,
    models,
    parameters: parameters(o.parameters, "parameters"),
    dtype: dtype(o.dtype, "dtype"),
    outDtype: dtype(o.out_dtype, "out_dtype"),
  };
}

/** mergekit `evaluate_setting`: the value of a setting for one tensor at layer position t ∈ [0, 1]. */
export function evaluateSetting(tensorName: string, s: Setting, t: number): number | boolean | string | null {
  if (typeof s === "number" || typeof s === "boolean" || typeof s === "string") return s;
  if (s.every((x) => typeof x === "number")) {
    const list = s;
    const scaled = t * (list.length - 1);
    const i0 = Math.floor(scaled);
    const i1 = Math.min(list.length - 1, i0 + 1);
    const frac = scaled - i0;
    return (1 - frac) * list[i0]! + frac * list[i1]!;
  }
  for (const cond of s as { filter?: string | null; value: Setting }[]) {
    if (cond.filter === null || cond.filter === undefined || cond.filter === "*" || tensorName.includes(cond.filter)) return evaluateSetting(tensorName, cond.value, t);
  }
  return null;
}

/**
 * A tensor's layer position: `t = layer / (layers − 1)` for tensors inside a numbered block
 * (`….h.3.…`, `….layers.3.…`, `….layer.3.…`), else 0 (mergekit plans non-layer weights with t = 0).
 */
export function layerPosition(tensorName: string, numLayers: number): number {
  const m = /(?:^|\.)(?:h|layers|layer|blocks)\.(\d+)\./.exec(tensorName);
  if (m === null || numLayers <= 1) return 0;
  return Number(m[1]) / (numLayers - 1);
}

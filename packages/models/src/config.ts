/**
 * Reading and writing Hugging Face `config.json` fields. Each architecture's config is a plain readonly
 * object in camelCase with the fields every PEFT method needs under common names (`hiddenSize`,
 * `numHiddenLayers`, `numAttentionHeads`, `numKeyValueHeads`, `headDim`, `vocabSize` — PEFT's
 * `_prepare_prompt_learning_config` reads the same facts), plus `raw`: the JSON it was read from, so that
 * fields this package does not model survive a load → save round trip.
 */

export type JsonObject = Record<string, unknown>;

/** What every model config here has. */
export type BaseModelConfig = {
  readonly modelType: string;
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly numHiddenLayers: number;
  readonly numAttentionHeads: number;
  /** Key/value heads (grouped-query attention); equals `numAttentionHeads` for GPT-2 and BERT. */
  readonly numKeyValueHeads: number;
  readonly headDim: number;
  readonly maxPositionEmbeddings: number;
  /** Std of the normal initialisation of weights (transformers `initializer_range`). */
  readonly initializerRange: number;
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | number[] | null;
  readonly padTokenId: number | null;
  /** The config.json this config was read from ({} for presets); unknown fields are written back on save. */
  readonly raw: JsonObject;
};

/** Typed access to config.json fields with errors that name the file, the field and what was expected. */
export class ConfigReader {
  constructor(
    readonly json: JsonObject,
    readonly source: string,
  ) {}

  has(key: string): boolean {
    return this.json[key] !== undefined && this.json[key] !== null;
  }

  int(key: string, fallback?: number): number {
    const v = this.json[key] ?? fallback;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
      throw this.error(key, "a non-negative integer", v);
    }
    return v;
  }

  positiveInt(key: string, fallback?: number): number {
    const v = this.json[key] ?? fallback;
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) throw this.error(key, "a positive integer", v);
    return v;
  }

  number(key: string, fallback?: number): number {
    const v = this.json[key] ?? fallback;
    if (typeof v !== "number" || !Number.isFinite(v)) throw this.error(key, "a finite number", v);
    return v;
  }

  bool(key: string, fallback?: boolean): boolean {
    const v = this.json[key] ?? fallback;
    if (typeof v !== "boolean") throw this.error(key, "true or false", v);
    return v;
  }

  string(key: string, fallback?: string): string {
    const v = this.json[key] ?? fallback;
    if (typeof v !== "string") throw this.error(key, "a string", v);
    return v;
  }

  optionalInt(key: string): number | null {
    return this.has(key) ? this.int(key) : null;
  }

  /** `eos_token_id` may be one id or a list of ids. */
  tokenIds(key: string): number | number[] | null {
    const v = this.json[key];
    if (v === undefined || v === null) return null;
    if (Array.isArray(v) && v.every((x) => typeof x === "number" && Number.isInteger(x))) return v as number[];
    return this.int(key);
  }

  error(key: string, expected: string, got: unknown): Error {
    return new Error(`${this.source}: field "${key}" must be ${expected}, got ${JSON.stringify(got) ?? String(got)}.`);
  }
}

/** Fails unless `n` heads split `hidden` evenly (what transformers checks in every attention layer). */
export function checkHeads(source: string, hidden: number, heads: number): void {
  if (hidden % heads !== 0) {
    throw new Error(`${source}: the hidden size (${hidden}) must be a multiple of the number of attention heads (${heads}).`);
  }
}

/** Writes the fields every config shares, over the raw JSON (unknown fields kept). */
export function baseConfigJson(config: BaseModelConfig, architecture: string): JsonObject {
  const out: JsonObject = { ...config.raw };
  out.model_type = config.modelType;
  out.architectures = [architecture];
  out.bos_token_id = config.bosTokenId;
  out.eos_token_id = config.eosTokenId;
  out.pad_token_id = config.padTokenId;
  // transformers 5 writes "dtype" (4.x wrote "torch_dtype"); our weights are always float32.
  if ("torch_dtype" in out) out.torch_dtype = "float32";
  else out.dtype = "float32";
  return out;
}

/** Removes `undefined` values so that `{ ...preset, ...overrides }` cannot blank a field by accident. */
export function definedOnly<T extends object>(overrides: T): Partial<T> {
  return Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * config.json fields that transformers 5's strict config dataclasses type as `float` (a JSON `3` is an int
 * there and fails validation: "Field 'final_logit_softcapping' expected float, got int"), plus the float
 * entries of rope_parameters.
 */
const FLOAT_FIELDS = new Set([
  "attn_logit_softcapping",
  "final_logit_softcapping",
  "initializer_range",
  "layer_norm_eps",
  "layer_norm_epsilon",
  "rms_norm_eps",
  "rope_theta",
  "factor",
  "attention_factor",
]);

/**
 * `JSON.stringify(json, null, 2)`, except that whole numbers under the float fields are written as `3.0`
 * (JavaScript has one number type; Python's json reads `3` as an int).
 */
export function configJsonText(json: JsonObject): string {
  const write = (v: unknown, indent: string, float: boolean): string => {
    if (typeof v === "number" && float && Number.isInteger(v)) return `${v}.0`;
    if (Array.isArray(v)) {
      if (v.length === 0) return "[]";
      const inner = indent + "  ";
      return `[\n${v.map((x) => inner + write(x, inner, float)).join(",\n")}\n${indent}]`;
    }
    if (typeof v === "object" && v !== null) {
      const entries = Object.entries(v).filter(([, x]) => x !== undefined);
      if (entries.length === 0) return "{}";
      const inner = indent + "  ";
      return `{\n${entries.map(([k, x]) => `${inner}${JSON.stringify(k)}: ${write(x, inner, FLOAT_FIELDS.has(k))}`).join(",\n")}\n${indent}}`;
    }
    return JSON.stringify(v) ?? "null";
  };
  return `${write(json, "", false)}\n`;
}

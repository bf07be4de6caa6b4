/**
 * What the three prompt-learning configs share: PEFT's `PromptLearningConfig` (peft `config.py`) with
 * camelCase names, the option-parsing helpers, and the model dimensions filled in at injection (peft
 * `utils/other.py: _prepare_prompt_learning_config`).
 */
import { TASK_TYPES, readCommonPeftConfig } from "@peftjs/core";
import type { BasePeftConfig, Module } from "@peftjs/core";

/** PEFT `PromptLearningConfig`: fields of prompt tuning, prefix tuning and P-tuning alike. */
export interface PromptLearningConfig extends BasePeftConfig {
  /** Virtual tokens to learn (required; PEFT has no default). */
  readonly numVirtualTokens: number;
  /** Width of a virtual token: the model's hidden size (prefix tuning: key/value heads × head dim). Null: from the model. */
  readonly tokenDim: number | null;
  /** 1 for decoder-only and encoder-only models (2 is for encoder-decoder models, which peftjs has none of). Null: 1. */
  readonly numTransformerSubmodules: number | null;
  /** The model's attention heads (prefix tuning: key/value heads). Null: from the model. */
  readonly numAttentionHeads: number | null;
  /** The model's transformer layers. Null: from the model. */
  readonly numLayers: number | null;
}

/** The option names every prompt-learning method accepts (camelCase) and their adapter_config.json names. */
export const COMMON_OPTIONS: Readonly<Record<string, string>> = {
  numVirtualTokens: "num_virtual_tokens",
  tokenDim: "token_dim",
  numTransformerSubmodules: "num_transformer_submodules",
  numAttentionHeads: "num_attention_heads",
  numLayers: "num_layers",
  taskType: "task_type",
  baseModelNameOrPath: "base_model_name_or_path",
  inferenceMode: "inference_mode",
  modulesToSave: "modules_to_save",
};

/** Fields PEFT writes into every config that nothing here reads. */
export const IGNORED_FIELDS: readonly string[] = ["peft_type", "peft_version", "revision", "auto_mapping"];

export class PromptConfigError extends Error {
  override name = "PromptConfigError";
}

/** Throws a PromptConfigError prefixed with the method's name ("Prompt tuning config: …"). */
export function configError(method: string, message: string): never {
  throw new PromptConfigError(`${method} config: ${message}`);
}

export function describe(v: unknown): string {
  return v === undefined ? "undefined" : typeof v === "function" ? "a function" : JSON.stringify(v);
}

/** Reads options with one method's messages; every reader treats `undefined` as "not given". */
export class OptionReader {
  constructor(
    readonly method: string,
    readonly options: Record<string, unknown>,
  ) {}

  fail(message: string): never {
    configError(this.method, message);
  }

  positiveInt(name: string, hint = ""): number | null {
    const v = this.options[name];
    if (v === undefined || v === null) return null;
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) this.fail(`${name} must be a positive integer, got ${describe(v)}.${hint}`);
    return v;
  }

  bool(name: string, fallback: boolean): boolean {
    const v = this.options[name];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== "boolean") this.fail(`${name} must be true or false, got ${describe(v)}.`);
    return v;
  }

  string(name: string): string | null {
    const v = this.options[name];
    if (v === undefined || v === null) return null;
    if (typeof v !== "string") this.fail(`${name} must be a string or null, got ${describe(v)}.`);
    return v;
  }

  oneOf<T extends string>(name: string, values: readonly T[], fallback: T): T {
    const v = this.options[name];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== "string" || !(values as readonly string[]).includes(v)) this.fail(`${name} must be one of ${values.map((s) => `"${s}"`).join(", ")}, got ${describe(v)}.`);
    return v as T;
  }

  /** Refuses option names this method does not have, with the camelCase name of a snake_case one. */
  checkNames(valid: Readonly<Record<string, string>>, extra: readonly string[] = []): void {
    const names = [...Object.keys(valid), ...extra];
    const unknown = Object.keys(this.options).filter((k) => !names.includes(k) && k !== "peftType");
    if (unknown.length === 0) return;
    const hints = unknown
      .map((k) => Object.entries(valid).find(([, snake]) => snake === k))
      .filter((e) => e !== undefined)
      .map(([camel, snake]) => `"${snake}" → "${camel}"`);
    this.fail(
      `unknown option${unknown.length > 1 ? "s" : ""} ${unknown.map((k) => `"${k}"`).join(", ")}.` +
        (hints.length > 0 ? ` Options are camelCase here: ${hints.join(", ")}.` : "") +
        ` Valid options: ${names.join(", ")}.`,
    );
  }
}

/** The common fields, validated, with PEFT's defaults. */
export function parseCommon<T extends string>(r: OptionReader, peftType: T): Omit<PromptLearningConfig, "peftType"> & { peftType: T } {
  const o = r.options;
  if (o.peftType !== undefined && o.peftType !== peftType) r.fail(`peftType must be "${peftType}", got ${describe(o.peftType)}.`);
  const numVirtualTokens = r.positiveInt("numVirtualTokens", " It is the number of learned virtual tokens, e.g. numVirtualTokens: 20.");
  if (numVirtualTokens === null) r.fail("numVirtualTokens is required: how many virtual tokens to learn, e.g. numVirtualTokens: 20 (PEFT has no default either).");
  const taskType = r.string("taskType");
  if (taskType !== null && !(TASK_TYPES as readonly string[]).includes(taskType)) {
    r.fail(`taskType ${describe(taskType)} is not a PEFT task type; use one of ${TASK_TYPES.join(", ")} or null.`);
  }
  if (taskType === "SEQ_2_SEQ_LM") r.fail(`taskType "SEQ_2_SEQ_LM" needs an encoder-decoder model, which @peftjs/models does not have; use "CAUSAL_LM" or "SEQ_CLS".`);
  const submodules = r.positiveInt("numTransformerSubmodules");
  if (submodules !== null && submodules !== 1) {
    r.fail(`numTransformerSubmodules must be 1 (decoder-only and encoder-only models), got ${submodules}; 2 is for encoder-decoder models, which are not supported.`);
  }
  const mts = o.modulesToSave;
  if (mts !== undefined && mts !== null && (!Array.isArray(mts) || !mts.every((m) => typeof m === "string"))) {
    r.fail(`modulesToSave must be a list of module names or null, got ${describe(mts)}.`);
  }
  return {
    peftType,
    taskType,
    baseModelNameOrPath: r.string("baseModelNameOrPath"),
    inferenceMode: r.bool("inferenceMode", false),
    modulesToSave: mts === undefined || mts === null ? null : [...mts],
    numVirtualTokens,
    tokenDim: r.positiveInt("tokenDim", " Leave it unset to take the model's hidden size."),
    numTransformerSubmodules: submodules,
    numAttentionHeads: r.positiveInt("numAttentionHeads"),
    numLayers: r.positiveInt("numLayers"),
  };
}

/** The common fields, snake_case, as PEFT writes them. */
export function commonToPeft(config: PromptLearningConfig): Record<string, unknown> {
  return {
    peft_type: config.peftType,
    task_type: config.taskType,
    base_model_name_or_path: config.baseModelNameOrPath,
    inference_mode: config.inferenceMode,
    modules_to_save: config.modulesToSave,
    num_virtual_tokens: config.numVirtualTokens,
    token_dim: config.tokenDim,
    num_transformer_submodules: config.numTransformerSubmodules,
    num_attention_heads: config.numAttentionHeads,
    num_layers: config.numLayers,
  };
}

/**
 * adapter_config.json → camelCase options for `parse`: core's common fields, the method's own (`own`:
 * camelCase → snake_case), PEFT's bookkeeping fields skipped, anything else returned as unknown (PeftModel
 * warns, like PEFT). PEFT writes null for "unset", which the parsers read as "default".
 */
export function optionsFromPeft(method: string, peftType: string, json: Record<string, unknown>, own: Readonly<Record<string, string>>): { options: Record<string, unknown>; unknownFields: string[] } {
  if (json.peft_type !== undefined && json.peft_type !== peftType) {
    configError(method, `adapter_config.json has peft_type ${describe(json.peft_type)}; expected "${peftType}".`);
  }
  const options: Record<string, unknown> = { ...readCommonPeftConfig(json) };
  const bySnake = new Map(Object.entries({ ...COMMON_OPTIONS, ...own }).map(([camel, snake]) => [snake, camel]));
  const unknownFields: string[] = [];
  for (const [key, value] of Object.entries(json)) {
    if (IGNORED_FIELDS.includes(key) || ["task_type", "base_model_name_or_path", "inference_mode", "modules_to_save"].includes(key)) continue;
    const camel = bySnake.get(key);
    if (camel === undefined) unknownFields.push(key);
    else if (value !== null) options[camel] = value;
  }
  // PEFT's SEQ_CLS PeftModel appends "classifier" and "score" to modules_to_save each time the config is
  // used, so saved configs list them twice; one copy is what it means.
  if (Array.isArray(options.modulesToSave)) options.modulesToSave = [...new Set(options.modulesToSave as string[])];
  return { options, unknownFields };
}

/** The model dimensions prompt methods need, read from a `@peftjs/models`-style config. */
export interface ModelDims {
  readonly modelType: string | null;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly numAttentionHeads: number;
  readonly numKeyValueHeads: number;
  readonly headDim: number;
  readonly vocabSize: number | null;
}

function field(config: Record<string, unknown>, names: readonly string[]): number | null {
  for (const n of names) {
    const v = config[n];
    if (typeof v === "number" && Number.isInteger(v) && v > 0) return v;
  }
  return null;
}

/**
 * The model's dimensions (PEFT `_prepare_prompt_learning_config` reads `num_hidden_layers` / `n_layer`,
 * `hidden_size` / `n_embd` / `d_model`, `num_attention_heads` / `n_head`, `num_key_value_heads`, `head_dim`).
 * Throws, naming the config fields to set, when the model does not say.
 */
export function modelDims(model: Module, method: string): ModelDims {
  const config = (model as unknown as { config?: Record<string, unknown> }).config;
  if (config === undefined || config === null || typeof config !== "object") {
    configError(method, "the model has no `config` object; prompt methods read the hidden size, layer and head counts from it (set tokenDim, numLayers and numAttentionHeads, or use a @peftjs/models model).");
  }
  const hiddenSize = field(config, ["hiddenSize", "nEmbd", "dModel", "hidden_size", "n_embd", "d_model"]);
  const numLayers = field(config, ["numHiddenLayers", "numLayers", "nLayer", "num_hidden_layers", "num_layers", "n_layer"]);
  const numAttentionHeads = field(config, ["numAttentionHeads", "nHead", "numHeads", "num_attention_heads", "n_head", "num_heads"]);
  if (hiddenSize === null || numLayers === null || numAttentionHeads === null) {
    configError(method, "the model config does not give hiddenSize, numHiddenLayers and numAttentionHeads; pass tokenDim, numLayers and numAttentionHeads in the config.");
  }
  const numKeyValueHeads = field(config, ["numKeyValueHeads", "num_key_value_heads"]) ?? numAttentionHeads;
  const headDim = field(config, ["headDim", "head_dim"]) ?? hiddenSize / numAttentionHeads;
  const modelType = typeof config.modelType === "string" ? config.modelType : typeof config.model_type === "string" ? config.model_type : null;
  return { modelType, hiddenSize, numLayers, numAttentionHeads, numKeyValueHeads, headDim, vocabSize: field(config, ["vocabSize", "vocab_size"]) };
}

/**
 * Fills `tokenDim`, `numLayers`, `numAttentionHeads` and `numTransformerSubmodules` from the model and checks
 * given values against it. `want` is what this method needs: the hidden size for virtual tokens, the key/value
 * width for prefix tuning (PEFT, for grouped-query attention: token_dim = kv heads × head dim and
 * num_attention_heads = kv heads). A mismatch is an error that names both values and the fix.
 */
export function resolveDims<C extends PromptLearningConfig>(config: C, want: { tokenDim: number; numAttentionHeads: number; numLayers: number; what: string }, method: string): C {
  const check = (name: keyof PromptLearningConfig, given: number | null, needed: number, meaning: string): number => {
    if (given !== null && given !== needed) {
      configError(method, `${String(name)} is ${given} but the model needs ${needed} (${meaning}). Leave ${String(name)} unset to take it from the model, or use the base model the adapter was made for.`);
    }
    return needed;
  };
  return {
    ...config,
    tokenDim: check("tokenDim", config.tokenDim, want.tokenDim, want.what),
    numAttentionHeads: check("numAttentionHeads", config.numAttentionHeads, want.numAttentionHeads, "its attention heads"),
    numLayers: check("numLayers", config.numLayers, want.numLayers, "its transformer layers"),
    numTransformerSubmodules: 1,
  };
}

/**
 * LoRA configuration: PEFT's `LoraConfig` (peft `tuners/lora/config.py`) with camelCase names, PEFT's
 * defaults and validation, and the conversion to and from the snake_case `adapter_config.json`.
 */
import { TASK_TYPES, readCommonPeftConfig, translatePythonRegex } from "@peftjs/core";
import type { BasePeftConfig, TargetSelection } from "@peftjs/core";

/**
 * How adapter weights start (PEFT `init_lora_weights`):
 * - `true`: A kaiming-uniform (torch's nn.Linear init), B zeros, so the adapter starts as a no-op;
 * - `"gaussian"`: A ~ N(0, (1/r)²), B zeros;
 * - `"pissa"` / `"pissa_niter_<n>"`: A, B from the top-r SVD of W and W ← W − s·BA (PiSSA). Here both use the
 *   exact SVD; PEFT's `pissa_niter_<n>` uses a randomized SVD, whose result approaches the exact one;
 * - `false`: A and B both random (nn.Linear's default init), so the adapter is not a no-op — for tests.
 * Embedding targets always start with A zeros and B ~ N(0, 1) (PEFT swaps them for embeddings).
 */
export type InitLoraWeights = boolean | "gaussian" | "pissa" | `pissa_niter_${number}`;

export type LoraBias = "none" | "all" | "lora_only";

export interface LoraConfig extends BasePeftConfig, TargetSelection {
  readonly peftType: "LORA";
  /** LoRA rank (default 8). */
  r: number;
  /** Scaling numerator: s = loraAlpha / r, or loraAlpha / √r with `useRslora` (default 8). */
  loraAlpha: number;
  /** Dropout on the adapter's input (default 0). */
  loraDropout: number;
  /** Whether the target stores its weight `[in, out]` (GPT-2 Conv1D). Set from the target's layout on inject, like PEFT. */
  fanInFanOut: boolean;
  /** Which biases are trained and saved: none, every bias of the model, or the biases of the wrapped layers. */
  bias: LoraBias;
  /** Rank-stabilised LoRA (Kalajdzievski 2023): s = loraAlpha / √r. */
  useRslora: boolean;
  /** DoRA (Liu et al. 2024): a learned magnitude per output feature times the normalised direction W + sBA. */
  useDora: boolean;
  initLoraWeights: InitLoraWeights;
  /** Module path pattern → rank (PEFT `get_pattern_key` semantics: `(.*\.)?(pattern)$`). */
  rankPattern: Record<string, number>;
  /** Module path pattern → alpha. */
  alphaPattern: Record<string, number>;
}

/** User options for `lora({...})`: every field optional; PEFT's defaults fill the rest. */
export interface LoraOptions {
  r?: number;
  loraAlpha?: number;
  loraDropout?: number;
  targetModules?: readonly string[] | string | null;
  excludeModules?: readonly string[] | string | null;
  fanInFanOut?: boolean;
  bias?: LoraBias;
  useRslora?: boolean;
  useDora?: boolean;
  initLoraWeights?: InitLoraWeights;
  layersToTransform?: readonly number[] | number | null;
  layersPattern?: readonly string[] | string | null;
  rankPattern?: Record<string, number>;
  alphaPattern?: Record<string, number>;
  modulesToSave?: readonly string[] | null;
  taskType?: string | null;
  baseModelNameOrPath?: string | null;
  inferenceMode?: boolean;
}

export const LORA_DEFAULTS = {
  r: 8,
  loraAlpha: 8,
  loraDropout: 0,
  fanInFanOut: false,
  bias: "none",
  useRslora: false,
  useDora: false,
  initLoraWeights: true,
} as const;

const OPTION_NAMES: readonly (keyof LoraOptions)[] = [
  "r",
  "loraAlpha",
  "loraDropout",
  "targetModules",
  "excludeModules",
  "fanInFanOut",
  "bias",
  "useRslora",
  "useDora",
  "initLoraWeights",
  "layersToTransform",
  "layersPattern",
  "rankPattern",
  "alphaPattern",
  "modulesToSave",
  "taskType",
  "baseModelNameOrPath",
  "inferenceMode",
];

/** camelCase option → PEFT's snake_case adapter_config.json field. */
const SNAKE: Record<keyof LoraOptions, string> = {
  r: "r",
  loraAlpha: "lora_alpha",
  loraDropout: "lora_dropout",
  targetModules: "target_modules",
  excludeModules: "exclude_modules",
  fanInFanOut: "fan_in_fan_out",
  bias: "bias",
  useRslora: "use_rslora",
  useDora: "use_dora",
  initLoraWeights: "init_lora_weights",
  layersToTransform: "layers_to_transform",
  layersPattern: "layers_pattern",
  rankPattern: "rank_pattern",
  alphaPattern: "alpha_pattern",
  modulesToSave: "modules_to_save",
  taskType: "task_type",
  baseModelNameOrPath: "base_model_name_or_path",
  inferenceMode: "inference_mode",
};

/**
 * PEFT fields this package reads past without using, as long as they hold their "off" value. A non-default
 * value means a LoRA variant this package does not implement, so loading refuses rather than computing
 * something else.
 */
const IGNORED_WHEN_OFF: Record<string, (v: unknown) => boolean> = {
  peft_type: () => true,
  peft_version: () => true,
  revision: () => true,
  auto_mapping: () => true,
  megatron_config: isOff,
  megatron_core: () => true,
  loftq_config: isOff,
  eva_config: isOff,
  corda_config: isOff,
  lora_ga_config: isOff,
  velora_config: isOff,
  monteclora_config: isOff,
  kasa_config: isOff,
  arrow_config: isOff,
  use_bdlora: isOff,
  trainable_token_indices: isOff,
  alora_invocation_tokens: isOff,
  use_qalora: isOff,
  qalora_group_size: () => true,
  layer_replication: isOff,
  runtime_config: () => true,
  lora_bias: isOff,
  target_parameters: isOff,
  ensure_weight_tying: isOff,
};

function isOff(v: unknown): boolean {
  if (v === null || v === undefined || v === false) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === "object") return Object.keys(v).length === 0;
  return false;
}

export class LoraConfigError extends Error {
  override name = "LoraConfigError";
}

function fail(message: string): never {
  throw new LoraConfigError(`LoRA config: ${message}`);
}

function describe(v: unknown): string {
  return v === undefined ? "undefined" : JSON.stringify(v);
}

function positiveInt(name: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) fail(`${name} must be a positive integer, got ${describe(v)}.`);
  return v;
}

function finiteNumber(name: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isFinite(v)) fail(`${name} must be a finite number, got ${describe(v)}.`);
  return v;
}

function bool(name: string, v: unknown): boolean {
  if (typeof v !== "boolean") fail(`${name} must be true or false, got ${describe(v)}.`);
  return v;
}

function stringOrNull(name: string, v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v !== "string") fail(`${name} must be a string or null, got ${describe(v)}.`);
  return v;
}

function stringList(name: string, v: unknown): string[] | null {
  if (v === null || v === undefined) return null;
  if (!Array.isArray(v) || !v.every((s) => typeof s === "string")) fail(`${name} must be a list of strings or null, got ${describe(v)}.`);
  return [...v] as string[];
}

function stringsOrString(name: string, v: unknown): string[] | string | null {
  if (typeof v === "string") return v;
  return stringList(name, v);
}

function regexIsValid(name: string, pattern: string): void {
  try {
    // Checked as the matcher compiles it: after translating Python-only syntax ((?P<name>…), \A, (?i), …).
    const { source, flags } = translatePythonRegex(pattern);
    new RegExp(source, flags);
  } catch (e) {
    fail(`${name} ${JSON.stringify(pattern)} is not a valid regular expression (${(e as Error).message}).`);
  }
}

function patternRecord(name: string, v: unknown, check: (key: string, value: unknown) => number): Record<string, number> {
  if (v === null || v === undefined) return {};
  if (typeof v !== "object" || Array.isArray(v)) fail(`${name} must be an object mapping module path patterns to numbers, got ${describe(v)}.`);
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(v as Record<string, unknown>)) {
    regexIsValid(`${name} key`, key);
    out[key] = check(key, value);
  }
  return out;
}

function initLoraWeights(v: unknown): InitLoraWeights {
  if (typeof v === "boolean") return v;
  if (v === "gaussian" || v === "pissa") return v;
  if (typeof v === "string" && /^pissa_niter_\d+$/.test(v)) return v as `pissa_niter_${number}`;
  fail(
    `initLoraWeights ${describe(v)} is not supported; use true (default), false, "gaussian", "pissa" or "pissa_niter_<n>" ` +
      `(PEFT's "olora", "eva", "corda", "loftq", "orthogonal", "mica" and "lora_ga" are not implemented).`,
  );
}

function layers(v: unknown): number[] | number | null {
  if (v === null || v === undefined) return null;
  if (typeof v === "number" && Number.isInteger(v) && v >= 0) return v;
  if (Array.isArray(v) && v.every((i) => typeof i === "number" && Number.isInteger(i) && i >= 0)) return [...(v as number[])];
  fail(`layersToTransform must be a non-negative integer, a list of them, or null, got ${describe(v)}.`);
}

/**
 * Validates user options (camelCase) and fills PEFT's defaults. Unknown option names are refused with the
 * list of valid ones (a typo would otherwise be silently ignored).
 */
export function parseLoraConfig(raw: unknown): LoraConfig {
  if (raw === undefined || raw === null) raw = {};
  if (typeof raw !== "object" || Array.isArray(raw)) fail(`options must be an object, got ${describe(raw)}.`);
  const o = raw as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !(OPTION_NAMES as readonly string[]).includes(k) && k !== "peftType");
  if (unknown.length > 0) {
    const snakeHint = unknown
      .map((k) => Object.entries(SNAKE).find(([, s]) => s === k))
      .filter((e) => e !== undefined)
      .map(([camel, snake]) => `"${snake}" → "${camel}"`);
    fail(
      `unknown option${unknown.length > 1 ? "s" : ""} ${unknown.map((k) => `"${k}"`).join(", ")}.` +
        (snakeHint.length > 0 ? ` Options are camelCase here: ${snakeHint.join(", ")}.` : "") +
        ` Valid options: ${OPTION_NAMES.join(", ")}.`,
    );
  }
  if (o.peftType !== undefined && o.peftType !== "LORA") fail(`peftType must be "LORA", got ${describe(o.peftType)}.`);

  const r = o.r === undefined ? LORA_DEFAULTS.r : positiveInt("r", o.r);
  const loraAlpha = o.loraAlpha === undefined ? LORA_DEFAULTS.loraAlpha : finiteNumber("loraAlpha", o.loraAlpha);
  const loraDropout = o.loraDropout === undefined ? LORA_DEFAULTS.loraDropout : finiteNumber("loraDropout", o.loraDropout);
  if (!(loraDropout >= 0 && loraDropout < 1)) fail(`loraDropout must be in [0, 1), got ${loraDropout}.`);
  const bias = o.bias === undefined ? LORA_DEFAULTS.bias : o.bias;
  if (bias !== "none" && bias !== "all" && bias !== "lora_only") fail(`bias must be "none", "all" or "lora_only", got ${describe(bias)}.`);

  const targetModules = stringsOrString("targetModules", o.targetModules);
  if (typeof targetModules === "string" && targetModules !== "all-linear") regexIsValid("targetModules", targetModules);
  const excludeModules = stringsOrString("excludeModules", o.excludeModules);
  if (typeof excludeModules === "string") regexIsValid("excludeModules", excludeModules);
  const layersToTransform = layers(o.layersToTransform);
  const layersPattern = stringsOrString("layersPattern", o.layersPattern);
  // PEFT LoraConfig.__post_init__ checks.
  if (typeof targetModules === "string" && layersToTransform !== null) {
    fail("layersToTransform cannot be used when targetModules is a string (a regular expression); pass a list of module names.");
  }
  if (typeof targetModules === "string" && layersPattern !== null) {
    fail("layersPattern cannot be used when targetModules is a string (a regular expression); pass a list of module names.");
  }
  if (layersPattern !== null && layersToTransform === null) fail("layersPattern needs layersToTransform: say which layer indices to adapt.");

  const rankPattern = patternRecord("rankPattern", o.rankPattern, (k, v) => positiveInt(`rankPattern["${k}"]`, v));
  const alphaPattern = patternRecord("alphaPattern", o.alphaPattern, (k, v) => finiteNumber(`alphaPattern["${k}"]`, v));

  const taskType = stringOrNull("taskType", o.taskType);
  if (taskType !== null && !(TASK_TYPES as readonly string[]).includes(taskType)) {
    fail(`taskType ${describe(taskType)} is not a PEFT task type; use one of ${TASK_TYPES.join(", ")} or null.`);
  }

  return {
    peftType: "LORA",
    taskType,
    baseModelNameOrPath: stringOrNull("baseModelNameOrPath", o.baseModelNameOrPath),
    inferenceMode: o.inferenceMode === undefined ? false : bool("inferenceMode", o.inferenceMode),
    modulesToSave: stringList("modulesToSave", o.modulesToSave),
    targetModules,
    excludeModules,
    layersToTransform,
    layersPattern,
    r,
    loraAlpha,
    loraDropout,
    fanInFanOut: o.fanInFanOut === undefined ? LORA_DEFAULTS.fanInFanOut : bool("fanInFanOut", o.fanInFanOut),
    bias,
    useRslora: o.useRslora === undefined ? LORA_DEFAULTS.useRslora : bool("useRslora", o.useRslora),
    useDora: o.useDora === undefined ? LORA_DEFAULTS.useDora : bool("useDora", o.useDora),
    initLoraWeights: o.initLoraWeights === undefined ? LORA_DEFAULTS.initLoraWeights : initLoraWeights(o.initLoraWeights),
    rankPattern,
    alphaPattern,
  };
}

/** Config → PEFT's adapter_config.json object (snake_case, `peft_type` included). */
export function toPeftLoraConfig(config: LoraConfig): Record<string, unknown> {
  return {
    peft_type: "LORA",
    task_type: config.taskType,
    base_model_name_or_path: config.baseModelNameOrPath,
    inference_mode: config.inferenceMode,
    r: config.r,
    lora_alpha: config.loraAlpha,
    lora_dropout: config.loraDropout,
    target_modules: sortedList(config.targetModules),
    exclude_modules: sortedList(config.excludeModules),
    fan_in_fan_out: config.fanInFanOut,
    bias: config.bias,
    use_rslora: config.useRslora,
    use_dora: config.useDora,
    modules_to_save: config.modulesToSave,
    init_lora_weights: config.initLoraWeights,
    layers_to_transform: config.layersToTransform,
    layers_pattern: config.layersPattern,
    rank_pattern: { ...config.rankPattern },
    alpha_pattern: { ...config.alphaPattern },
    lora_bias: false,
  };
}

/**
 * adapter_config.json object → config. Fields PEFT writes for features that are off are read past; a
 * feature that is on but not implemented here is refused; fields nobody knows are returned in
 * `unknownFields` (PeftModel warns, like PEFT).
 */
export function fromPeftLoraConfig(json: Record<string, unknown>): { config: LoraConfig; unknownFields: string[] } {
  if (json.peft_type !== undefined && json.peft_type !== "LORA") {
    fail(`adapter_config.json has peft_type ${describe(json.peft_type)}; @peftjs/lora reads "LORA" only.`);
  }
  // "r": null is not PEFT's default (a missing "r" is: 8, as in LoraConfig); loading it as 8 would fail later on
  // every tensor's shape without naming r.
  if (json.r === null) {
    fail(`adapter_config.json has "r": null (the LoRA rank); set it to the rank the adapter was trained with (the first dimension of each lora_A weight in adapter_model.safetensors).`);
  }
  // The fields every PEFT config has, read and validated by core like PEFT's PeftConfig.
  const options: Record<string, unknown> = { ...readCommonPeftConfig(json) };
  const common = new Set(["task_type", "base_model_name_or_path", "inference_mode", "modules_to_save"]);
  const unknownFields: string[] = [];
  const bySnake = new Map(Object.entries(SNAKE).map(([camel, snake]) => [snake, camel]));
  for (const [key, value] of Object.entries(json)) {
    if (common.has(key)) continue;
    const camel = bySnake.get(key);
    if (camel !== undefined) {
      // PEFT writes null for "unset"; our parser takes undefined as "default" for the scalar fields.
      if (value !== null || !["r", "loraAlpha", "loraDropout", "fanInFanOut", "bias", "useRslora", "useDora", "initLoraWeights", "rankPattern", "alphaPattern"].includes(camel)) {
        options[camel] = value;
      }
      continue;
    }
    const ignore = IGNORED_WHEN_OFF[key];
    if (ignore !== undefined) {
      if (!ignore(value)) {
        fail(`adapter_config.json sets "${key}" to ${describe(value)}, a PEFT LoRA feature @peftjs/lora does not implement; the adapter cannot be loaded faithfully.`);
      }
      continue;
    }
    unknownFields.push(key);
  }
  return { config: parseLoraConfig(options), unknownFields };
}

/** A module list sorted (PEFT stores `target_modules` as a set), a regex string or null as it is. */
function sortedList(v: readonly string[] | string | null): string[] | string | null {
  return v === null || typeof v === "string" ? v : [...v].sort();
}

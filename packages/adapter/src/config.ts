/**
 * Bottleneck adapter configuration: AdapterHub's `BnConfig` (adapters `configuration/adapter_config.py`)
 * with camelCase names, its defaults and its presets (`SeqBnConfig` "pfeiffer" / "seq_bn",
 * `DoubleSeqBnConfig` "houlsby" / "double_seq_bn", `ParBnConfig` "par_bn" / "parallel"), and the
 * conversion to and from adapter_config.json: PEFT's layout (`peft_type` "BOTTLENECK", PEFT's common
 * fields) with AdapterHub's snake_case field names for everything bottleneck-specific.
 */
import { TASK_TYPES, readCommonPeftConfig } from "@peftjs/core";
import type { BasePeftConfig } from "@peftjs/core";
import { NON_LINEARITIES } from "./non-linearity.js";

export const BOTTLENECK_PEFT_TYPE = "BOTTLENECK";

/** AdapterHub `init_weights`: how the projections start (adapters `methods/modeling.py`, `Adapter.__init__`). */
export type InitWeights = "bert" | "mam_adapter" | "houlsby";

/** AdapterHub `scaling`: a constant, one learned scalar ("learned"), or one learned factor per channel ("channel"). */
export type Scaling = number | "learned" | "channel";

/**
 * AdapterHub `reduction_factor`: bottleneck size = ⌊hidden / factor⌋ (at least 1). A mapping gives a factor per
 * layer index (keys are the decimal index, `"default"` the rest), as AdapterHub's `BottleneckLayer.add_adapter`.
 */
export type ReductionFactor = number | Readonly<Record<string, number>>;

/**
 * Where a model's adapters go, for an architecture this package has no mapping for (see `architectures.ts`):
 * `layers` is the path of the block list; `mhAdapter` / `outputAdapter` are paths inside one block of the
 * residual-connection modules after attention and after the FFN (`ResidualConnection` in @peftjs/models).
 */
export interface AdapterLocations {
  layers: string;
  mhAdapter: string | null;
  outputAdapter: string | null;
}

export interface BottleneckConfig extends BasePeftConfig {
  readonly peftType: typeof BOTTLENECK_PEFT_TYPE;
  /** An adapter after the multi-head attention sublayer of each layer. */
  mhAdapter: boolean;
  /** An adapter after the feed-forward sublayer of each layer. */
  outputAdapter: boolean;
  reductionFactor: ReductionFactor;
  /** peftjs extension: an explicit bottleneck size for every layer; overrides `reductionFactor` when set. */
  bottleneckSize: number | null;
  /** transformers `get_activation` name (AdapterHub lower-cases it), or "leakyrelu". */
  nonLinearity: string;
  /** Add the block's residual (and apply its LayerNorm, where the block has a post-LN) before the adapter. */
  originalLnBefore: boolean;
  /** Add the block's residual (and apply its LayerNorm) after the adapter. */
  originalLnAfter: boolean;
  /** A new LayerNorm on the adapter's input. */
  lnBefore: boolean;
  /** A new LayerNorm on the adapter's output. */
  lnAfter: boolean;
  initWeights: InitWeights;
  /** Seed for the adapter weights' initialisation (AdapterHub `init_weights_seed`): every adapter module starts the same. */
  initWeightsSeed: number | null;
  /** Parallel adapter (He et al. 2021): reads the sublayer's input instead of its output. */
  isParallel: boolean;
  scaling: Scaling;
  /** A learned gate σ(mean over positions of gate(x)) on the adapter's output (UniPELT). */
  useGating: boolean;
  /** The adapter's own residual is the sublayer output before the block residual is added (true), after it (false), or after it but before the LayerNorm ("post_add"). */
  residualBeforeLn: boolean | "post_add";
  /** With `lnAfter`: add the adapter residual before the new LayerNorm instead of after it. */
  adapterResidualBeforeLn: boolean;
  /** Layer indices that get no adapter. */
  leaveOut: number[];
  /** Dropout on the adapter's output (after scaling). */
  dropout: number;
  /** Adapter placement for a model type without a built-in mapping; null uses the built-in one. */
  locations: AdapterLocations | null;
}

/** User options for `bottleneck({...})` and the presets: every field optional where the preset fills it. */
export interface BottleneckOptions {
  preset?: BottleneckPreset;
  mhAdapter?: boolean;
  outputAdapter?: boolean;
  reductionFactor?: ReductionFactor;
  bottleneckSize?: number | null;
  nonLinearity?: string;
  originalLnBefore?: boolean;
  originalLnAfter?: boolean;
  lnBefore?: boolean;
  lnAfter?: boolean;
  initWeights?: InitWeights;
  initWeightsSeed?: number | null;
  isParallel?: boolean;
  scaling?: Scaling;
  useGating?: boolean;
  residualBeforeLn?: boolean | "post_add";
  adapterResidualBeforeLn?: boolean;
  leaveOut?: number[];
  dropout?: number;
  locations?: AdapterLocations | null;
  modulesToSave?: string[] | null;
  taskType?: string | null;
  baseModelNameOrPath?: string | null;
  inferenceMode?: boolean;
}

type BnFields = Omit<BottleneckConfig, keyof BasePeftConfig | "bottleneckSize" | "locations">;

/** `BnConfig`'s defaults for the fields that have one (adapters 1.2). */
const BN_DEFAULTS = {
  originalLnBefore: false,
  originalLnAfter: true,
  lnBefore: false,
  lnAfter: false,
  initWeights: "bert",
  initWeightsSeed: null,
  isParallel: false,
  scaling: 1.0,
  useGating: false,
  residualBeforeLn: true,
  adapterResidualBeforeLn: false,
  leaveOut: [] as number[],
  dropout: 0.0,
} satisfies Partial<BnFields>;

/** AdapterHub's named configs (`ADAPTER_CONFIG_MAP`), as the full field set each dataclass produces. */
export const BOTTLENECK_PRESETS = {
  /** `SeqBnConfig` (Pfeiffer et al. 2020): one adapter after the FFN, on the post-residual (normed) state. */
  seq_bn: { ...BN_DEFAULTS, originalLnBefore: true, mhAdapter: false, outputAdapter: true, nonLinearity: "relu", reductionFactor: 16 },
  /** `DoubleSeqBnConfig` (Houlsby et al. 2019): adapters after attention and after the FFN. */
  double_seq_bn: { ...BN_DEFAULTS, mhAdapter: true, outputAdapter: true, nonLinearity: "swish", reductionFactor: 16 },
  /** `ParBnConfig` (He et al. 2021): parallel to the FFN, scaled by 4, up-projection starting at zero. */
  par_bn: { ...BN_DEFAULTS, mhAdapter: false, outputAdapter: true, nonLinearity: "relu", reductionFactor: 2, initWeights: "mam_adapter", isParallel: true, scaling: 4.0 },
} as const satisfies Record<string, BnFields>;

/** Preset names, AdapterHub's current and deprecated spellings. */
export const PRESET_ALIASES = {
  pfeiffer: "seq_bn",
  seq_bn: "seq_bn",
  houlsby: "double_seq_bn",
  double_seq_bn: "double_seq_bn",
  parallel: "par_bn",
  par_bn: "par_bn",
} as const;
export type BottleneckPreset = keyof typeof PRESET_ALIASES;

/** camelCase option → AdapterHub's snake_case field (or PEFT's, for the common fields). */
const SNAKE = {
  mhAdapter: "mh_adapter",
  outputAdapter: "output_adapter",
  reductionFactor: "reduction_factor",
  bottleneckSize: "bottleneck_size",
  nonLinearity: "non_linearity",
  originalLnBefore: "original_ln_before",
  originalLnAfter: "original_ln_after",
  lnBefore: "ln_before",
  lnAfter: "ln_after",
  initWeights: "init_weights",
  initWeightsSeed: "init_weights_seed",
  isParallel: "is_parallel",
  scaling: "scaling",
  useGating: "use_gating",
  residualBeforeLn: "residual_before_ln",
  adapterResidualBeforeLn: "adapter_residual_before_ln",
  leaveOut: "leave_out",
  dropout: "dropout",
  locations: "locations",
  modulesToSave: "modules_to_save",
  taskType: "task_type",
  baseModelNameOrPath: "base_model_name_or_path",
  inferenceMode: "inference_mode",
} as const satisfies Record<Exclude<keyof BottleneckOptions, "preset">, string>;

const OPTION_NAMES = ["preset", ...Object.keys(SNAKE)] as readonly string[];

/**
 * AdapterHub `BnConfig` fields for features this package does not implement: read past when they hold their
 * "off" value, refused otherwise (computing something else silently would be worse).
 */
const UNSUPPORTED_WHEN_ON: Record<string, (v: unknown) => boolean> = {
  inv_adapter: (v) => v === null || v === undefined,
  inv_adapter_reduction_factor: () => true,
  cross_adapter: (v) => v === false || v === null || v === undefined,
  phm_layer: (v) => v === false || v === null || v === undefined,
  stochastic_depth: (v) => v === 0 || v === null || v === undefined,
  // PHM settings only matter with phm_layer.
  phm_dim: () => true,
  factorized_phm_W: () => true,
  shared_W_phm: () => true,
  shared_phm_rule: () => true,
  factorized_phm_rule: () => true,
  phm_c_init: () => true,
  phm_init_range: () => true,
  learn_phm: () => true,
  hypercomplex_nonlinearity: () => true,
  phm_rank: () => true,
  phm_bias: () => true,
  // AdapterHub's config-class tag; bottleneck configs have none.
  architecture: (v) => v === null || v === undefined || v === "bottleneck",
};

export class BottleneckConfigError extends Error {
  override name = "BottleneckConfigError";
}

function fail(message: string): never {
  throw new BottleneckConfigError(`Bottleneck adapter config: ${message}`);
}

function describe(v: unknown): string {
  return v === undefined ? "undefined" : JSON.stringify(v);
}

function bool(name: string, v: unknown): boolean {
  if (typeof v !== "boolean") fail(`${name} must be true or false, got ${describe(v)}.`);
  return v;
}

function positiveFactor(name: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) fail(`${name} must be a number > 0, got ${describe(v)}.`);
  return v;
}

function reductionFactor(v: unknown): ReductionFactor {
  if (typeof v === "number") return positiveFactor("reductionFactor", v);
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    fail(`reductionFactor must be a number > 0 or a mapping from layer index to one (e.g. {"1": 8, "default": 16}), got ${describe(v)}.`);
  }
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(v as Record<string, unknown>)) {
    if (key !== "default" && !/^\d+$/.test(key)) fail(`reductionFactor keys must be layer indices ("0", "1", …) or "default", got ${JSON.stringify(key)}.`);
    out[key] = positiveFactor(`reductionFactor["${key}"]`, value);
  }
  return out;
}

function scaling(v: unknown): Scaling {
  if (v === "learned" || v === "channel") return v;
  if (typeof v === "number" && Number.isFinite(v)) return v;
  fail(`scaling must be a number, "learned" or "channel", got ${describe(v)}.`);
}

function initWeights(v: unknown): InitWeights {
  if (v === "bert" || v === "mam_adapter" || v === "houlsby") return v;
  fail(`initWeights must be "bert", "mam_adapter" or "houlsby", got ${describe(v)}.`);
}

function nonLinearity(v: unknown): string {
  if (typeof v !== "string") fail(`nonLinearity must be a string, got ${describe(v)}.`);
  // AdapterHub lower-cases the name before looking it up (`Activation_Function_Class`).
  const name = v.toLowerCase();
  if (!(name in NON_LINEARITIES)) fail(`nonLinearity ${JSON.stringify(v)} is not supported; use one of ${Object.keys(NON_LINEARITIES).join(", ")}.`);
  return name;
}

function leaveOut(v: unknown): number[] {
  if (!Array.isArray(v) || !v.every((i) => typeof i === "number" && Number.isInteger(i) && i >= 0)) {
    fail(`leaveOut must be a list of layer indices (non-negative integers), got ${describe(v)}.`);
  }
  return [...(v as number[])];
}

function stringOrNull(name: string, v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v !== "string") fail(`${name} must be a string or null, got ${describe(v)}.`);
  return v;
}

function locations(v: unknown): AdapterLocations | null {
  if (v === null || v === undefined) return null;
  if (typeof v !== "object" || Array.isArray(v)) fail(`locations must be {layers, mhAdapter, outputAdapter} or null, got ${describe(v)}.`);
  const o = v as Record<string, unknown>;
  const extra = Object.keys(o).filter((k) => !["layers", "mhAdapter", "outputAdapter", "mh_adapter", "output_adapter"].includes(k));
  if (extra.length > 0) fail(`locations has unknown field(s) ${extra.join(", ")}; expected layers, mhAdapter, outputAdapter.`);
  const layers = o.layers;
  if (typeof layers !== "string" || layers === "") fail(`locations.layers must be the path of the model's block list (e.g. "transformer.h"), got ${describe(layers)}.`);
  const mh = o.mhAdapter ?? o.mh_adapter ?? null;
  const out = o.outputAdapter ?? o.output_adapter ?? null;
  return { layers, mhAdapter: stringOrNull("locations.mhAdapter", mh), outputAdapter: stringOrNull("locations.outputAdapter", out) };
}

/**
 * Validates user options (camelCase) and fills the defaults: a `preset`'s fields, then `BnConfig`'s. Without a
 * preset, AdapterHub's required `BnConfig` fields (mhAdapter, outputAdapter, reductionFactor, nonLinearity)
 * must be given. Unknown option names are refused with the valid ones.
 */
export function parseBottleneckConfig(raw: unknown): BottleneckConfig {
  if (raw === undefined || raw === null) raw = {};
  if (typeof raw !== "object" || Array.isArray(raw)) fail(`options must be an object, got ${describe(raw)}.`);
  const o = raw as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !OPTION_NAMES.includes(k) && k !== "peftType");
  if (unknown.length > 0) {
    const hints = unknown
      .map((k) => Object.entries(SNAKE).find(([, s]) => s === k))
      .filter((e) => e !== undefined)
      .map(([camel, snake]) => `"${snake}" → "${camel}"`);
    fail(
      `unknown option${unknown.length > 1 ? "s" : ""} ${unknown.map((k) => `"${k}"`).join(", ")}.` +
        (hints.length > 0 ? ` Options are camelCase here: ${hints.join(", ")}.` : "") +
        ` Valid options: ${OPTION_NAMES.join(", ")}.`,
    );
  }
  if (o.peftType !== undefined && o.peftType !== BOTTLENECK_PEFT_TYPE) fail(`peftType must be "${BOTTLENECK_PEFT_TYPE}", got ${describe(o.peftType)}.`);
  let base: Partial<BnFields> = BN_DEFAULTS;
  if (o.preset !== undefined) {
    const key = PRESET_ALIASES[o.preset as BottleneckPreset] as keyof typeof BOTTLENECK_PRESETS | undefined;
    if (key === undefined) fail(`preset ${describe(o.preset)} is not known; use one of ${Object.keys(PRESET_ALIASES).join(", ")}.`);
    base = BOTTLENECK_PRESETS[key];
  }
  const pick = <K extends keyof BnFields>(k: K): unknown => (o[k] !== undefined ? o[k] : base[k]);
  const missing = (["mhAdapter", "outputAdapter", "reductionFactor", "nonLinearity"] as const).filter((k) => pick(k) === undefined);
  if (missing.length > 0) {
    fail(`${missing.join(", ")} must be given (AdapterHub's BnConfig requires them), or start from a preset: ${Object.keys(PRESET_ALIASES).join(", ")}.`);
  }
  const dropout = pick("dropout");
  if (typeof dropout !== "number" || !(dropout >= 0 && dropout < 1)) fail(`dropout must be in [0, 1), got ${describe(dropout)}.`);
  const residualBeforeLn = pick("residualBeforeLn");
  if (residualBeforeLn !== true && residualBeforeLn !== false && residualBeforeLn !== "post_add") {
    fail(`residualBeforeLn must be true, false or "post_add", got ${describe(residualBeforeLn)}.`);
  }
  const seed = pick("initWeightsSeed");
  if (seed !== null && (typeof seed !== "number" || !Number.isInteger(seed))) fail(`initWeightsSeed must be an integer or null, got ${describe(seed)}.`);
  let bottleneckSize: number | null = null;
  if (o.bottleneckSize !== undefined && o.bottleneckSize !== null) {
    if (typeof o.bottleneckSize !== "number" || !Number.isInteger(o.bottleneckSize) || o.bottleneckSize < 1) {
      fail(`bottleneckSize must be a positive integer or null, got ${describe(o.bottleneckSize)}.`);
    }
    bottleneckSize = o.bottleneckSize;
  }
  const taskType = stringOrNull("taskType", o.taskType);
  if (taskType !== null && !(TASK_TYPES as readonly string[]).includes(taskType)) {
    fail(`taskType ${describe(taskType)} is not a PEFT task type; use one of ${TASK_TYPES.join(", ")} or null.`);
  }
  const modulesToSave = o.modulesToSave ?? null;
  if (modulesToSave !== null && (!Array.isArray(modulesToSave) || !modulesToSave.every((m) => typeof m === "string"))) {
    fail(`modulesToSave must be a list of module names or null, got ${describe(modulesToSave)}.`);
  }
  const config: BottleneckConfig = {
    peftType: BOTTLENECK_PEFT_TYPE,
    taskType,
    baseModelNameOrPath: stringOrNull("baseModelNameOrPath", o.baseModelNameOrPath),
    inferenceMode: o.inferenceMode === undefined ? false : bool("inferenceMode", o.inferenceMode),
    modulesToSave: modulesToSave === null ? null : [...(modulesToSave)],
    mhAdapter: bool("mhAdapter", pick("mhAdapter")),
    outputAdapter: bool("outputAdapter", pick("outputAdapter")),
    reductionFactor: reductionFactor(pick("reductionFactor")),
    bottleneckSize,
    nonLinearity: nonLinearity(pick("nonLinearity")),
    originalLnBefore: bool("originalLnBefore", pick("originalLnBefore")),
    originalLnAfter: bool("originalLnAfter", pick("originalLnAfter")),
    lnBefore: bool("lnBefore", pick("lnBefore")),
    lnAfter: bool("lnAfter", pick("lnAfter")),
    initWeights: initWeights(pick("initWeights")),
    initWeightsSeed: seed,
    isParallel: bool("isParallel", pick("isParallel")),
    scaling: scaling(pick("scaling")),
    useGating: bool("useGating", pick("useGating")),
    residualBeforeLn,
    adapterResidualBeforeLn: bool("adapterResidualBeforeLn", pick("adapterResidualBeforeLn")),
    leaveOut: leaveOut(pick("leaveOut")),
    dropout,
    locations: locations(o.locations),
  };
  if (!config.mhAdapter && !config.outputAdapter) fail("mhAdapter and outputAdapter are both false: the adapter would be placed nowhere. Set at least one.");
  return config;
}

/**
 * The bottleneck size at layer `layerIdx` for a block of width `hiddenSize`: AdapterHub's
 * `int(hidden_size // reduction_factor)` with a per-layer mapping resolved first, at least 1
 * (`BottleneckLayer.add_adapter`, `Adapter.__init__`), or the explicit `bottleneckSize`.
 */
export function bottleneckSizeAt(config: BottleneckConfig, hiddenSize: number, layerIdx: number): number {
  if (config.bottleneckSize !== null) return config.bottleneckSize;
  let factor = config.reductionFactor;
  if (typeof factor !== "number") {
    const forLayer = factor[String(layerIdx)] ?? factor.default;
    if (forLayer === undefined) {
      fail(`reductionFactor gives no factor for layer ${layerIdx} and no "default"; add one, e.g. {"${layerIdx}": 16, "default": 16}.`);
    }
    factor = forLayer;
  }
  // Python's float floor division: hidden // factor.
  return Math.max(1, Math.floor(hiddenSize / factor));
}

/** Config → adapter_config.json's method fields: AdapterHub's names (PEFT's common fields are added by core). */
export function toPeftBottleneckConfig(config: BottleneckConfig): Record<string, unknown> {
  return {
    peft_type: BOTTLENECK_PEFT_TYPE,
    task_type: config.taskType,
    base_model_name_or_path: config.baseModelNameOrPath,
    inference_mode: config.inferenceMode,
    modules_to_save: config.modulesToSave,
    ...toAdapterHubFields(config),
    bottleneck_size: config.bottleneckSize,
    locations:
      config.locations === null ? null : { layers: config.locations.layers, mh_adapter: config.locations.mhAdapter, output_adapter: config.locations.outputAdapter },
  };
}

/** The `BnConfig` fields, snake_case, as AdapterHub's `to_dict()` spells them (the features not implemented here off). */
export function toAdapterHubFields(config: BottleneckConfig): Record<string, unknown> {
  return {
    mh_adapter: config.mhAdapter,
    output_adapter: config.outputAdapter,
    reduction_factor: typeof config.reductionFactor === "number" ? config.reductionFactor : { ...config.reductionFactor },
    non_linearity: config.nonLinearity,
    original_ln_before: config.originalLnBefore,
    original_ln_after: config.originalLnAfter,
    ln_before: config.lnBefore,
    ln_after: config.lnAfter,
    init_weights: config.initWeights,
    init_weights_seed: config.initWeightsSeed,
    is_parallel: config.isParallel,
    scaling: config.scaling,
    use_gating: config.useGating,
    residual_before_ln: config.residualBeforeLn,
    adapter_residual_before_ln: config.adapterResidualBeforeLn,
    inv_adapter: null,
    inv_adapter_reduction_factor: null,
    cross_adapter: false,
    leave_out: [...config.leaveOut],
    dropout: config.dropout,
    phm_layer: false,
    stochastic_depth: 0.0,
  };
}

/**
 * adapter_config.json object (PEFT layout, or AdapterHub's inner `config` object) → config. AdapterHub fields
 * for features not implemented here are refused when on; fields nobody knows are returned in `unknownFields`.
 */
export function fromPeftBottleneckConfig(json: Record<string, unknown>): { config: BottleneckConfig; unknownFields: string[] } {
  if (json.peft_type !== undefined && json.peft_type !== BOTTLENECK_PEFT_TYPE) {
    fail(`adapter_config.json has peft_type ${describe(json.peft_type)}; @peftjs/adapter reads "${BOTTLENECK_PEFT_TYPE}" only.`);
  }
  const options: Record<string, unknown> = { ...readCommonPeftConfig(json) };
  const common = new Set(["peft_type", "task_type", "base_model_name_or_path", "inference_mode", "modules_to_save", "revision", "peft_version", "auto_mapping"]);
  const bySnake = new Map<string, string>(Object.entries(SNAKE).map(([camel, snake]) => [snake, camel]));
  const unknownFields: string[] = [];
  for (const [key, value] of Object.entries(json)) {
    if (common.has(key)) continue;
    const camel = bySnake.get(key);
    if (camel !== undefined) {
      if (value !== null || camel === "initWeightsSeed" || camel === "bottleneckSize" || camel === "locations") options[camel] = value;
      continue;
    }
    const off = UNSUPPORTED_WHEN_ON[key];
    if (off !== undefined) {
      if (!off(value)) fail(`the config sets "${key}" to ${describe(value)}, an AdapterHub feature @peftjs/adapter does not implement; the adapter cannot be loaded faithfully.`);
      continue;
    }
    unknownFields.push(key);
  }
  return { config: parseBottleneckConfig(options), unknownFields };
}

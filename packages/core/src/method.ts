/**
 * The contract every PEFT method package implements (modelled on PEFT's config / tuner / layer split).
 * Method packages never import each other; they meet only here. Versioned by `specificationVersion`
 * so a future contract can be a discriminated union.
 */
import type { Module } from "./nn/module.js";
import type { Logger } from "./log.js";

export type SpecificationVersion = "v1";

/** Fields every method config has (camelCase here; snake_case in adapter_config.json). */
export interface BasePeftConfig {
  /** The on-disk `peft_type`, e.g. "LORA". */
  readonly peftType: string;
  /** "CAUSAL_LM", "SEQ_CLS", … or null. */
  taskType: string | null;
  baseModelNameOrPath: string | null;
  inferenceMode: boolean;
  /** Extra modules trained and saved in full (PEFT `modules_to_save`), matched like targets (exact or `.suffix`). */
  modulesToSave: string[] | null;
}

/** Module selection with PEFT's semantics; see `matchTargets` in core. */
export interface TargetSelection {
  /** List: exact path or `.suffix` match; string: full-match regular expression; "all-linear". */
  targetModules: string[] | string | null;
  excludeModules: string[] | string | null;
  layersToTransform: number[] | number | null;
  layersPattern: string[] | string | null;
}

/**
 * A module a method puts in place of (or around) a base layer. It holds every adapter of its method at
 * that path, keyed by adapter name (PEFT's `ModuleDict` per adapter).
 */
export interface TunerLayer extends Module {
  readonly isTunerLayer: true;
  /** The owning method's `name`. */
  readonly methodName: string;
  /** The wrapped base layer (frozen). */
  readonly baseLayer: Module;
  /** Adapter names this layer holds. */
  adapterNames(): string[];
  /** The adapters whose output is added in forward (several may be active). */
  activeAdapters(): readonly string[];
  setActiveAdapters(names: readonly string[]): void;
  /** When true, forward is the base layer alone (PeftModel's disabled-adapters scope). */
  disabled: boolean;
  /**
   * Mixed batch: one adapter name per row of the next forward's batch (dim 0), `"__base__"` for no
   * adapter; null returns to the active adapters for every row.
   */
  setRowAdapters(names: readonly string[] | null): void;
  deleteAdapter(name: string): void;
  /** Adapters currently merged into the base weights. */
  mergedAdapters(): readonly string[];
  /** Present on methods that can merge. `safe`: compute into a copy and refuse non-finite results. */
  merge?(names: readonly string[], options: { safe: boolean }): void;
  /** Subtracts every merged adapter back out. */
  unmerge?(): void;
}

/** Returns true when a module is a tuner layer (of any method). */
export function isTunerLayer(m: Module): m is TunerLayer {
  return (m as unknown as Partial<TunerLayer>).isTunerLayer === true;
}

export interface InjectResult {
  /** Module paths the method wrapped or changed. */
  targets: string[];
}

/** What `PeftModel` hands a method's `inject` besides the config. */
export interface InjectContext {
  /** Where the method reports what it corrected or detected (PeftModel's `logger`). */
  logger: Logger;
}

export interface Method<C extends BasePeftConfig = BasePeftConfig> {
  readonly specificationVersion: SpecificationVersion;
  /** Lowercase, unique in a registry: "lora". */
  readonly name: string;
  /** The on-disk `peft_type`: "LORA". */
  readonly peftType: string;
  /** Unique parameter-name prefix: "lora_". An adapter name containing it is refused. */
  readonly prefix: string;
  /** Whether tuner layers of this method implement merge/unmerge. */
  readonly canMerge: boolean;
  /** Validates user options (camelCase) and fills PEFT's defaults; throws a clear error on bad input. */
  parseConfig(raw: unknown): C;
  /** Config → adapter_config.json object (snake_case PEFT field names, `peft_type` included). */
  toPeftConfig(config: C): Record<string, unknown>;
  /** adapter_config.json object → config; fields this method does not know are returned (PeftModel warns, like PEFT). */
  fromPeftConfig(json: Record<string, unknown>): { config: C; unknownFields: string[] };
  /**
   * Adds adapter `adapterName` to the model: wraps matched modules in tuner layers (or adds to the
   * tuner layer already there). New adapter parameters are trainable; base parameters are not touched
   * (PeftModel freezes them). Throws when nothing matches (listing the model's module paths).
   * `context` is optional so that a method can be called directly; without it, use the default logger.
   */
  inject(model: Module, config: C, adapterName: string, context?: InjectContext): InjectResult;
  /**
   * Internal parameter path (as `namedParameters()` lists it) → the key in adapter_model.safetensors
   * without the `base_model.model.` prefix, or null when the parameter is not part of this adapter.
   * E.g. `h.0.attn.c_attn.lora_A.default.weight` → `h.0.attn.c_attn.lora_A.weight`.
   */
  toFileKey(paramPath: string, adapterName: string, config: C): string | null;
  /** The inverse of `toFileKey`. */
  fromFileKey(fileKey: string, adapterName: string, config: C): string;
}

/** A method paired with a parsed config: what `lora({...})` returns and `getPeftModel` takes. */
export interface AdapterSpec<C extends BasePeftConfig = BasePeftConfig> {
  readonly method: Method<C>;
  readonly config: C;
}

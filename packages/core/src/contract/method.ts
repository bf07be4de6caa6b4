/**
 * The contract every PEFT method package implements (types only), modelled on PEFT's config / tuner / layer
 * split. Method packages never import each other; they meet only here.
 *
 * Who calls what: a user calls a method package's factory (`lora({...})`) and core's `getPeftModel`; only
 * core's PeftModel calls `Method.inject` and what it returns (the `Injection`): its `state()`, its input hook
 * and its `remove()`. Versioned by `specificationVersion`; core refuses other versions by name.
 */
import type { Tensor, Variable } from "../tf.js";
import type { Module } from "../nn/module.js";
import type { BasePeftConfig } from "./config.js";
import type { ModelInputs } from "./model.js";
import type { Logger } from "../log.js";

export type SpecificationVersion = "v2";

/** What core hands to `inject` besides the model and the config. */
export interface InjectContext {
  /** Where the method reports what it corrected or detected (PeftModel's `logger`): a corrected `fanInFanOut`, an `excludeModules` that excluded nothing. */
  readonly logger: Logger;
}

/**
 * Which forward an input hook rewrites:
 * - "forward": a whole sequence without a cache (training, scoring, generation without `useCache`);
 * - "prefill": generation's first step with `useCache` (the prompt; no `pastKeyValues` yet);
 * - "decode": a later generation step: only the new tokens, with the `pastKeyValues` that earlier hooked
 *   steps returned (so what the hook prepended in "prefill" is already in the cache).
 */
export type InputPhase = "forward" | "prefill" | "decode";

/**
 * How a prompt method changes a forward's inputs (PEFT's prompt-learning branches of `PeftModel.forward` and
 * `prepare_inputs_for_generation`, as a hook): prepend virtual-token embeddings (`inputsEmbeds`), extend the
 * `attentionMask`, pad `labels` with -100, add `prefixKeyValues`, shift `positionIds`.
 */
export interface InputHook {
  /**
   * Returns the inputs the base model gets instead of `inputs`; never changes `inputs`. Called inside the
   * caller's `tf.tidy` (tensors it makes are released with the step); the adapter's own variables must be
   * used as they are (the gradient flows to them).
   */
  transformInputs(inputs: ModelInputs, phase: InputPhase): ModelInputs;
}

/** What `inject` added for one adapter: core keeps it and uses it for save, load, training flags, delete and undo. */
export interface Injection<C extends BasePeftConfig = BasePeftConfig> {
  /**
   * The config as applied to this model: what the method filled in for it (LoRA's default `targetModules`
   * for the model type, a corrected `fanInFanOut`). A new object when anything was filled in; the config
   * given to `inject` is never changed, so one spec can be used on another model.
   */
  readonly config: C;
  /** Module paths (in the base model) the method wrapped or changed. */
  readonly targets: readonly string[];
  /**
   * The adapter's tensors by their full key in adapter_model.safetensors: `base_model.model.<path>.lora_A.weight`
   * for a wrapped layer, a bare `prompt_embeddings` for a prompt method. The one source for `save` (written),
   * load (every key must be in the file, each assigned) and training (these variables train while the adapter is
   * active, unless they were created frozen). Live variables: do not dispose them.
   */
  state(): ReadonlyMap<string, Variable>;
  /**
   * Optional, for a method that trains one thing and saves another (PEFT's P-tuning and projected prefix tuning
   * train an encoder and save its output, `get_prompt_embedding_to_save`): the tensors `save` writes instead
   * of `state()`, by full file key, computed from the current variables into tensors the injection owns (live
   * until the next call or `remove()`; do not dispose them). `state()` then names what trains; such an adapter
   * cannot be loaded to train on (core refuses it with `isTrainable`): the saved tensors load into the
   * method's inference-mode form, as PEFT loads them.
   */
  savedState?(): ReadonlyMap<string, Tensor>;
  /**
   * Where core puts this adapter's modules_to_save copies in the file. Default `base_model.model.` (PEFT's
   * tuners wrap the model: `base_model.model.classifier.weight`); a method that leaves the model unwrapped,
   * as PEFT's prompt learning does, gives `base_model.` (`base_model.classifier.weight`).
   */
  readonly modulesToSavePrefix?: string;
  /** Prompt methods: rewrites the inputs of every forward while this adapter is active. */
  readonly inputHook?: InputHook;
  /**
   * Modules the PeftModel holds for this adapter outside the base model (PEFT keeps `prompt_encoder` on the
   * PeftModel), by name; listed as `<name>.<adapterName>` in the PeftModel's module tree.
   */
  readonly modules?: ReadonlyMap<string, Module>;
  /**
   * Undoes the injection: the adapter leaves every tuner layer it was added to, a tuner layer left without
   * adapters gives its place back to the module it wrapped, and the adapter's variables are disposed. Core
   * calls it for `deleteAdapter`, `unload` and when a later step of adding or loading fails. Must not throw when
   * a tuner layer is already gone (`mergeAndUnload` replaces merged layers by their base layers first).
   */
  remove(): void;
}

export interface Method<C extends BasePeftConfig = BasePeftConfig> {
  readonly specificationVersion: SpecificationVersion;
  /** Lowercase, unique in a registry: "lora". */
  readonly name: string;
  /** The on-disk `peft_type`: "LORA". */
  readonly peftType: string;
  /** Unique parameter-name prefix: "lora_". An adapter name containing it is refused. */
  readonly prefix: string;
  /** Whether this method's adapters can be merged into the base weights (its tuner layers' `merge`/`unmerge` work). Declared here only. */
  readonly canMerge: boolean;
  /** For methods that cannot merge: why, in a user's words (PeftModel's `merge` error says it). */
  readonly cannotMergeReason?: string;
  /**
   * Loading: when a tensor in the file has another shape than the adapter this config built, which config
   * field decides that shape and what it should be (e.g. LoRA: the file's rank against `r`), or null.
   * PeftModel appends it to the shape-mismatch error.
   */
  explainShapeMismatch?(config: C, fileKey: string, fileShape: readonly number[], modelShape: readonly number[]): string | null;
  /** Validates user options (camelCase) and fills PEFT's defaults; throws a clear error on bad input. */
  parseConfig(raw: unknown): C;
  /** Config → adapter_config.json object (snake_case PEFT field names, `peft_type` included). */
  toPeftConfig(config: C): Record<string, unknown>;
  /** adapter_config.json object → config; fields this method does not know are returned (PeftModel warns, like PEFT). */
  fromPeftConfig(json: Record<string, unknown>): { config: C; unknownFields: string[] };
  /**
   * Adds adapter `adapterName` to `model`: wraps matched modules in tuner layers (or adds to the tuner layer of
   * this method already there), or builds the modules a prompt method needs. New adapter variables are
   * trainable unless meant to stay frozen; base parameters are left as they are (PeftModel freezes them). Never
   * writes into `config`. Throws when nothing matches (listing the model's module paths). When it throws it
   * may leave partial work behind: core puts the model back as it was.
   */
  inject(model: Module, config: C, adapterName: string, context: InjectContext): Injection<C>;
}

/** A method paired with a parsed config: what `lora({...})` returns and `getPeftModel` takes. Reusable on any number of models. */
export interface AdapterSpec<C extends BasePeftConfig = BasePeftConfig> {
  readonly method: Method<C>;
  readonly config: C;
}

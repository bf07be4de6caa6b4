/**
 * The model users hold: a base model with named adapters injected by methods (PEFT's `PeftModel` + `BaseTuner`
 * bookkeeping, peft `peft_model.py`, `tuners/tuners_utils.py`). This file is the adapters' lifecycle (add,
 * activate, delete, disable, unload) and the module view; the forward's hooks are in `forward.ts`, merging in
 * `merge.ts`, files in `persistence.ts`, all-or-nothing changes in `transaction.ts`.
 *
 * The base model's module tree is modified in place (tuner layers wrap matched modules, like PEFT), and the
 * PeftModel's own module view is the base model's: `namedParameters()` lists the same paths
 * (`h.0.attn.c_attn.lora_A.default.weight`), followed by the modules adapters own outside the base model
 * (`prompt_encoder.default.…`), so a training loop takes a PeftModel like any Module and sees only adapter
 * parameters as trainable.
 *
 * What each adapter added is the `Injection` its method returned: `state()` names its tensors (saved, loaded,
 * trained), `inputHook` rewrites forward inputs, `modules` are held here, `remove()` undoes it.
 */
import { tf } from "../tf.js";
import type { Tensor, Variable } from "../tf.js";
import { Module } from "../nn/module.js";
import type { Embedding } from "../nn/layers.js";
import type { BasePeftConfig } from "../contract/config.js";
import type { AdapterSpec, Injection, InputHook, Method } from "../contract/method.js";
import type { TunerLayer } from "../contract/tuner-layer.js";
import type { PreTrainedModelLike } from "../contract/model.js";
import { BASE_ADAPTER_NAME, getBaseLayer, isTunerLayer } from "../tuners/base-tuner-layer.js";
import { serializeSafetensors, serializeSafetensorsAsync, parseSafetensors, safetensorsStream } from "../io/safetensors.js";
import type { FileContent } from "../io/atomic.js";
import { writeDirAtomic } from "../io/atomic.js";
import { createRegistry, validateAdapterName } from "./registry.js";
import type { MethodRegistry } from "./registry.js";
import { adaptableModules } from "./targets.js";
import { applyModulesToSave, modulesToSaveWrappers, ModulesToSaveWrapper } from "./modules-to-save.js";
import { ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME, adapterFilesFromMap, parseAdapterConfig, readAdapterDir, serializeAdapterConfig, toAdapterConfigJson } from "./config-io.js";
import type { FileMap } from "../io/memory-files.js";
import type { AdapterFiles } from "./config-io.js";
import { formatFixed4, formatThousands } from "./python-format.js";
import { resolveLogger } from "../log.js";
import type { Logger, LoggerOptions } from "../log.js";
import { batchSize, forwardWithHooks, isPromiseLike } from "./forward.js";
import { mergeLayers, mergeLayersAsync, mergeWork } from "./merge.js";
import type { MergeWork } from "./merge.js";
import { AdapterLoadError, adapterStateDict, baseParametersInFile, checkAdapterTensors } from "./persistence.js";
import { disposeUnreachable, restoreTree, takeSnapshot } from "./transaction.js";
import type { Snapshot } from "./transaction.js";


/** Any module with a forward; PreTrainedModelLike is the usual one. */
export type ForwardModule = Module & { forward(input: never): unknown };
type ForwardInput<M> = M extends { forward(input: infer I): unknown } ? I : never;
type ForwardOutput<M> = M extends { forward(input: never): infer O } ? O : never;
type ConfigOf<M> = M extends { readonly config: infer C } ? C : undefined;

/**
 * `logger` / `verbose`: where PEFT's warnings (unknown config fields, an active adapter deleted, …) and the
 * methods' info lines (a layout detected, a setting corrected) go. Default: the default logger (warnings only).
 */
export interface PeftModelOptions extends LoggerOptions {
  /** The methods `loadAdapter` may meet on disk, and whose prefixes adapter names must avoid. */
  registry?: MethodRegistry;
}

export interface PeftForwardOptions {
  /** Mixed batch: one adapter name per row (dim 0 of the input), `"__base__"` for the base model alone. */
  adapterNames?: readonly string[];
}

export interface MergeOptions {
  /** Default: the active adapters. */
  adapterNames?: readonly string[];
  /** Compute each merged weight into a copy and refuse (throw, nothing changed) a non-finite result. */
  safe?: boolean;
}

export interface SaveOptions {
  /** Default: every adapter. "default" goes to `dir`, any other to `dir/<name>/` (PEFT's layout). */
  selectedAdapters?: readonly string[];
}

export interface LoadAdapterOptions {
  /** When false (default), the adapter is loaded in inference mode: its parameters stay frozen. */
  isTrainable?: boolean;
  /** Read from `dir/<subfolder>` (a non-default adapter saved beside a default one); it must be inside `dir`. */
  subfolder?: string;
  /** Follow symbolic links that lead out of `dir` (e.g. a Hugging Face cache snapshot). Default false: refused. */
  allowLinksOutside?: boolean;
  /** Overrides the PeftModel's registry for this load. */
  registry?: MethodRegistry;
}

export interface FromPretrainedOptions extends LoadAdapterOptions, LoggerOptions {
  /** Default "default". */
  adapterName?: string;
}

/** One adapter: its method, the config as applied to this model, and what the method added. */
interface AdapterRecord {
  readonly method: Method;
  readonly config: BasePeftConfig;
  readonly injection: Injection;
  /** Variables of `state()` the method created frozen: they stay frozen when the adapter is active. */
  readonly frozen: ReadonlySet<Variable>;
}

/** Holds one owned module per adapter under a name (PEFT's `prompt_encoder` ModuleDict). */
class OwnedModules extends Module {}

/**
 * Wraps `model` and adds adapter `adapterName` (PEFT `get_peft_model`): every base parameter is frozen, the
 * method injects its (trainable) adapter, then `modulesToSave` are wrapped. The adapter is active. `spec` is not
 * changed: the same spec can be used on another model.
 */
export function getPeftModel<M extends ForwardModule = PreTrainedModelLike>(
  model: M,
  spec: AdapterSpec,
  adapterName = "default",
  options: PeftModelOptions = {},
): PeftModel<M> {
  const trainable = new Map(model.parameters().map((v) => [v, v.trainable] as const));
  const peft = new PeftModel(model, options);
  try {
    peft.addAdapter(adapterName, spec);
  } catch (error) {
    for (const [v, flag] of trainable) v.trainable = flag;
    throw error;
  }
  peft.setAdapter(adapterName);
  return peft;
}

export class PeftModel<M extends ForwardModule = PreTrainedModelLike> extends Module {
  readonly baseModel: M;
  private readonly adapters = new Map<string, AdapterRecord>();
  private active: string[] = [];
  /** Set inside `disableAdapters`: input hooks are skipped, like tuner layers. */
  private hooksDisabled = false;
  /** Owned modules by name (`prompt_encoder`), each holding one module per adapter. */
  private readonly owned = new Map<string, OwnedModules>();
  private readonly registry: MethodRegistry | null;
  private readonly logger: Logger;

  /** Wraps `model` with no adapter yet (use `getPeftModel` or `PeftModel.fromPretrained`). Freezes every base parameter. */
  constructor(model: M, options: PeftModelOptions = {}) {
    super();
    if (model instanceof PeftModel) throw new Error("PeftModel: the model is already a PeftModel; add adapters to it with addAdapter().");
    if (typeof (model as { forward?: unknown }).forward !== "function") throw new Error("PeftModel: the base model has no forward method.");
    this.baseModel = model;
    this.training = model.training;
    this.registry = options.registry ?? null;
    this.logger = resolveLogger(options);
    // PEFT `_mark_only_adapters_as_trainable`: the base model is frozen, only adapter parameters train.
    model.requiresGrad(false);
  }

  /** Loads a saved adapter onto `model` (PEFT `PeftModel.from_pretrained`); on failure `model` is exactly as before. */
  static async fromPretrained<M extends ForwardModule = PreTrainedModelLike>(model: M, dir: string, options: FromPretrainedOptions = {}): Promise<PeftModel<M>> {
    const files = await readAdapterDir(dir, options.subfolder, options.allowLinksOutside !== undefined ? { allowLinksOutside: options.allowLinksOutside } : {});
    return PeftModel.fromFiles(model, files, { ...options, where: files.where });
  }

  /**
   * `fromPretrained` from file contents in memory (browsers): `{ config, weights }`, or a map of files by name
   * such as `adapterFiles()` returns or `readFileList(input.files)` reads (`options.subfolder` picks a
   * non-default adapter's folder in it).
   */
  static fromFiles<M extends ForwardModule = PreTrainedModelLike>(model: M, files: AdapterFiles | FileMap, options: FromPretrainedOptions & { where?: string } = {}): PeftModel<M> {
    const trainable = new Map(model.parameters().map((v) => [v, v.trainable] as const));
    const peft = new PeftModel(model, { ...(options.registry !== undefined ? { registry: options.registry } : {}), ...(options.logger !== undefined ? { logger: options.logger } : {}), ...(options.verbose !== undefined ? { verbose: options.verbose } : {}) });
    const name = options.adapterName ?? "default";
    try {
      peft.loadAdapterFromFiles(files, name, options);
    } catch (error) {
      for (const [v, flag] of trainable) v.trainable = flag;
      throw error;
    }
    peft.setAdapter(name);
    return peft;
  }

  // ---------------------------------------------------------------------------------------------------
  // The module view: the base model's tree, then the owned modules.

  override *namedModules(prefix = ""): Generator<[string, Module]> {
    yield* this.baseModel.namedModules(prefix);
    for (const [name, dict] of this.owned) yield* dict.namedModules(prefix === "" ? name : `${prefix}.${name}`);
  }

  override namedChildren(): [string, Module][] {
    return [...this.baseModel.namedChildren(), ...this.owned];
  }

  override getSubmodule(path: string): Module {
    const [head, ...rest] = path.split(".");
    const dict = this.owned.get(head!);
    if (dict !== undefined) return dict.getSubmodule(rest.join("."));
    return this.baseModel.getSubmodule(path);
  }

  override setSubmodule(path: string, module: Module): void {
    const [head, ...rest] = path.split(".");
    const dict = this.owned.get(head!);
    if (dict !== undefined && rest.length > 0) dict.setSubmodule(rest.join("."), module);
    else this.baseModel.setSubmodule(path, module);
  }

  override train(mode = true): this {
    this.baseModel.train(mode);
    for (const dict of this.owned.values()) dict.train(mode);
    this.training = mode;
    return this;
  }

  getBaseModel(): M {
    return this.baseModel;
  }

  /** The base model's config (so a PeftModel of a PreTrainedModelLike is one too, e.g. for `generate`). */
  get config(): ConfigOf<M> {
    return (this.baseModel as { config?: unknown }).config as ConfigOf<M>;
  }

  get outputEmbeddingsPath(): string | null {
    const p = (this.baseModel as { outputEmbeddingsPath?: unknown }).outputEmbeddingsPath;
    return typeof p === "string" ? p : null;
  }

  getInputEmbeddings(): Embedding {
    const get = (this.baseModel as { getInputEmbeddings?: () => Embedding }).getInputEmbeddings;
    if (typeof get !== "function") throw new Error("PeftModel: the base model has no getInputEmbeddings().");
    return get.call(this.baseModel);
  }

  // ---------------------------------------------------------------------------------------------------
  // Adapters

  /** Adapter name → config (as applied to this model), in the order they were added. */
  get peftConfig(): ReadonlyMap<string, BasePeftConfig> {
    return new Map([...this.adapters].map(([n, r]) => [n, r.config]));
  }

  adapterNames(): string[] {
    return [...this.adapters.keys()];
  }

  get activeAdapters(): readonly string[] {
    return [...this.active];
  }

  /** The first active adapter (PEFT's `active_adapter`). */
  get activeAdapter(): string | undefined {
    return this.active[0];
  }

  /** The method that owns adapter `name`. */
  methodOf(name: string): Method {
    return this.record(name).method;
  }

  /** What adapter `name`'s method added (its targets, state, hook, owned modules). */
  injectionOf(name: string): Injection {
    return this.record(name).injection;
  }

  /**
   * Every tuner layer in the base model with its path, in tree order: a tuner layer wrapping another (nested
   * through `baseLayer`) is followed by the inner one (`<path>.base_layer`), and layers inside a module another
   * method wrapped (`mlp.base_layer.c_fc`) are listed too.
   */
  tunerLayers(): [string, TunerLayer][] {
    const out: [string, TunerLayer][] = [];
    const skip: string[] = [];
    for (const [path, m] of this.baseModel.namedModules()) {
      if (skip.some((s) => path.startsWith(`${s}.`))) continue;
      // modules_to_save copies are whole modules trained in full, not places adapters live.
      if (m instanceof ModulesToSaveWrapper) skip.push(path);
      else if (isTunerLayer(m)) out.push([path, m]);
    }
    return out;
  }

  /**
   * Adds an adapter (PEFT `add_adapter`). It is not activated: use `setAdapter`. Its parameters stay frozen
   * until it is active. On failure (nothing matched, a bad config) the model is exactly as before.
   */
  addAdapter(name: string, spec: AdapterSpec): void {
    this.checkNewAdapter(name, spec.method);
    const snap = takeSnapshot(this);
    try {
      this.inject(name, spec);
    } catch (error) {
      this.rollback(name, snap);
      throw error;
    }
  }

  /**
   * Sets the active adapter(s) (several may be active; their outputs add up). Merged layers are unmerged first
   * (PEFT `set_adapter`). Active adapters become trainable unless loaded for inference (`inferenceMode`).
   */
  setAdapter(names: string | readonly string[]): void {
    const list = typeof names === "string" ? [names] : [...names];
    if (list.length === 0) throw new Error("setAdapter: name at least one adapter.");
    for (const n of list) this.record(n);
    if (new Set(list).size !== list.length) throw new Error(`setAdapter: adapter names repeat in ${JSON.stringify(list)}.`);
    // Checked before anything changes: one modules_to_save copy per wrapper can be active.
    for (const [path, w] of modulesToSaveWrappers(this.baseModel)) {
      const held = list.filter((n) => w.adapterNames().includes(n));
      if (held.length > 1) {
        throw new Error(`setAdapter: adapters ${held.map((n) => `"${n}"`).join(" and ")} each train their own copy of "${path}" (modules_to_save); only one of them can be active.`);
      }
    }
    const merged = this.tunerLayers().filter(([, l]) => l.mergedAdapters().length > 0);
    if (merged.length > 0) {
      this.logger.warn("Adapter cannot be set when the model is merged. Unmerging the model first.");
      for (const [, l] of merged) l.unmerge();
    }
    this.active = list;
    this.applyActive();
  }

  /** Deletes an adapter and its parameters (PEFT `delete_adapter`); a merged adapter must be unmerged first. */
  deleteAdapter(name: string): void {
    const record = this.record(name);
    const merged = this.tunerLayers().filter(([, l]) => l.mergedAdapters().includes(name));
    if (merged.length > 0) throw new Error(`Cannot delete adapter "${name}" while it is merged (in ${merged.map(([p]) => p).join(", ")}). Call unmerge() first.`);
    const own = this.adapterParameters(name);
    record.injection.remove();
    for (const [path, w] of modulesToSaveWrappers(this.baseModel)) {
      w.deleteAdapter(name);
      if (w.adapterNames().length === 0) this.baseModel.setSubmodule(path, w.originalModule);
    }
    this.dropOwnedModules(name);
    // Only what left the tree: a method may also claim base parameters (LoRA bias "all" saves base biases).
    disposeUnreachable(own, this);
    for (const v of own) if (!v.isDisposed) v.trainable = false; // a base parameter the adapter trained; applyActive unfreezes it if another claims it
    this.adapters.delete(name);
    if (this.active.includes(name)) {
      this.active = this.active.filter((n) => n !== name);
      if (this.active.length === 0 && this.adapters.size > 0) {
        const next = [...this.adapters.keys()].sort()[0]!;
        this.logger.warn(`Adapter ${name} was active which is now deleted. Setting active adapter to ${next}.`);
        this.active = [next];
      }
    }
    this.applyActive();
  }

  /**
   * Runs `fn` with every adapter disabled: the forward is the base model's (PEFT `disable_adapter()`). A
   * promise returned by `fn` is awaited before adapters are enabled again.
   */
  disableAdapters<T>(fn: () => T): T {
    const switches: { disabled: boolean }[] = [...this.tunerLayers().map(([, l]) => l), ...modulesToSaveWrappers(this.baseModel).map(([, w]) => w)];
    const before = switches.map((s) => s.disabled);
    const hooksBefore = this.hooksDisabled;
    const restore = (): void => {
      switches.forEach((s, i) => (s.disabled = before[i]!));
      this.hooksDisabled = hooksBefore;
    };
    for (const s of switches) s.disabled = true;
    this.hooksDisabled = true;
    let result: T;
    try {
      result = fn();
    } catch (error) {
      restore();
      throw error;
    }
    if (isPromiseLike(result)) {
      return result.then(
        (v) => {
          restore();
          return v;
        },
        (e: unknown) => {
          restore();
          throw e;
        },
      ) as T;
    }
    restore();
    return result;
  }

  // ---------------------------------------------------------------------------------------------------
  // Forward

  /**
   * The base model's forward with the active adapters: their input hooks first (prompt methods), then the base
   * model, whose tuner layers add their adapters. With `adapterNames`, each row of the batch uses its own
   * adapter (`"__base__"`: none), equal to running each row alone (PEFT's mixed-batch inference).
   */
  forward(inputs: ForwardInput<M>, options: PeftForwardOptions = {}): ForwardOutput<M> {
    const run = (): ForwardOutput<M> =>
      forwardWithHooks(this.activeHooks(), inputs, (i) => (this.baseModel.forward as (i: unknown) => unknown).call(this.baseModel, i)) as ForwardOutput<M>;
    const names = options.adapterNames;
    if (names === undefined) return run();
    this.checkMixedBatch(names, batchSize(inputs));
    const layers = this.tunerLayers();
    const wrappers = modulesToSaveWrappers(this.baseModel);
    try {
      for (const [, layer] of layers) {
        const held = new Set(layer.adapterNames());
        layer.setRowAdapters(names.map((n) => (held.has(n) ? n : BASE_ADAPTER_NAME)));
      }
      for (const [, w] of wrappers) w.setRowAdapters(names);
      return run();
    } finally {
      for (const [, layer] of layers) layer.setRowAdapters(null);
      for (const [, w] of wrappers) w.setRowAdapters(null);
    }
  }

  /** The input hooks of the active adapters, in activation order (none inside `disableAdapters`). */
  private activeHooks(): InputHook[] {
    if (this.hooksDisabled) return [];
    return this.active.map((n) => this.adapters.get(n)?.injection.inputHook).filter((h): h is InputHook => h !== undefined);
  }

  private checkMixedBatch(names: readonly string[], rows: number | null): void {
    if (rows !== null && names.length !== rows) {
      throw new Error(`Length of adapterNames should be the same as the number of inputs, but got ${names.length} and ${rows} respectively.`);
    }
    const unknown = [...new Set(names)].filter((n) => n !== BASE_ADAPTER_NAME && !this.adapters.has(n));
    if (unknown.length > 0) {
      throw new Error(`Trying to infer with non-existing adapter(s): ${unknown.join(", ")}. Adapters: ${this.adapterNames().join(", ") || "(none)"}, or "${BASE_ADAPTER_NAME}" for the base model.`);
    }
    const hooked = [...new Set([...names, ...this.active])].filter((n) => this.adapters.get(n)?.injection.inputHook !== undefined);
    if (hooked.length > 0) throw new Error(`Mixed batches are not supported with adapters that rewrite the inputs (prompt methods): ${hooked.join(", ")}.`);
    if (this.baseModel.training) throw new Error("Cannot pass adapterNames when the model is in training mode; call eval() first (PEFT refuses this too).");
    if (this.tunerLayers().some(([, l]) => l.mergedAdapters().length > 0)) {
      throw new Error("Cannot pass adapterNames when there are merged adapters; call unmerge() first.");
    }
  }

  // ---------------------------------------------------------------------------------------------------
  // Parameters

  /** PEFT `get_nb_trainable_parameters`: elements of trainable parameters and of all parameters (tied ones once). */
  getNbTrainableParameters(): { trainableParams: number; allParams: number } {
    let trainableParams = 0;
    let allParams = 0;
    for (const [, v] of this.namedParameters()) {
      allParams += v.size;
      if (v.trainable) trainableParams += v.size;
    }
    return { trainableParams, allParams };
  }

  /** Prints (and returns) PEFT's line: `trainable params: 1,234 || all params: 5,678 || trainable%: 21.7325`. */
  printTrainableParameters(print: (line: string) => void = (l) => console.log(l)): string {
    const { trainableParams, allParams } = this.getNbTrainableParameters();
    const line = `trainable params: ${formatThousands(trainableParams)} || all params: ${formatThousands(allParams)} || trainable%: ${formatFixed4((100 * trainableParams) / allParams)}`;
    print(line);
    return line;
  }

  // ---------------------------------------------------------------------------------------------------
  // Merging (merge.ts)

  /**
   * Merges adapters into the base weights (PEFT `merge_adapter`); merged inference costs what the base costs.
   * With `safe`, a non-finite merged weight anywhere refuses the whole merge and no weight changes. The safe
   * check reads tensors synchronously: on a backend that cannot (WebGPU in Node) it throws `SyncReadError`,
   * nothing changed; use `mergeAsync` there.
   */
  merge(options: MergeOptions = {}): void {
    mergeLayers(this.mergeWork(options), options.safe === true);
  }

  /**
   * `merge` without sync tensor reads, for every backend (WebGPU in Node included). With `safe`, every layer is
   * merged, then all merged weights are checked (async reads); a non-finite one anywhere restores every weight
   * bit for bit from a copy and throws. Do not run the model while the promise is pending.
   */
  async mergeAsync(options: MergeOptions = {}): Promise<void> {
    if (options.safe !== true) {
      this.merge(options); // an unsafe merge reads nothing
      return;
    }
    await mergeLayersAsync(this.mergeWork(options));
  }

  /** The tuner layers a merge of `options.adapterNames` (default the active ones) changes, checked to be mergeable. */
  private mergeWork(options: MergeOptions): MergeWork[] {
    const names = [...(options.adapterNames ?? this.active)];
    for (const n of names) {
      const { method } = this.record(n);
      if (!method.canMerge) {
        throw new Error(`Adapter "${n}" (method "${method.name}") cannot be merged into the base weights${method.cannotMergeReason === undefined ? "" : `: ${method.cannotMergeReason}`}.`);
      }
    }
    return mergeWork(this.tunerLayers(), names);
  }

  /** Takes every merged adapter back out of the base weights (PEFT `unmerge_adapter`). */
  unmerge(): void {
    for (const [, layer] of this.tunerLayers()) if (layer.mergedAdapters().length > 0) layer.unmerge();
  }

  /**
   * Merges the active adapters (or `adapterNames`) and gives back the plain base model: every tuner layer is
   * replaced by its base layer, every modules_to_save wrapper by its active copy (PEFT `merge_and_unload`).
   * This PeftModel has no adapters afterwards.
   */
  mergeAndUnload(options: MergeOptions = {}): M {
    this.merge(options);
    return this.unloadAll(true);
  }

  /** `mergeAndUnload` with `mergeAsync` (no sync tensor reads: every backend). */
  async mergeAndUnloadAsync(options: MergeOptions = {}): Promise<M> {
    await this.mergeAsync(options);
    return this.unloadAll(true);
  }

  /**
   * Removes every adapter without merging and gives back the base model. Adapters that were merged are
   * unmerged first, so the weights are the base model's (PEFT's `unload` would keep merged deltas).
   */
  unload(): M {
    this.unmerge();
    return this.unloadAll(false);
  }

  /**
   * Every adapter leaves. Merged (`mergeAndUnload`): tuner layers are replaced by their base layers first, so
   * merged weights stay, and the injections' `remove()` then finds only what is not a merged layer. Otherwise
   * each injection's `remove()` undoes it. Any tuner layer left is replaced by its base layer.
   */
  private unloadAll(merged: boolean): M {
    const before = new Set(this.parameters());
    const stripLayers = (): void => {
      // Outermost first, again until none is left: a module another method wrapped may hold tuner layers too.
      for (let found = true; found; ) {
        found = false;
        for (const [path, m] of adaptableModules(this.baseModel)) {
          if (!isTunerLayer(m)) continue;
          this.baseModel.setSubmodule(path, getBaseLayer(m));
          found = true;
        }
      }
    };
    if (merged) stripLayers();
    for (const record of [...this.adapters.values()].reverse()) record.injection.remove();
    stripLayers();
    for (const [path, w] of modulesToSaveWrappers(this.baseModel)) {
      const active = w.activeAdapter();
      this.baseModel.setSubmodule(path, active === null ? w.originalModule : w.copyFor(active));
    }
    this.owned.clear();
    disposeUnreachable(before, this.baseModel);
    this.adapters.clear();
    this.active = [];
    return this.baseModel;
  }

  // ---------------------------------------------------------------------------------------------------
  // Save / load (PEFT layout; persistence.ts)

  /**
   * The files `save` writes, by relative path: for each adapter `adapter_config.json` and
   * `adapter_model.safetensors` (the keys of its `state()`, no adapter name), a non-default adapter in a
   * subfolder named after it.
   */
  adapterFiles(options: SaveOptions = {}): Record<string, Uint8Array | string> {
    // Sync reads (dataSync): cpu/wasm/browser backends. On WebGPU in Node use adapterFilesAsync or save.
    return this.adapterFileEntries(options, (state) => serializeSafetensors(state, { metadata: { format: "pt" } }));
  }

  /** `adapterFiles` reading tensors asynchronously (`tensor.data()`): works on every backend, WebGPU in Node included. */
  async adapterFilesAsync(options: SaveOptions = {}): Promise<Record<string, Uint8Array | string>> {
    // Thunks, read one after the other: no second adapter's read is in flight (or rejected unobserved) meanwhile.
    const entries = this.adapterFileEntries(options, (state) => () => serializeSafetensorsAsync(state, { metadata: { format: "pt" } }));
    const out: Record<string, Uint8Array | string> = {};
    for (const [path, content] of Object.entries(entries)) out[path] = typeof content === "string" ? content : await content();
    return out;
  }

  /**
   * Writes the adapters to `dir` atomically (other files already in `dir` are kept, like PEFT). Tensor data is
   * read asynchronously and streamed to disk, so this works on every backend.
   */
  async save(dir: string, options: SaveOptions = {}): Promise<void> {
    const files: Record<string, FileContent> = this.adapterFileEntries(options, (state) => safetensorsStream(state, { metadata: { format: "pt" } }));
    await writeDirAtomic(dir, files, { keepOtherFiles: true });
  }

  /** Each adapter's config JSON and its weights file (as `weights` makes it from the state dict), by relative path. */
  private adapterFileEntries<W>(options: SaveOptions, weights: (state: Map<string, Tensor>) => W): Record<string, W | string> {
    const names = [...(options.selectedAdapters ?? this.adapters.keys())];
    if (names.length === 0) throw new Error("save: the model has no adapter to save.");
    for (const name of names) this.record(name); // every name checked before any file is made
    const files: Record<string, W | string> = {};
    for (const name of names) {
      const { method, config } = this.record(name);
      const folder = name === "default" ? "" : `${name}/`;
      files[folder + ADAPTER_CONFIG_NAME] = serializeAdapterConfig(toAdapterConfigJson(method, config, this.baseModelName()));
      files[folder + ADAPTER_WEIGHTS_NAME] = weights(this.adapterStateDict(name));
    }
    return files;
  }

  /**
   * Adapter `name`'s tensors under their file keys (PEFT `get_peft_model_state_dict`). The tensors are the live
   * variables: do not dispose them.
   */
  adapterStateDict(name: string): Map<string, Tensor> {
    const { injection } = this.record(name);
    return adapterStateDict(this.baseModel, name, injection.savedState?.() ?? injection.state(), injection.modulesToSavePrefix);
  }

  /** Loads a saved adapter as `name` (PEFT `load_adapter`); it is not activated. On failure the model is unchanged. */
  async loadAdapter(dir: string, name: string, options: LoadAdapterOptions = {}): Promise<void> {
    const files = await readAdapterDir(dir, options.subfolder, options.allowLinksOutside !== undefined ? { allowLinksOutside: options.allowLinksOutside } : {});
    this.loadAdapterFromFiles(files, name, { ...options, where: files.where });
  }

  /**
   * `loadAdapter` from file contents in memory. Every key is checked (missing, unexpected, shape) before any
   * value is assigned; on any failure what was injected is removed and the model is exactly as before.
   */
  loadAdapterFromFiles(input: AdapterFiles | FileMap, name: string, options: LoadAdapterOptions & { where?: string } = {}): void {
    const files = isAdapterFiles(input) ? input : adapterFilesFromMap(input, options.subfolder);
    const where = options.where ?? ("where" in files && typeof files.where === "string" ? files.where : "the adapter files");
    const registry = options.registry ?? this.registry ?? this.registryOfAdapters();
    const parsed = parseAdapterConfig(files.config, registry, `${ADAPTER_CONFIG_NAME} in ${where}`);
    if (parsed.unknownFields.length > 0) {
      this.logger.warn(
        `Unexpected keyword arguments ${JSON.stringify([...parsed.unknownFields].sort())} for ${parsed.method.peftType} config, these are ignored. This probably means that you're loading a configuration file that was saved using a higher version of the library and additional parameters have been introduced since.`,
      );
    }
    // PEFT `from_pretrained` / `load_adapter`: inference_mode = not is_trainable.
    const spec: AdapterSpec = { method: parsed.method, config: { ...parsed.config, inferenceMode: options.isTrainable !== true } };
    this.checkNewAdapter(name, spec.method);
    const tensors = parseSafetensors(files.weights).tensors;
    const snap = takeSnapshot(this);
    const baseBefore = new Map<Variable, Tensor>();
    try {
      this.inject(name, spec);
      const { injection } = this.record(name);
      if (injection.savedState !== undefined) {
        throw new AdapterLoadError(
          `Adapter "${name}" from ${where} cannot be loaded to train on: its method (${spec.method.name}) saves what it computes from its parameters, not the parameters (as PEFT's P-tuning and projected prefix tuning save their encoder's output). Load it with isTrainable: false (PEFT loads prompt-learning adapters for inference only).`,
        );
      }
      const expected = adapterStateDict(this.baseModel, name, injection.state(), injection.modulesToSavePrefix);
      const claimed = new Set<Variable>();
      for (const n of this.adapters.keys()) for (const v of this.adapterParameters(n)) claimed.add(v);
      const base = baseParametersInFile(this.baseModel, tensors, expected, claimed);
      // Checked together: a base weight of the wrong shape refuses the load like an adapter tensor would.
      checkAdapterTensors(new Map([...expected, ...base]), tensors, name, where, spec.config.baseModelNameOrPath, (key, fileShape, modelShape) =>
        spec.method.explainShapeMismatch?.(spec.config, key, fileShape, modelShape) ?? null,
      );
      // Base weights are the base model's, not the adapter's: their old values come back if anything fails.
      for (const target of base.values()) baseBefore.set(target, tf.clone(target));
      tf.tidy(() => {
        for (const [key, target] of [...expected, ...base]) {
          const value = tensors.get(key)!;
          (target as Variable).assign(value.dtype === target.dtype ? value : tf.cast(value, target.dtype));
        }
      });
    } catch (error) {
      for (const [v, t] of baseBefore) if (!v.isDisposed) v.assign(t);
      this.rollback(name, snap);
      throw error;
    } finally {
      for (const t of tensors.values()) t.dispose();
      for (const t of baseBefore.values()) t.dispose();
    }
  }

  // ---------------------------------------------------------------------------------------------------
  // Internals

  private record(name: string): AdapterRecord {
    const r = this.adapters.get(name);
    if (r === undefined) throw new Error(`No adapter named "${name}". Adapters: ${this.adapterNames().map((n) => `"${n}"`).join(", ") || "(none)"}.`);
    return r;
  }

  private checkNewAdapter(name: string, method: Method): void {
    if (this.adapters.has(name)) throw new Error(`Adapter with name "${name}" already exists; delete it first or pick another name.`);
    const prefixes = new Set<string>([method.prefix, ...[...this.adapters.values()].map((r) => r.method.prefix), ...(this.registry?.prefixes() ?? [])]);
    validateAdapterName(name, prefixes);
  }

  /** Injects without rollback (callers snapshot and roll back). */
  private inject(name: string, spec: AdapterSpec): void {
    let config = spec.config;
    if (config.peftType !== spec.method.peftType) {
      throw new Error(`Adapter "${name}": the config's peftType "${config.peftType}" is not the method's ("${spec.method.peftType}"); build the spec with the method's own factory.`);
    }
    if (config.taskType === "SEQ_CLS") {
      // PEFT `PeftModelForSequenceClassification`: the (new, randomly initialised) classification head is
      // trained and saved in full.
      config = { ...config, modulesToSave: [...new Set([...(config.modulesToSave ?? []), "classifier", "score"])] };
    }
    const before = new Set(this.parameters());
    const injection = spec.method.inject(this.baseModel, config, name, { logger: this.logger });
    const applied = injection.config;
    const frozen = new Set([...injection.state().values()].filter((v) => !before.has(v) && !v.trainable));
    this.adapters.set(name, { method: spec.method, config: applied, injection, frozen });
    for (const [moduleName, module] of injection.modules ?? []) this.addOwnedModule(moduleName, name, module);
    if (applied.modulesToSave !== null && applied.modulesToSave.length > 0) {
      const found = applyModulesToSave(this.baseModel, applied.modulesToSave, name);
      const auto = applied.taskType === "SEQ_CLS" ? ["classifier", "score"] : [];
      const missing = applied.modulesToSave.filter((m) => !found.has(m) && !auto.includes(m));
      if (missing.length > 0) this.logger.warn(`modules_to_save ${JSON.stringify(missing)} matched no module of the model; nothing extra is trained for them.`);
    }
    this.applyActive();
  }

  private addOwnedModule(moduleName: string, adapterName: string, module: Module): void {
    if (this.baseModel.namedChildren().some(([n]) => n === moduleName)) {
      throw new Error(`Adapter "${adapterName}": the method's module "${moduleName}" has the name of a child of the base model; a method must name its own modules apart (e.g. "prompt_encoder").`);
    }
    let dict = this.owned.get(moduleName);
    if (dict === undefined) {
      dict = new OwnedModules();
      this.owned.set(moduleName, dict);
    }
    dict.registerModule(adapterName, module);
    module.train(this.training);
  }

  private dropOwnedModules(adapterName: string): void {
    for (const [moduleName, dict] of [...this.owned]) {
      if (!dict.namedChildren().some(([n]) => n === adapterName)) continue;
      dict.deleteModule(adapterName);
      if (dict.namedChildren().length === 0) this.owned.delete(moduleName);
    }
  }

  /** Tuner layers, wrappers and trainable flags follow `this.active`. */
  private applyActive(): void {
    for (const [, layer] of this.tunerLayers()) {
      const held = new Set(layer.adapterNames());
      layer.setActiveAdapters(this.active.filter((n) => held.has(n)));
    }
    for (const [, w] of modulesToSaveWrappers(this.baseModel)) w.setActiveAdapters(this.active);
    // PEFT `set_adapter`: active adapters train (unless in inference mode), inactive ones are frozen. The state
    // is the one source: a variable claimed by several adapters (LoRA bias "all": the base biases) trains if any of them is on.
    const want = new Map<Variable, boolean>();
    for (const dict of this.owned.values()) for (const v of dict.parameters()) want.set(v, false);
    for (const [name, record] of this.adapters) {
      const on = this.active.includes(name) && !record.config.inferenceMode;
      for (const v of record.injection.state().values()) want.set(v, (want.get(v) ?? false) || (on && !record.frozen.has(v)));
    }
    for (const [v, flag] of want) v.trainable = flag;
    for (const [, w] of modulesToSaveWrappers(this.baseModel)) {
      for (const name of w.adapterNames()) {
        const on = w.activeAdapter() === name && this.adapters.get(name)?.config.inferenceMode === false;
        w.copyFor(name).requiresGrad(on);
      }
    }
  }

  /** Adapter `name`'s variables: its state, its modules_to_save copies and its owned modules. */
  private adapterParameters(name: string): Variable[] {
    const own = [...this.record(name).injection.state().values()];
    for (const [, w] of modulesToSaveWrappers(this.baseModel)) if (w.adapterNames().includes(name)) own.push(...w.copyFor(name).parameters());
    own.push(...this.ownedParameters(name));
    return own;
  }

  private ownedParameters(name: string): Variable[] {
    const out: Variable[] = [];
    for (const dict of this.owned.values()) {
      const m = dict.namedChildren().find(([n]) => n === name)?.[1];
      if (m !== undefined) out.push(...m.parameters());
    }
    return out;
  }

  /** Undoes a failed add or load: the injection's own `remove()` when it returned, then the tree, the variables and every flag as in `snap`. */
  private rollback(name: string, snap: Snapshot): void {
    const record = this.adapters.get(name);
    if (record !== undefined) {
      try {
        record.injection.remove();
      } catch {
        // the generic restore below still puts the tree back
      }
    }
    const ownedVars = record === undefined ? [] : this.ownedParameters(name);
    this.dropOwnedModules(name);
    restoreTree(this, snap, name);
    for (const v of ownedVars) if (!snap.trainable.has(v) && !v.isDisposed) v.dispose();
    this.adapters.delete(name);
    this.applyActive();
    for (const [v, flag] of snap.trainable) if (!v.isDisposed) v.trainable = flag;
  }

  private registryOfAdapters(): MethodRegistry {
    const methods = [...new Set([...this.adapters.values()].map((r) => r.method))];
    if (methods.length === 0) throw new Error("loadAdapter: pass { registry: createRegistry(...methods) } so the adapter's peft_type can be resolved.");
    return createRegistry(...methods);
  }

  private baseModelName(): string | null {
    const cfg = (this.baseModel as { config?: Record<string, unknown> }).config;
    const name = cfg?.["nameOrPath"] ?? cfg?.["_name_or_path"] ?? cfg?.["name_or_path"];
    return typeof name === "string" && name !== "" ? name : null;
  }
}

/** `{ config, weights }` (not a map of files by name). */
function isAdapterFiles(v: AdapterFiles | FileMap): v is AdapterFiles {
  return !(v instanceof Map) && "weights" in v && (v as { weights: unknown }).weights instanceof Uint8Array && "config" in v;
}

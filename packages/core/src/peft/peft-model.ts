/**
 * The model users hold: a base model with named adapters injected by methods (PEFT's `PeftModel` + `BaseTuner`
 * bookkeeping, peft `peft_model.py`, `tuners/tuners_utils.py`).
 *
 * The base model's module tree is modified in place (tuner layers wrap matched modules, like PEFT), and the
 * PeftModel's own module view is the base model's: `namedParameters()` lists the same paths
 * (`h.0.attn.c_attn.lora_A.default.weight`), so a training loop takes a PeftModel like any Module and sees
 * only adapter parameters as trainable.
 */
import { tf } from "../tf.js";
import type { Tensor, Variable } from "../tf.js";
import { Module } from "../nn/module.js";
import { isTunerLayer } from "../method.js";
import type { AdapterSpec, BasePeftConfig, Method, TunerLayer } from "../method.js";
import type { PreTrainedModelLike } from "../model.js";
import { serializeSafetensors, serializeSafetensorsAsync, parseSafetensors, safetensorsStream } from "../io/safetensors.js";
import type { FileContent } from "../io/atomic.js";
import { allFiniteAsync, allFiniteSync, SyncReadError } from "./finite.js";
import { writeDirAtomic } from "../io/atomic.js";
import { BASE_ADAPTER_NAME, createRegistry, validateAdapterName } from "./registry.js";
import type { MethodRegistry } from "./registry.js";
import { adaptableModules } from "./targets.js";
import { applyModulesToSave, modulesToSaveWrappers, ModulesToSaveWrapper } from "./modules-to-save.js";
import { ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME, parseAdapterConfig, readAdapterDir, serializeAdapterConfig, toAdapterConfigJson } from "./config-io.js";
import type { AdapterFiles } from "./config-io.js";
import { PEFT_KEY_PREFIX } from "./adapter-keys.js";
import { formatFixed4, formatThousands } from "./python-format.js";
import { resolveLogger } from "../log.js";
import type { Logger, LoggerOptions } from "../log.js";

/** Any module with a forward; PreTrainedModelLike is the usual one. */
export type ForwardModule = Module & { forward(input: never): unknown };
type ForwardInput<M> = M extends { forward(input: infer I): unknown } ? I : never;
type ForwardOutput<M> = M extends { forward(input: never): infer O } ? O : never;

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

/** An adapter file that does not fit the model; the model was left unchanged. */
export class AdapterLoadError extends Error {
  override name = "AdapterLoadError";
}

/** What a failed injection or load must undo: the tree's modules by path, and every variable with its flag. */
interface Snapshot {
  modules: Map<string, Module>;
  trainable: Map<Variable, boolean>;
}

/**
 * Wraps `model` and adds adapter `adapterName` (PEFT `get_peft_model`): every base parameter is frozen, the
 * method injects its (trainable) adapter, then `modulesToSave` are wrapped. The adapter is active.
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
  private readonly adapters = new Map<string, AdapterSpec>();
  private active: string[] = [];
  /** Adapter parameters their method created frozen (they stay frozen when the adapter is active). */
  private readonly frozenByDesign = new Set<Variable>();
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

  /** `fromPretrained` from file contents in memory (browsers). */
  static fromFiles<M extends ForwardModule = PreTrainedModelLike>(model: M, files: AdapterFiles, options: FromPretrainedOptions & { where?: string } = {}): PeftModel<M> {
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
  // The module view: the base model's tree.

  override *namedModules(prefix = ""): Generator<[string, Module]> {
    yield* this.baseModel.namedModules(prefix);
  }

  override namedChildren(): [string, Module][] {
    return this.baseModel.namedChildren();
  }

  override getSubmodule(path: string): Module {
    return this.baseModel.getSubmodule(path);
  }

  override setSubmodule(path: string, module: Module): void {
    this.baseModel.setSubmodule(path, module);
  }

  override train(mode = true): this {
    this.baseModel.train(mode);
    this.training = mode;
    return this;
  }

  getBaseModel(): M {
    return this.baseModel;
  }

  // ---------------------------------------------------------------------------------------------------
  // Adapters

  /** Adapter name → config, in the order they were added. */
  get peftConfig(): ReadonlyMap<string, BasePeftConfig> {
    return new Map([...this.adapters].map(([n, s]) => [n, s.config]));
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
    return this.spec(name).method;
  }

  /** Tuner layers with their paths, in tree order (not those nested inside another tuner layer). */
  tunerLayers(): [string, TunerLayer][] {
    return adaptableModules(this.baseModel).filter((e): e is [string, TunerLayer] => isTunerLayer(e[1]));
  }

  /**
   * Adds an adapter (PEFT `add_adapter`). It is not activated: use `setAdapter`. Its parameters stay frozen
   * until it is active. On failure (nothing matched, a bad config) the model is exactly as before.
   */
  addAdapter(name: string, spec: AdapterSpec): void {
    this.checkNewAdapter(name, spec.method);
    const snap = this.snapshot();
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
    for (const n of list) this.spec(n);
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
      for (const [, l] of merged) l.unmerge?.();
    }
    this.active = list;
    this.applyActive();
  }

  /** Deletes an adapter and its parameters (PEFT `delete_adapter`); a merged adapter must be unmerged first. */
  deleteAdapter(name: string): void {
    const spec = this.spec(name);
    const merged = this.tunerLayers().filter(([, l]) => l.mergedAdapters().includes(name));
    if (merged.length > 0) throw new Error(`Cannot delete adapter "${name}" while it is merged (in ${merged.map(([p]) => p).join(", ")}). Call unmerge() first.`);
    const own = this.adapterParameters(name, spec);
    for (const [path, layer] of this.tunerLayers()) {
      if (!layer.adapterNames().includes(name)) continue;
      layer.deleteAdapter(name);
      // A tuner layer left without adapters gives its place back to the base layer.
      if (layer.adapterNames().length === 0) this.replaceModule(path, layer, layer.baseLayer);
    }
    for (const [path, w] of modulesToSaveWrappers(this.baseModel)) {
      w.deleteAdapter(name);
      if (w.adapterNames().length === 0) this.replaceModule(path, w, w.originalModule);
    }
    // Only what left the tree: a method may also claim base parameters (LoRA bias "all" saves base biases).
    disposeUnreachable(own, this.baseModel);
    for (const v of own) {
      if (v.isDisposed) this.frozenByDesign.delete(v);
      else v.trainable = false; // a base parameter the adapter trained; applyActive unfreezes it if another claims it
    }
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
    const restore = (): void => switches.forEach((s, i) => (s.disabled = before[i]!));
    for (const s of switches) s.disabled = true;
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
   * The base model's forward with the active adapters. With `adapterNames`, each row of the batch uses its own
   * adapter (`"__base__"`: none), equal to running each row alone (PEFT's mixed-batch inference).
   */
  forward(inputs: ForwardInput<M>, options: PeftForwardOptions = {}): ForwardOutput<M> {
    const run = (): ForwardOutput<M> => (this.baseModel.forward as (i: unknown) => unknown).call(this.baseModel, inputs) as ForwardOutput<M>;
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

  private checkMixedBatch(names: readonly string[], rows: number | null): void {
    if (rows !== null && names.length !== rows) {
      throw new Error(`Length of adapterNames should be the same as the number of inputs, but got ${names.length} and ${rows} respectively.`);
    }
    const unknown = [...new Set(names)].filter((n) => n !== BASE_ADAPTER_NAME && !this.adapters.has(n));
    if (unknown.length > 0) {
      throw new Error(`Trying to infer with non-existing adapter(s): ${unknown.join(", ")}. Adapters: ${this.adapterNames().join(", ") || "(none)"}, or "${BASE_ADAPTER_NAME}" for the base model.`);
    }
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
  // Merging

  /**
   * Merges adapters into the base weights (PEFT `merge_adapter`); merged inference costs what the base costs.
   * With `safe`, a non-finite merged weight anywhere refuses the whole merge and no weight changes. The safe
   * check reads tensors synchronously: on a backend that cannot (WebGPU in Node) it throws `SyncReadError`,
   * nothing changed; use `mergeAsync` there.
   */
  merge(options: MergeOptions = {}): void {
    const work = this.mergeWork(options);
    const safe = options.safe === true;
    const snapshots = safe ? mergeSnapshots(work) : [];
    let current = 0;
    try {
      for (; current < work.length; current++) {
        const { path, layer, names: toMerge } = work[current]!;
        layer.merge!(toMerge, { safe });
        if (safe) {
          // Also checked here, so safe mode holds whatever a method's layer does with the flag.
          const bad = nonFiniteParameter(layer.baseLayer);
          if (bad !== null) throw new Error(`merged weight "${path}.${bad}" has NaN or Inf values`);
        }
      }
    } catch (error) {
      if (!safe) throw error;
      undoMerge(work, snapshots, current);
      if (error instanceof SyncReadError) throw error;
      throw safeMergeRefused(work[current]?.path, error);
    } finally {
      disposeSnapshots(snapshots);
    }
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
    const work = this.mergeWork(options);
    const snapshots = mergeSnapshots(work);
    let current = 0;
    try {
      // The layers' own checks read synchronously: merge unchecked, then check everything here.
      for (; current < work.length; current++) work[current]!.layer.merge!(work[current]!.names, { safe: false });
      for (current = 0; current < work.length; current++) {
        const { path, layer } = work[current]!;
        const bad = await nonFiniteParameterAsync(layer.baseLayer);
        if (bad !== null) throw new Error(`merged weight "${path}.${bad}" has NaN or Inf values`);
      }
    } catch (error) {
      undoMerge(work, snapshots, work.length - 1);
      throw safeMergeRefused(work[current]?.path, error);
    } finally {
      disposeSnapshots(snapshots);
    }
  }

  /** The tuner layers a merge of `options.adapterNames` (default the active ones) changes, checked to be mergeable. */
  private mergeWork(options: MergeOptions): MergeWork[] {
    const names = [...(options.adapterNames ?? this.active)];
    for (const n of names) {
      const { method } = this.spec(n);
      if (!method.canMerge) throw new Error(`Adapter "${n}" (method "${method.name}") cannot be merged into the base weights.`);
    }
    const work = this.tunerLayers()
      .map(([path, layer]) => ({ path, layer, names: names.filter((n) => layer.adapterNames().includes(n) && !layer.mergedAdapters().includes(n)) }))
      .filter((w) => w.names.length > 0);
    for (const { path, layer } of work) {
      if (typeof layer.merge !== "function") throw new Error(`The tuner layer at "${path}" (method "${layer.methodName}") has no merge().`);
    }
    return work;
  }

  /** Takes every merged adapter back out of the base weights (PEFT `unmerge_adapter`). */
  unmerge(): void {
    for (const [path, layer] of this.tunerLayers()) {
      if (layer.mergedAdapters().length === 0) continue;
      if (typeof layer.unmerge !== "function") throw new Error(`The tuner layer at "${path}" has merged adapters but no unmerge().`);
      layer.unmerge();
    }
  }

  /**
   * Merges the active adapters (or `adapterNames`) and gives back the plain base model: every tuner layer is
   * replaced by its base layer, every modules_to_save wrapper by its active copy (PEFT `merge_and_unload`).
   * This PeftModel has no adapters afterwards.
   */
  mergeAndUnload(options: MergeOptions = {}): M {
    this.merge(options);
    return this.unloadModules();
  }

  /** `mergeAndUnload` with `mergeAsync` (no sync tensor reads: every backend). */
  async mergeAndUnloadAsync(options: MergeOptions = {}): Promise<M> {
    await this.mergeAsync(options);
    return this.unloadModules();
  }

  /**
   * Removes every adapter without merging and gives back the base model. Adapters that were merged are
   * unmerged first, so the weights are the base model's (PEFT's `unload` would keep merged deltas).
   */
  unload(): M {
    this.unmerge();
    return this.unloadModules();
  }

  private unloadModules(): M {
    const before = new Set(this.baseModel.parameters());
    for (const [path, layer] of this.tunerLayers()) this.baseModel.setSubmodule(path, layer.baseLayer);
    for (const [path, w] of modulesToSaveWrappers(this.baseModel)) {
      const active = w.activeAdapter();
      this.baseModel.setSubmodule(path, active === null ? w.originalModule : w.copyFor(active));
    }
    disposeUnreachable(before, this.baseModel);
    this.adapters.clear();
    this.active = [];
    this.frozenByDesign.clear();
    return this.baseModel;
  }

  // ---------------------------------------------------------------------------------------------------
  // Save / load (PEFT layout)

  /**
   * The files `save` writes, by relative path: for each adapter `adapter_config.json` and
   * `adapter_model.safetensors` (keys `base_model.model.<path>.<param>`, no adapter name), a non-default
   * adapter in a subfolder named after it.
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
    for (const name of names) this.spec(name); // every name checked before any file is made
    const files: Record<string, W | string> = {};
    for (const name of names) {
      const spec = this.spec(name);
      const folder = name === "default" ? "" : `${name}/`;
      const config = toAdapterConfigJson(spec.method, spec.config, this.baseModelName());
      files[folder + ADAPTER_CONFIG_NAME] = serializeAdapterConfig(config);
      files[folder + ADAPTER_WEIGHTS_NAME] = weights(this.adapterStateDict(name));
    }
    return files;
  }

  /**
   * Adapter `name`'s tensors under their file keys (PEFT `get_peft_model_state_dict`). The tensors are the live
   * variables: do not dispose them.
   */
  adapterStateDict(name: string): Map<string, Tensor> {
    const { method, config } = this.spec(name);
    const out = new Map<string, Tensor>();
    const put = (key: string, v: Tensor, from: string): void => {
      if (out.has(key)) throw new Error(`Two parameters of adapter "${name}" map to the file key "${key}" (the second is "${from}"); the method's toFileKey is not one-to-one.`);
      out.set(key, v);
    };
    for (const [path, v] of this.baseModel.namedParameters()) {
      const key = method.toFileKey(path, name, config);
      if (key !== null) put(PEFT_KEY_PREFIX + key, v, path);
    }
    for (const [path, w] of modulesToSaveWrappers(this.baseModel)) {
      if (!w.adapterNames().includes(name)) continue;
      for (const [k, v] of w.copyFor(name).stateDict()) put(`${PEFT_KEY_PREFIX}${path}.${k}`, v, `${path}.modules_to_save.${name}.${k}`);
    }
    return out;
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
  loadAdapterFromFiles(files: AdapterFiles, name: string, options: LoadAdapterOptions & { where?: string } = {}): void {
    const where = options.where ?? "the adapter files";
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
    const snap = this.snapshot();
    const baseBefore = new Map<Variable, Tensor>();
    try {
      this.inject(name, spec);
      const expected = this.adapterStateDict(name);
      const base = this.baseParametersInFile(tensors, expected);
      // Checked together: a base weight of the wrong shape refuses the load like an adapter tensor would.
      checkAdapterTensors(new Map([...expected, ...base]), tensors, name, where, spec.config.baseModelNameOrPath);
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

  /**
   * File keys that are not adapter parameters but name a base-model parameter, with that parameter. PEFT's
   * `get_peft_model_state_dict` (save_embedding_layers="auto") also saves the untouched base weight of an
   * Embedding/lm_head target as `base_model.model.<path>.base_layer.weight`, and `set_peft_model_state_dict`
   * passes such keys through to `load_state_dict(strict=False)`, which loads them into the base model. A key
   * matches a parameter by its path in the tree, or by that path with the tuner layers' `base_layer` segments
   * left out (`embed_tokens.weight` for `embed_tokens.base_layer.weight`). Parameters any adapter claims (its
   * own, a modules_to_save copy, a base bias LoRA trains) are not base weights here.
   */
  private baseParametersInFile(file: ReadonlyMap<string, Tensor>, expected: ReadonlyMap<string, Tensor>): Map<string, Variable> {
    const claimed = new Set<Variable>();
    for (const [n, s] of this.adapters) for (const v of this.adapterParameters(n, s)) claimed.add(v);
    const exact = new Map<string, Variable>();
    const viaBaseLayer = new Map<string, Variable>();
    for (const [path, v] of this.baseModel.namedParameters()) {
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

  // ---------------------------------------------------------------------------------------------------
  // Internals

  private spec(name: string): AdapterSpec {
    const s = this.adapters.get(name);
    if (s === undefined) throw new Error(`No adapter named "${name}". Adapters: ${this.adapterNames().map((n) => `"${n}"`).join(", ") || "(none)"}.`);
    return s;
  }

  private checkNewAdapter(name: string, method: Method): void {
    if (this.adapters.has(name)) throw new Error(`Adapter with name "${name}" already exists; delete it first or pick another name.`);
    const prefixes = new Set<string>([method.prefix, ...[...this.adapters.values()].map((s) => s.method.prefix), ...(this.registry?.prefixes() ?? [])]);
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
    const before = new Set(this.baseModel.parameters());
    this.adapters.set(name, { method: spec.method, config });
    spec.method.inject(this.baseModel, config, name, { logger: this.logger });
    for (const v of this.baseModel.parameters()) if (!before.has(v) && !v.trainable) this.frozenByDesign.add(v);
    if (config.modulesToSave !== null && config.modulesToSave.length > 0) {
      const found = applyModulesToSave(this.baseModel, config.modulesToSave, name);
      const auto = config.taskType === "SEQ_CLS" ? ["classifier", "score"] : [];
      const missing = config.modulesToSave.filter((m) => !found.has(m) && !auto.includes(m));
      if (missing.length > 0) this.logger.warn(`modules_to_save ${JSON.stringify(missing)} matched no module of the model; nothing extra is trained for them.`);
    }
    this.applyActive();
  }

  /** Tuner layers, wrappers and trainable flags follow `this.active`. */
  private applyActive(): void {
    for (const [, layer] of this.tunerLayers()) {
      const held = new Set(layer.adapterNames());
      layer.setActiveAdapters(this.active.filter((n) => held.has(n)));
    }
    for (const [, w] of modulesToSaveWrappers(this.baseModel)) w.setActiveAdapters(this.active);
    // PEFT `set_adapter`: active adapters train (unless in inference mode), inactive ones are frozen.
    // A parameter claimed by several adapters (LoRA bias "all": the base biases) trains if any of them is on.
    const params = this.baseModel.namedParameters();
    const want = new Map<Variable, boolean>();
    for (const [name, spec] of this.adapters) {
      const on = this.active.includes(name) && !spec.config.inferenceMode;
      for (const [path, v] of params) {
        if (spec.method.toFileKey(path, name, spec.config) !== null) want.set(v, (want.get(v) ?? false) || (on && !this.frozenByDesign.has(v)));
      }
    }
    for (const [v, flag] of want) v.trainable = flag;
    for (const [, w] of modulesToSaveWrappers(this.baseModel)) {
      for (const name of w.adapterNames()) {
        const on = w.activeAdapter() === name && this.adapters.get(name)?.config.inferenceMode === false;
        w.copyFor(name).requiresGrad(on);
      }
    }
  }

  private adapterParameters(name: string, spec: AdapterSpec): Variable[] {
    const own = this.baseModel.namedParameters().filter(([path]) => spec.method.toFileKey(path, name, spec.config) !== null).map(([, v]) => v);
    for (const [, w] of modulesToSaveWrappers(this.baseModel)) if (w.adapterNames().includes(name)) own.push(...w.copyFor(name).parameters());
    return own;
  }

  private snapshot(): Snapshot {
    return {
      modules: new Map(this.baseModel.namedModules()),
      trainable: new Map(this.baseModel.parameters().map((v) => [v, v.trainable] as const)),
    };
  }

  /** Undoes a failed injection: the tree, the variables and every flag as in `snap`. */
  private rollback(name: string, snap: Snapshot): void {
    const vars = new Set(this.baseModel.parameters());
    for (const [path, m] of this.baseModel.namedModules()) {
      if (snap.modules.get(path) !== m) continue;
      if (isTunerLayer(m) && m.adapterNames().includes(name)) m.deleteAdapter(name);
      if (m instanceof ModulesToSaveWrapper) m.deleteAdapter(name);
    }
    const byDepth = [...snap.modules].filter(([p]) => p !== "").sort(([a], [b]) => a.split(".").length - b.split(".").length);
    for (const [path, m] of byDepth) {
      let now: Module | undefined;
      try {
        now = this.baseModel.getSubmodule(path);
      } catch {
        now = undefined;
      }
      if (now !== m) this.baseModel.setSubmodule(path, m);
    }
    for (const v of vars) if (!snap.trainable.has(v)) this.frozenByDesign.delete(v);
    disposeUnreachable(vars, this.baseModel, new Set(snap.trainable.keys()));
    this.adapters.delete(name);
    this.applyActive();
    for (const [v, flag] of snap.trainable) v.trainable = flag;
  }

  private replaceModule(path: string, current: Module, replacement: Module): void {
    const before = new Set(current.parameters());
    this.baseModel.setSubmodule(path, replacement);
    disposeUnreachable(before, this.baseModel);
  }

  private registryOfAdapters(): MethodRegistry {
    const methods = [...new Set([...this.adapters.values()].map((s) => s.method))];
    if (methods.length === 0) throw new Error("loadAdapter: pass { registry: createRegistry(...methods) } so the adapter's peft_type can be resolved.");
    return createRegistry(...methods);
  }

  private baseModelName(): string | null {
    const cfg = (this.baseModel as { config?: Record<string, unknown> }).config;
    const name = cfg?.["nameOrPath"] ?? cfg?.["_name_or_path"] ?? cfg?.["name_or_path"];
    return typeof name === "string" && name !== "" ? name : null;
  }
}

/** Missing / unexpected / shape problems between what the model expects and what the file has, as one error. */
function checkAdapterTensors(expected: Map<string, Tensor>, file: Map<string, Tensor>, name: string, where: string, baseName: string | null): void {
  const problems: string[] = [];
  for (const [key, target] of expected) {
    const got = file.get(key);
    if (got === undefined) continue;
    if (!sameShape(target.shape, got.shape)) {
      problems.push(`shape mismatch for "${key}": the file has [${got.shape.join(", ")}], the model expects [${target.shape.join(", ")}]`);
    } else if (got.dtype !== target.dtype && (got.dtype === "string" || got.dtype === "complex64" || got.dtype === "bool")) {
      problems.push(`dtype mismatch for "${key}": the file has ${got.dtype}, the model expects ${target.dtype}`);
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

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function preview(keys: string[]): string {
  const shown = keys.slice(0, 10).join(", ");
  return keys.length > 10 ? `${shown}, … (${keys.length} in all)` : shown;
}

/** Disposes the variables of `candidates` no longer in `root`'s tree (and not in `keep`). */
function disposeUnreachable(candidates: Iterable<Variable>, root: Module, keep: ReadonlySet<Variable> = new Set()): void {
  const reachable = new Set(root.stateDict().values());
  for (const v of candidates) if (!reachable.has(v) && !keep.has(v) && !v.isDisposed) v.dispose();
}

function cloneParameters(m: Module): Map<Variable, Tensor> {
  return new Map(m.parameters().map((v) => [v, tf.clone(v)] as const));
}

interface MergeWork {
  path: string;
  layer: TunerLayer;
  names: string[];
}

interface MergeSnapshot {
  merged: string[];
  weights: Map<Variable, Tensor>;
}

/** Each layer's merged adapters and a copy of its base weights, to undo a refused safe merge bit for bit. */
function mergeSnapshots(work: readonly MergeWork[]): MergeSnapshot[] {
  return work.map(({ layer }) => ({ merged: [...layer.mergedAdapters()], weights: cloneParameters(layer.baseLayer) }));
}

function disposeSnapshots(snapshots: readonly MergeSnapshot[]): void {
  for (const s of snapshots) for (const t of s.weights.values()) t.dispose();
}

/**
 * Undoes layers `0..last` (those merged so far and the failing one, should it have changed anything): values
 * from the snapshot, and each layer's own merged bookkeeping as it was.
 */
function undoMerge(work: readonly MergeWork[], snapshots: readonly MergeSnapshot[], last: number): void {
  for (let i = Math.min(last, work.length - 1); i >= 0; i--) {
    const { layer } = work[i]!;
    const snap = snapshots[i]!;
    if (!sameList(layer.mergedAdapters(), snap.merged)) {
      layer.unmerge?.();
      if (snap.merged.length > 0) layer.merge!(snap.merged, { safe: false });
    }
    for (const [v, t] of snap.weights) v.assign(t);
  }
}

function safeMergeRefused(path: string | undefined, error: unknown): Error {
  return new Error(`Safe merge refused at "${path ?? "?"}": ${(error as Error).message}. No weight was changed; check the adapter for NaN/Inf values.`, { cause: error });
}

const MERGE_ASYNC = "await peftModel.mergeAsync({ safe: true })";

/** The first float parameter (by local path) holding NaN/Inf, or null. Sync reads; `SyncReadError` where there are none. */
function nonFiniteParameter(m: Module): string | null {
  for (const [path, v] of m.namedParameters()) {
    if (v.dtype === "float32" && !allFiniteSync(v, MERGE_ASYNC)) return path;
  }
  return null;
}

async function nonFiniteParameterAsync(m: Module): Promise<string | null> {
  for (const [path, v] of m.namedParameters()) {
    if (v.dtype === "float32" && !(await allFiniteAsync(v))) return path;
  }
  return null;
}

function batchSize(inputs: unknown): number | null {
  if (inputs instanceof tf.Tensor) return (inputs as Tensor).shape[0] ?? null;
  if (inputs !== null && typeof inputs === "object") {
    const o = inputs as { inputIds?: unknown; inputsEmbeds?: unknown };
    for (const t of [o.inputIds, o.inputsEmbeds]) if (t instanceof tf.Tensor) return (t as Tensor).shape[0] ?? null;
  }
  return null;
}

function isPromiseLike(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === "object" || typeof v === "function") && typeof (v as { then?: unknown }).then === "function";
}

/**
 * `modules_to_save`: whole modules (a classification head, say) trained in full next to an adapter and saved
 * with it. Follows PEFT's `ModulesToSaveWrapper` (peft `utils/other.py`): the wrapper keeps the frozen
 * `original_module` and one trainable copy per adapter under `modules_to_save.<adapter>`; forward uses the
 * active adapter's copy (only one may be active per wrapper), else the original. In the adapter file the copy's
 * parameters are stored under the wrapped module's own path (`base_model.model.classifier.weight`), as
 * `get_peft_model_state_dict` does since PEFT 0.16.
 */
import { tf } from "../tf.js";
import type { Tensor } from "../tf.js";
import { Module, ModuleList } from "../nn/module.js";
import { isTunerLayer } from "../tuners/base-tuner-layer.js";
import { adaptableModules, isModulesToSaveWrapper } from "./targets.js";
import type { OpaqueWrapper } from "./targets.js";
import { BASE_ADAPTER_NAME } from "./registry.js";

interface Forwardable {
  forward(...args: unknown[]): unknown;
}

/** Holds the per-adapter copies (PEFT's `ModuleDict`). */
class ModuleDict extends Module {}

export class ModulesToSaveWrapper extends Module implements OpaqueWrapper {
  readonly isModulesToSaveWrapper = true as const;
  /** When true, forward uses the original module (PeftModel's disabled-adapters scope). */
  disabled = false;
  private active: string | null = null;
  private rowAdapters: readonly string[] | null = null;
  private readonly copies: ModuleDict;

  constructor(original: Module, adapterName: string) {
    super();
    if (isTunerLayer(original)) {
      throw new TypeError(`modules_to_save cannot wrap a tuner layer (method "${original.methodName}"); a module cannot be both adapted and saved in full. Remove it from targetModules or from modulesToSave.`);
    }
    if (original instanceof ModuleList || original instanceof ModuleDict) {
      throw new TypeError("modules_to_save cannot wrap a module list; name the modules inside it instead.");
    }
    this.registerModule("original_module", original);
    this.copies = this.registerModule("modules_to_save", new ModuleDict());
    this.update(adapterName);
  }

  get originalModule(): Module {
    return this.getSubmodule("original_module");
  }

  /** Adapters that have a copy here. */
  adapterNames(): string[] {
    return this.copies.namedChildren().map(([n]) => n);
  }

  /** The copy trained for `adapterName`. */
  copyFor(adapterName: string): Module {
    return this.copies.getSubmodule(adapterName);
  }

  /** Adds a copy for `adapterName` (PEFT `update`): a deep copy of the original, which stays frozen. */
  update(adapterName: string): void {
    if (!this.adapterNames().includes(adapterName)) this.copies.registerModule(adapterName, cloneModule(this.originalModule));
    this.originalModule.requiresGrad(false);
  }

  activeAdapter(): string | null {
    return this.active;
  }

  /**
   * Activates the copy of the one adapter among `names` that this wrapper holds (PEFT `check_set_adapter`):
   * none held → the original is used; more than one → error, since one module cannot be two copies at once.
   */
  setActiveAdapters(names: readonly string[]): void {
    const held = names.filter((n) => this.adapterNames().includes(n));
    if (held.length > 1) {
      throw new Error(`Only one adapter with modules_to_save can be active at a time, but ${held.map((n) => `"${n}"`).join(" and ")} both train their own copy of this module. Activate one of them.`);
    }
    this.active = held[0] ?? null;
  }

  /** Mixed batch: one adapter name per row (dim 0) of the next forward, `"__base__"` for the original. */
  setRowAdapters(names: readonly string[] | null): void {
    this.rowAdapters = names;
  }

  /** Removes and disposes `adapterName`'s copy. */
  deleteAdapter(adapterName: string): void {
    if (!this.adapterNames().includes(adapterName)) return;
    const copy = this.copyFor(adapterName);
    this.copies.deleteModule(adapterName);
    copy.dispose();
    if (this.active === adapterName) this.active = null;
  }

  forward(...args: unknown[]): unknown {
    if (this.disabled) return call(this.originalModule, args);
    if (this.rowAdapters !== null) return this.mixedBatchForward(args);
    return call(this.active === null ? this.originalModule : this.copyFor(this.active), args);
  }

  /** PEFT `_mixed_batch_forward`: rows grouped by adapter, each group through its module, rows put back in order. */
  private mixedBatchForward(args: unknown[]): unknown {
    const names = this.rowAdapters!;
    const [first, ...rest] = args;
    if (!(first instanceof tf.Tensor)) throw new Error("Mixed-batch forward through modules_to_save needs a tensor as the module's first argument.");
    const x = first as Tensor;
    if (x.shape[0] !== names.length) {
      throw new Error(`Mixed batch: ${names.length} adapter names for a batch of ${x.shape[0]} rows; pass one name per row.`);
    }
    const held = new Set(this.adapterNames());
    const groups = new Map<string, number[]>();
    names.forEach((n, row) => {
      const key = held.has(n) ? n : BASE_ADAPTER_NAME;
      groups.set(key, [...(groups.get(key) ?? []), row]);
    });
    return tf.tidy(() => {
      const outputs: Tensor[] = [];
      const order: number[] = [];
      for (const [name, rows] of groups) {
        const module = name === BASE_ADAPTER_NAME ? this.originalModule : this.copyFor(name);
        const out = call(module, [tf.gather(x, tf.tensor1d(rows, "int32")), ...rest]);
        if (!(out instanceof tf.Tensor)) throw new Error("Mixed-batch forward through modules_to_save needs a module that returns a tensor.");
        outputs.push(out as Tensor);
        order.push(...rows);
      }
      const stacked = outputs.length === 1 ? outputs[0]! : tf.concat(outputs, 0);
      const inverse = new Array<number>(order.length);
      order.forEach((row, i) => (inverse[row] = i));
      return tf.gather(stacked, tf.tensor1d(inverse, "int32"));
    });
  }
}

function call(m: Module, args: unknown[]): unknown {
  const f = (m as unknown as Partial<Forwardable>).forward;
  if (typeof f !== "function") throw new Error(`modules_to_save: ${m.constructor.name} has no forward method.`);
  return f.apply(m, args);
}

/**
 * Wraps every module whose path ends with one of `names` (PEFT `_set_trainable`: `key.endswith(name)`, no dot
 * required) for `adapterName`; an existing wrapper gets a copy for the adapter. Returns the names that matched.
 */
export function applyModulesToSave(model: Module, names: readonly string[], adapterName: string): Set<string> {
  const found = new Set<string>();
  const wrapped: string[] = [];
  for (const [path, m] of adaptableModules(model)) {
    const hits = names.filter((n) => path.endsWith(n));
    if (hits.length === 0) continue;
    hits.forEach((n) => found.add(n));
    // Inside a module wrapped in this call: its copy already holds this one.
    if (wrapped.some((w) => path.startsWith(`${w}.`))) continue;
    if (isModulesToSaveWrapper(m)) {
      (m as unknown as ModulesToSaveWrapper).update(adapterName);
    } else {
      model.setSubmodule(path, new ModulesToSaveWrapper(m, adapterName));
    }
    wrapped.push(path);
  }
  return found;
}

/** The wrappers in the tree, with their paths. */
export function modulesToSaveWrappers(model: Module): [string, ModulesToSaveWrapper][] {
  return [...model.namedModules()].filter((e): e is [string, ModulesToSaveWrapper] => e[1] instanceof ModulesToSaveWrapper);
}

/**
 * A deep copy of a module (torch `copy.deepcopy`): the same classes with their own parameters (new variables
 * with the same values and trainable flags), buffers and child modules. References into the copied tree are
 * remapped; other class instances (configs) are shared.
 */
export function cloneModule<M extends Module>(module: M): M {
  return cloneValue(module, new Map()) as M;
}

function cloneValue(value: unknown, memo: Map<object, unknown>): unknown {
  if (value === null || typeof value !== "object") return value;
  const hit = memo.get(value);
  if (hit !== undefined) return hit;
  if (value instanceof tf.Variable) {
    const v = tf.variable(value, value.trainable);
    memo.set(value, v);
    return v;
  }
  if (value instanceof tf.Tensor) {
    const t = tf.keep(tf.clone(value));
    memo.set(value, t);
    return t;
  }
  if (value instanceof Map) {
    const m = new Map<unknown, unknown>();
    memo.set(value, m);
    for (const [k, v] of value) m.set(k, cloneValue(v, memo));
    return m;
  }
  if (value instanceof Set) {
    const s = new Set<unknown>();
    memo.set(value, s);
    for (const v of value) s.add(cloneValue(v, memo));
    return s;
  }
  if (Array.isArray(value)) {
    const a: unknown[] = [];
    memo.set(value, a);
    for (const v of value) a.push(cloneValue(v, memo));
    return a;
  }
  if (ArrayBuffer.isView(value)) {
    const c = (value as unknown as { slice(): unknown }).slice();
    memo.set(value, c);
    return c;
  }
  const proto = Object.getPrototypeOf(value) as object | null;
  if (value instanceof Module || proto === Object.prototype || proto === null) {
    const c = Object.create(proto) as object;
    memo.set(value, c);
    for (const key of Reflect.ownKeys(value)) {
      const d = Object.getOwnPropertyDescriptor(value, key)!;
      if ("value" in d) d.value = cloneValue(d.value, memo);
      Object.defineProperty(c, key, d);
    }
    return c;
  }
  return value;
}

/**
 * A small PyTorch-like module tree on tfjs-core.
 *
 * Parameters are `tf.Variable`s registered under a name; children are modules registered under a
 * name. Dotted paths built from those names equal Hugging Face parameter names
 * (`transformer.h.0.attn.c_attn.weight`), so PEFT file keys map one to one.
 */
import { tf } from "../tf.js";
import type { Tensor, Variable } from "../tf.js";

/** A state dict: parameter (and buffer) path → tensor. */
export type StateDict = Map<string, Tensor>;

export interface LoadStateDictOptions {
  /** When true (default), keys missing from the dict or unexpected in it are errors. */
  strict?: boolean;
}

export interface LoadStateDictResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

export class StateDictError extends Error {
  override name = "StateDictError";
}

export abstract class Module {
  /** Train mode (dropout active) vs eval mode. */
  training = true;
  private readonly params = new Map<string, Variable>();
  private readonly buffers = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();

  /** Registers (or replaces) a parameter. The variable's `trainable` flag is its requires-grad. */
  registerParameter(name: string, value: Variable): Variable {
    assertName(name);
    const old = this.params.get(name);
    if (old !== undefined && old !== value) old.dispose();
    this.params.set(name, value);
    return value;
  }

  /** Creates a parameter from an initial tensor (the tensor is copied into a new variable). */
  addParameter(name: string, initial: Tensor, trainable = true): Variable {
    return this.registerParameter(name, tf.variable(initial, trainable));
  }

  /** Non-trainable state that is not saved (e.g. rotary tables, causal masks). */
  registerBuffer(name: string, value: Tensor): Tensor {
    assertName(name);
    const old = this.buffers.get(name);
    if (old !== undefined && old !== value) old.dispose();
    tf.keep(value);
    this.buffers.set(name, value);
    return value;
  }

  registerModule<M extends Module>(name: string, module: M): M {
    assertName(name);
    this.children.set(name, module);
    return module;
  }

  /** Removes a parameter; disposes it unless `dispose` is false. */
  deleteParameter(name: string, dispose = true): void {
    const v = this.params.get(name);
    if (v !== undefined && dispose) v.dispose();
    this.params.delete(name);
  }

  deleteModule(name: string): void {
    this.children.delete(name);
  }

  getParameter(name: string): Variable | undefined {
    return this.params.get(name);
  }

  getBuffer(name: string): Tensor | undefined {
    return this.buffers.get(name);
  }

  /** Own (non-recursive) parameters. */
  ownParameters(): [string, Variable][] {
    return [...this.params];
  }

  /** Direct children. */
  namedChildren(): [string, Module][] {
    return [...this.children];
  }

  /** All modules in the tree, depth-first, the root first under `prefix` ("" by default). */
  *namedModules(prefix = ""): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [name, child] of this.children) {
      yield* child.namedModules(prefix === "" ? name : `${prefix}.${name}`);
    }
  }

  /** All parameters in the tree with their dotted paths. A variable shared by two paths (tied weights) is listed once, under its first path. */
  namedParameters(prefix = ""): [string, Variable][] {
    const seen = new Set<Variable>();
    const out: [string, Variable][] = [];
    for (const [path, mod] of this.namedModules(prefix)) {
      for (const [name, v] of mod.params) {
        if (seen.has(v)) continue;
        seen.add(v);
        out.push([path === "" ? name : `${path}.${name}`, v]);
      }
    }
    return out;
  }

  parameters(): Variable[] {
    return this.namedParameters().map(([, v]) => v);
  }

  trainableParameters(): Variable[] {
    return this.parameters().filter((v) => v.trainable);
  }

  /** The module at a dotted path ("" is this module). Throws with the valid child names when absent. */
  getSubmodule(path: string): Module {
    if (path === "") return this;
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- walking down from the root
    let mod: Module = this;
    const parts = path.split(".");
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      const next = mod.children.get(part);
      if (next === undefined) {
        const at = parts.slice(0, i).join(".") || "<root>";
        throw new Error(
          `No submodule "${path}": "${at}" has no child "${part}". Its children are: ${[...mod.children.keys()].join(", ") || "(none)"}.`,
        );
      }
      mod = next;
    }
    return mod;
  }

  /** Replaces the module at a dotted path (its parent must exist). */
  setSubmodule(path: string, module: Module): void {
    if (path === "") throw new Error("setSubmodule: cannot replace the root module; pass a child path.");
    const dot = path.lastIndexOf(".");
    const parent = dot < 0 ? this : this.getSubmodule(path.slice(0, dot));
    const name = dot < 0 ? path : path.slice(dot + 1);
    if (!parent.children.has(name)) {
      throw new Error(`setSubmodule: "${path}" does not exist; children of its parent are: ${[...parent.children.keys()].join(", ")}.`);
    }
    parent.children.set(name, module);
  }

  /**
   * Every parameter (tied weights under each of their paths, like torch's state_dict) → the variable
   * itself (not a copy). Callers that keep tensors past the module's life must clone them.
   */
  stateDict(prefix = ""): StateDict {
    const out: StateDict = new Map();
    for (const [path, mod] of this.namedModules(prefix)) {
      for (const [name, v] of mod.params) out.set(path === "" ? name : `${path}.${name}`, v);
    }
    return out;
  }

  /**
   * Copies values into the parameters. Every given tensor is checked (shape and dtype) before any is
   * assigned, so a failed load leaves the module unchanged.
   */
  loadStateDict(state: StateDict | Record<string, Tensor>, options: LoadStateDictOptions = {}): LoadStateDictResult {
    const strict = options.strict ?? true;
    const entries = state instanceof Map ? state : new Map(Object.entries(state));
    const own = this.stateDict();
    const missingKeys = [...own.keys()].filter((k) => !entries.has(k));
    const unexpectedKeys = [...entries.keys()].filter((k) => !own.has(k));
    if (strict && (missingKeys.length > 0 || unexpectedKeys.length > 0)) {
      const parts: string[] = [];
      if (missingKeys.length > 0) parts.push(`missing keys: ${preview(missingKeys)}`);
      if (unexpectedKeys.length > 0) parts.push(`unexpected keys: ${preview(unexpectedKeys)}`);
      throw new StateDictError(
        `loadStateDict: the state dict does not match the model (${parts.join("; ")}). Check that it was saved from the same architecture, or pass { strict: false }.`,
      );
    }
    for (const [key, value] of entries) {
      const target = own.get(key);
      if (target === undefined) continue;
      if (!sameShape(target.shape, value.shape)) {
        throw new StateDictError(
          `loadStateDict: shape mismatch for "${key}": the model has [${target.shape.join(", ")}], the state dict has [${value.shape.join(", ")}].`,
        );
      }
      if (target.dtype !== value.dtype) {
        throw new StateDictError(`loadStateDict: dtype mismatch for "${key}": the model has ${target.dtype}, the state dict has ${value.dtype}.`);
      }
    }
    for (const [key, value] of entries) {
      const target = own.get(key);
      if (target !== undefined) (target as Variable).assign(value);
    }
    return { missingKeys, unexpectedKeys };
  }

  /** Sets train mode on this module and every descendant. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Marks every parameter (not) trainable. */
  requiresGrad(flag: boolean): this {
    for (const v of this.parameters()) v.trainable = flag;
    return this;
  }

  /** Disposes every parameter and buffer in the tree. */
  dispose(): void {
    for (const [, m] of this.namedModules()) {
      for (const v of m.params.values()) if (!v.isDisposed) v.dispose();
      for (const b of m.buffers.values()) if (!b.isDisposed) b.dispose();
    }
  }

  /** Number of parameter elements (tied weights counted once). */
  numParameters(onlyTrainable = false): number {
    let n = 0;
    for (const [, v] of this.namedParameters()) if (!onlyTrainable || v.trainable) n += v.size;
    return n;
  }
}

/** An ordered list of modules named "0", "1", … (torch `nn.ModuleList`). */
export class ModuleList<M extends Module = Module> extends Module implements Iterable<M> {
  private readonly items: M[] = [];

  constructor(modules: Iterable<M> = []) {
    super();
    for (const m of modules) this.append(m);
  }

  append(module: M): this {
    this.registerModule(String(this.items.length), module);
    this.items.push(module);
    return this;
  }

  get length(): number {
    return this.items.length;
  }

  at(i: number): M {
    // Read through the child map so that setSubmodule("h.3", wrapped) is seen here too.
    const m = this.namedChildren().find(([n]) => n === String(i));
    if (m === undefined) throw new RangeError(`ModuleList index ${i} out of range (length ${this.items.length}).`);
    return m[1] as M;
  }

  *[Symbol.iterator](): Iterator<M> {
    for (let i = 0; i < this.items.length; i++) yield this.at(i);
  }
}

function assertName(name: string): void {
  if (name === "" || name.includes(".")) {
    throw new Error(`Invalid module/parameter name "${name}": names must be non-empty and contain no ".".`);
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function preview(keys: string[]): string {
  const shown = keys.slice(0, 10).join(", ");
  return keys.length > 10 ? `${shown}, … (${keys.length} in all)` : shown;
}

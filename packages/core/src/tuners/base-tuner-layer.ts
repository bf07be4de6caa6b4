/**
 * The bookkeeping every layer-wrapping method shares (PEFT's `BaseTunerLayer`, peft `tuners/tuners_utils.py`):
 * the wrapped module at child `base_layer`, one entry per adapter, the active / disabled / merged state, the
 * mixed-batch forward (one adapter per row) and the merge protocol with its safe check. A method's layer
 * (LoRA's `LoraLinear`, a bottleneck adapter) extends it and supplies only its maths:
 *
 * - `createAdapter(name, settings)` / `deleteAdapterWeights(name)`: its per-adapter modules or parameters;
 * - `baseForward(x)` (the wrapped module) and `adapterDelta(running, x, name)`: what adapter `name` adds to
 *   the output so far (`running`) for input `x`. Forward is `base(x)` plus each active, unmerged adapter's
 *   delta in turn, which covers parallel deltas (LoRA: from `x`) and sequential ones (a bottleneck on
 *   `running`, the sublayer's output).
 * - optionally `mergePlan(names)` / `unmergePlan(name)`: new values for base variables. The base class checks
 *   (safe mode) and assigns them; without them the layer cannot merge (its method's `canMerge` is false).
 */
import { tf } from "../tf.js";
import type { Tensor, Variable } from "../tf.js";
import { Module } from "../nn/module.js";
import type { TunerLayer } from "../contract/tuner-layer.js";
import { allFiniteSync } from "../peft/finite.js";

/** Mixed-batch row name meaning "no adapter" (PEFT's `"__base__"`). */
export const BASE_ADAPTER_NAME = "__base__";

/** What `PeftModel.mergeAsync` is, for errors of the sync safe check. */
const MERGE_ASYNC = "await peftModel.mergeAsync({ safe: true })";

/** Returns true when a module is a tuner layer (of any method). */
export function isTunerLayer(m: Module): m is TunerLayer {
  return (m as unknown as Partial<TunerLayer>).isTunerLayer === true;
}

/** The innermost module under nested tuner layers (PEFT `get_base_layer`); `m` itself when it is no tuner layer. */
export function getBaseLayer(m: Module): Module {
  let cur = m;
  while (isTunerLayer(cur)) cur = cur.baseLayer;
  return cur;
}

/** The tuner layers in a wrapper chain, outermost first: `m`, its `baseLayer` if that is one, and so on. */
export function tunerLayerChain(m: Module): TunerLayer[] {
  const out: TunerLayer[] = [];
  let cur = m;
  while (isTunerLayer(cur)) {
    out.push(cur);
    cur = cur.baseLayer;
  }
  return out;
}

/**
 * New values for base variables that a merge (or unmerge) assigns. `commit` runs after they were assigned
 * (LoRA keeps its DoRA norms there), `discard` when the merge was refused; the values are disposed after either.
 */
export interface MergePlan {
  readonly values: ReadonlyArray<readonly [Variable, Tensor]>;
  commit?(): void;
  discard?(): void;
}

/** A forward of one tensor: the wrapped module's call. */
type TensorForward = Module & { forward(x: Tensor): Tensor };

export abstract class BaseTunerLayer<S = unknown> extends Module implements TunerLayer {
  readonly isTunerLayer = true as const;
  abstract readonly methodName: string;
  /** When true, forward is the base layer alone (PeftModel's disabled-adapters scope); merged adapters are unmerged first, as in PEFT. */
  disabled = false;
  /** The adapter dict: settings by adapter name, in the order added. */
  private readonly adapters = new Map<string, S>();
  private active: string[] = [];
  private merged: string[] = [];
  private rows: string[] | null = null;

  protected constructor(baseLayer: Module) {
    super();
    this.registerModule("base_layer", baseLayer);
    this.training = baseLayer.training;
  }

  get baseLayer(): Module {
    return this.getSubmodule("base_layer");
  }

  getBaseLayer(): Module {
    return getBaseLayer(this);
  }

  // ---------------------------------------------------------------------------------------------------
  // What a method's layer supplies

  /** Creates adapter `name`'s weights (its settings are already recorded). */
  protected abstract createAdapter(name: string, settings: S): void;
  /** Removes and disposes adapter `name`'s weights. */
  protected abstract deleteAdapterWeights(name: string): void;
  /** What adapter `name` adds to `running` (the output so far) for input `x`. */
  protected abstract adapterDelta(running: Tensor, x: Tensor, name: string): Tensor;

  /** The wrapped module's forward. */
  protected baseForward(x: Tensor): Tensor {
    return (this.baseLayer as TensorForward).forward(x);
  }

  /** New base values with adapters `names` merged in (in order). Layers of methods that cannot merge keep this default. */
  protected mergePlan(names: readonly string[]): MergePlan {
    void names;
    throw new Error(`Adapters of method "${this.methodName}" cannot be merged into the base weights.`);
  }

  /** New base values with the merged adapter `name` taken back out (the last one merged). */
  protected unmergePlan(name: string): MergePlan {
    void name;
    throw new Error(`Adapters of method "${this.methodName}" cannot be unmerged.`);
  }

  // ---------------------------------------------------------------------------------------------------
  // The adapter dict

  adapterNames(): string[] {
    return [...this.adapters.keys()];
  }

  hasAdapter(name: string): boolean {
    return this.adapters.has(name);
  }

  /** Adapter `name`'s settings; throws naming the adapters held. */
  settingsOf(name: string): S {
    const s = this.adapters.get(name);
    if (s === undefined) throw new Error(`The ${this.methodName} layer has no adapter "${name}"; it holds: ${this.adapterNames().join(", ") || "(none)"}.`);
    return s;
  }

  /**
   * Adds (or replaces) adapter `name` (PEFT `update_layer`). A layer's first adapter becomes active; adding to a
   * layer that has adapters keeps the active set, like PEFT.
   */
  protected registerAdapter(name: string, settings: S): void {
    if (name === BASE_ADAPTER_NAME) throw new Error(`"${BASE_ADAPTER_NAME}" is reserved for "no adapter" in mixed batches; pick another adapter name.`);
    if (this.merged.includes(name)) throw new Error(`${this.methodName}: adapter "${name}" is merged; unmerge before replacing it.`);
    if (this.adapters.has(name)) {
      this.deleteAdapterWeights(name);
      this.adapters.delete(name);
    }
    this.adapters.set(name, settings);
    this.createAdapter(name, settings);
    if (this.active.length === 0) this.active = [name];
    // New modules follow the layer's train/eval mode.
    this.train(this.training);
  }

  /** Removes adapter `name` and disposes its weights (PEFT `BaseTunerLayer.delete_adapter`). Refused while merged. */
  deleteAdapter(name: string): void {
    if (!this.adapters.has(name)) return;
    if (this.merged.includes(name)) throw new Error(`${this.methodName}: adapter "${name}" is merged into the base weights; unmerge it before deleting it.`);
    this.deleteAdapterWeights(name);
    this.adapters.delete(name);
    if (this.active.includes(name)) {
      const rest = this.active.filter((n) => n !== name);
      // Like PEFT: when the last active adapter goes, the first remaining one becomes active.
      this.active = rest.length > 0 ? rest : this.adapterNames().slice(0, 1);
    }
  }

  // ---------------------------------------------------------------------------------------------------
  // Active / merged / mixed-batch state

  activeAdapters(): readonly string[] {
    return this.active;
  }

  /** Names this layer does not hold are kept (another layer may hold them) and skipped in forward, like PEFT. */
  setActiveAdapters(names: readonly string[]): void {
    this.active = [...names];
  }

  mergedAdapters(): readonly string[] {
    return this.merged;
  }

  setRowAdapters(names: readonly string[] | null): void {
    this.rows = names === null ? null : [...names];
  }

  // ---------------------------------------------------------------------------------------------------
  // Forward

  forward(x: Tensor): Tensor {
    if (this.disabled) {
      // PEFT unmerges when adapters are disabled, so that the output is the base model's.
      if (this.merged.length > 0) this.unmerge();
      return this.baseForward(x);
    }
    if (this.rows !== null) return this.mixedBatchForward(x, this.rows);
    return tf.tidy(() => {
      let result = this.baseForward(x);
      for (const name of this.active) {
        // Adapters this layer lacks are skipped; merged ones are already in the base weight.
        if (!this.adapters.has(name) || this.merged.includes(name)) continue;
        result = tf.add(result, this.adapterDelta(result, x, name));
      }
      return result;
    });
  }

  /**
   * Mixed batch (peft `_mixed_batch_forward`): row i uses adapter `rows[i]` (none for "__base__"). Each adapter's
   * delta is computed on the whole batch and kept on its rows by a 0/1 mask.
   */
  private mixedBatchForward(x: Tensor, rows: readonly string[]): Tensor {
    if (this.merged.length > 0) {
      throw new Error(`${this.methodName}: a mixed batch cannot run while adapters are merged (${this.merged.join(", ")}); unmerge first.`);
    }
    const batch = x.shape[0];
    if (rows.length !== batch) {
      throw new Error(`${this.methodName} mixed batch: ${rows.length} adapter names for a batch of ${batch} rows; pass one name per row ("${BASE_ADAPTER_NAME}" for none).`);
    }
    return tf.tidy(() => {
      const base = this.baseForward(x);
      let result = base;
      for (const name of new Set(rows)) {
        if (name === BASE_ADAPTER_NAME || !this.adapters.has(name)) continue;
        const mask = tf.tensor(
          rows.map((n) => (n === name ? 1 : 0)),
          [batch, ...Array<number>(base.rank - 1).fill(1)],
          "float32",
        );
        result = tf.add(result, tf.mul(this.adapterDelta(base, x, name), mask));
      }
      return result;
    });
  }

  // ---------------------------------------------------------------------------------------------------
  // Merge

  /**
   * Adds adapters into the base weights (PEFT `merge`). `safe`: the merged values are checked before anything
   * is assigned, and a non-finite one refuses the merge with nothing changed. Adapters already merged or not
   * held here are skipped. The check reads synchronously: where there are no sync reads (WebGPU in Node) it
   * throws `SyncReadError` naming `PeftModel.mergeAsync`.
   */
  merge(names: readonly string[], options: { safe: boolean } = { safe: false }): void {
    const todo = [...new Set(names)].filter((n) => this.adapters.has(n) && !this.merged.includes(n));
    if (todo.length === 0) return;
    const plan = this.mergePlan(todo);
    try {
      if (options.safe) {
        const bad = plan.values.find(([, t]) => t.dtype === "float32" && !allFiniteSync(t, MERGE_ASYNC));
        if (bad !== undefined) {
          throw new Error(`${this.methodName} safe merge found NaNs or Infs: merging adapter(s) ${todo.map((n) => `"${n}"`).join(", ")} gives non-finite weights; the adapter seems broken`);
        }
      }
    } catch (error) {
      plan.discard?.();
      disposePlan(plan);
      throw error;
    }
    for (const [v, t] of plan.values) v.assign(t);
    plan.commit?.();
    disposePlan(plan);
    this.merged.push(...todo);
  }

  /** Subtracts every merged adapter back out, last merged first (PEFT `unmerge`). */
  unmerge(): void {
    while (this.merged.length > 0) {
      const name = this.merged[this.merged.length - 1]!;
      const plan = this.unmergePlan(name);
      for (const [v, t] of plan.values) v.assign(t);
      plan.commit?.();
      disposePlan(plan);
      this.merged.pop();
    }
  }
}

function disposePlan(plan: MergePlan): void {
  for (const [v, t] of plan.values) if (t !== v && !t.isDisposed) t.dispose();
}

/** What PeftModel asks of a module a method put in place of a base layer (types only; core's `BaseTunerLayer` implements it). */
import type { Module } from "../nn/module.js";

/**
 * A module a method puts in place of (or around) a base layer. It holds every adapter of its method at
 * that path, keyed by adapter name (PEFT's `BaseTunerLayer`). Extend core's `BaseTunerLayer` rather than
 * implementing this by hand: it holds the bookkeeping, the mixed-batch forward and the safe merge.
 */
export interface TunerLayer extends Module {
  readonly isTunerLayer: true;
  /** The owning method's `name`. */
  readonly methodName: string;
  /** The wrapped module (frozen): a base layer, or another method's tuner layer (nested wrappers). */
  readonly baseLayer: Module;
  /** The innermost wrapped module that is not a tuner layer (PEFT `get_base_layer`). */
  getBaseLayer(): Module;
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
  /** Removes adapter `name` and disposes its weights; refused while it is merged. */
  deleteAdapter(name: string): void;
  /** Adapters currently merged into the base weights. */
  mergedAdapters(): readonly string[];
  /**
   * Adds adapters into the base weights. Only called for methods whose `canMerge` is true. `safe`: compute
   * into a copy and refuse (throw, nothing changed) non-finite results.
   */
  merge(names: readonly string[], options: { safe: boolean }): void;
  /** Subtracts every merged adapter back out. */
  unmerge(): void;
}

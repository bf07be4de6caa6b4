/**
 * Adding or loading an adapter is all-or-nothing: a snapshot of the tree and of every trainable flag is taken
 * first, and a failure (in the method's `inject`, in modules_to_save, in a load's key check) puts the model back
 * exactly: the injection's own `remove()` when `inject` returned, then the tree restored path by path and every
 * variable created since disposed.
 */
import type { Variable } from "../tf.js";
import type { Module } from "../nn/module.js";
import { isTunerLayer } from "../tuners/base-tuner-layer.js";
import { ModulesToSaveWrapper } from "./modules-to-save.js";

/** The tree's modules by path, and every variable with its trainable flag. */
export interface Snapshot {
  readonly modules: ReadonlyMap<string, Module>;
  readonly trainable: ReadonlyMap<Variable, boolean>;
}

export function takeSnapshot(root: Module): Snapshot {
  return {
    modules: new Map(root.namedModules()),
    trainable: new Map(root.parameters().map((v) => [v, v.trainable] as const)),
  };
}

/**
 * Puts `root` back as in `snap`: adapter `name` leaves the tuner layers and wrappers that were there before,
 * modules are put back where they were (shallowest first), and variables not in the snapshot are disposed.
 * Trainable flags are left to the caller (they are restored after the PeftModel re-applied its active set).
 */
export function restoreTree(root: Module, snap: Snapshot, name: string): void {
  const vars = new Set(root.parameters());
  for (const [path, m] of root.namedModules()) {
    if (snap.modules.get(path) !== m) continue;
    if (isTunerLayer(m) && m.adapterNames().includes(name)) m.deleteAdapter(name);
    if (m instanceof ModulesToSaveWrapper) m.deleteAdapter(name);
  }
  const byDepth = [...snap.modules].filter(([p]) => p !== "").sort(([a], [b]) => a.split(".").length - b.split(".").length);
  for (const [path, m] of byDepth) {
    let now: Module | undefined;
    try {
      now = root.getSubmodule(path);
    } catch {
      now = undefined;
    }
    if (now !== m) root.setSubmodule(path, m);
  }
  disposeUnreachable(vars, root, new Set(snap.trainable.keys()));
}

/** Disposes the variables of `candidates` no longer in `root`'s tree (and not in `keep`). */
export function disposeUnreachable(candidates: Iterable<Variable>, root: Module, keep: ReadonlySet<Variable> = new Set()): void {
  const reachable = new Set(root.stateDict().values());
  for (const v of candidates) if (!reachable.has(v) && !keep.has(v) && !v.isDisposed) v.dispose();
}

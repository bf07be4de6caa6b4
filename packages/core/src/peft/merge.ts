/**
 * Merging adapters into the base weights across a PeftModel's tuner layers (PEFT `merge_adapter`,
 * `unmerge_adapter`), with the all-or-nothing safe mode: a snapshot of every affected base weight is taken
 * first and restored bit for bit when any merged weight is non-finite. Each layer's own check (core's
 * `BaseTunerLayer.merge`) reads synchronously; `mergeLayersAsync` checks with async reads instead, for
 * backends without sync reads (WebGPU in Node).
 */
import { tf } from "../tf.js";
import type { Tensor, Variable } from "../tf.js";
import type { Module } from "../nn/module.js";
import type { TunerLayer } from "../contract/tuner-layer.js";
import { allFiniteAsync, SyncReadError } from "./finite.js";

/** One tuner layer and the adapters a merge adds to it. */
export interface MergeWork {
  readonly path: string;
  readonly layer: TunerLayer;
  readonly names: readonly string[];
}

interface MergeSnapshot {
  merged: string[];
  weights: Map<Variable, Tensor>;
}

/** The tuner layers a merge of `names` changes: those holding one of them not merged yet. */
export function mergeWork(layers: readonly [string, TunerLayer][], names: readonly string[]): MergeWork[] {
  return layers
    .map(([path, layer]) => ({ path, layer, names: names.filter((n) => layer.adapterNames().includes(n) && !layer.mergedAdapters().includes(n)) }))
    .filter((w) => w.names.length > 0);
}

/** Merges every layer's adapters; with `safe`, a refused merge anywhere leaves every weight as it was. */
export function mergeLayers(work: readonly MergeWork[], safe: boolean): void {
  const snapshots = safe ? mergeSnapshots(work) : [];
  let current = 0;
  try {
    for (; current < work.length; current++) work[current]!.layer.merge(work[current]!.names, { safe });
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
 * `mergeLayers(work, true)` without sync reads: every layer merges unchecked, then every merged base weight is
 * checked with async reads; a non-finite one anywhere restores every weight from the snapshot and throws.
 */
export async function mergeLayersAsync(work: readonly MergeWork[]): Promise<void> {
  const snapshots = mergeSnapshots(work);
  let current = 0;
  try {
    for (; current < work.length; current++) work[current]!.layer.merge(work[current]!.names, { safe: false });
    for (current = 0; current < work.length; current++) {
      const { path, layer } = work[current]!;
      const bad = await nonFiniteParameterAsync(layer.getBaseLayer());
      if (bad !== null) throw new Error(`merged weight "${path}.${bad}" has NaN or Inf values`);
    }
  } catch (error) {
    undoMerge(work, snapshots, work.length - 1);
    throw safeMergeRefused(work[current]?.path, error);
  } finally {
    disposeSnapshots(snapshots);
  }
}

/** Each layer's merged adapters and a copy of its base weights, to undo a refused safe merge bit for bit. */
function mergeSnapshots(work: readonly MergeWork[]): MergeSnapshot[] {
  return work.map(({ layer }) => ({ merged: [...layer.mergedAdapters()], weights: cloneParameters(layer.getBaseLayer()) }));
}

function disposeSnapshots(snapshots: readonly MergeSnapshot[]): void {
  for (const s of snapshots) for (const t of s.weights.values()) t.dispose();
}

function cloneParameters(m: Module): Map<Variable, Tensor> {
  return new Map(m.parameters().map((v) => [v, tf.clone(v)] as const));
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
      layer.unmerge();
      if (snap.merged.length > 0) layer.merge(snap.merged, { safe: false });
    }
    for (const [v, t] of snap.weights) v.assign(t);
  }
}

function safeMergeRefused(path: string | undefined, error: unknown): Error {
  return new Error(`Safe merge refused at "${path ?? "?"}": ${(error as Error).message}. No weight was changed; check the adapter for NaN/Inf values.`, { cause: error });
}

async function nonFiniteParameterAsync(m: Module): Promise<string | null> {
  for (const [path, v] of m.namedParameters()) {
    if (v.dtype === "float32" && !(await allFiniteAsync(v))) return path;
  }
  return null;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

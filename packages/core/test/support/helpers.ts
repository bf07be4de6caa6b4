/** TEST ONLY: shared helpers of the PeftModel tests. */
import { expect } from "vitest";
import { tf } from "../../src/index.js";
import type { Tensor } from "../../src/index.js";
import type { Module } from "../../src/index.js";
import type { PeftModel } from "../../src/index.js";
import { ScaleLayer } from "./scale-layer.js";
import { tinyForward64, tinyWeights64 } from "./tiny-model.js";
import type { Matrix, TinyModel } from "./tiny-model.js";

export const IDS: number[][] = [
  [1, 5, 9],
  [3, 0, 10],
  [2, 2, 7],
];

export function idsTensor(rows: number[][] = IDS): Tensor {
  return tf.tensor2d(rows, undefined, "int32");
}

/** Π (offset + v) per scaled path for the given adapters (the ones each layer holds). */
export function scalesOf(model: Module, adapters: readonly string[]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [path, m] of model.namedModules()) {
    if (!(m instanceof ScaleLayer)) continue;
    const held = adapters.filter((a) => m.adapterNames().includes(a));
    if (held.length === 0) continue;
    out[path] = held
      .map((a) => (m.vector(a).arraySync() as number[] | number[][]).flat().map((v) => m.style.offset + v))
      .reduce((acc, s) => acc.map((x, i) => x * s[i]!));
  }
  return out;
}

/** Float64 logits of every row of IDS with these adapters' scales (and an optional replaced head). */
export function reference(model: Module, adapters: readonly string[], head?: Matrix, rows: number[][] = IDS): Matrix[] {
  const w = tinyWeights64(model, 2);
  const scales = scalesOf(model, adapters);
  return rows.map((ids) => tinyForward64(w, ids, scales, head ?? w.head));
}

export function logitsOf(peft: PeftModel<TinyModel>, options: { adapterNames?: string[] } = {}, rows: number[][] = IDS): Matrix[] {
  const ids = idsTensor(rows);
  const out = peft.forward({ inputIds: ids }, options);
  const v = out.logits.arraySync() as Matrix[];
  out.logits.dispose();
  ids.dispose();
  return v;
}

export function expectClose(actual: number[][][], expected: number[][][], tol = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) =>
    a.forEach((row, t) =>
      row.forEach((v, k) => {
        const e = expected[i]![t]![k]!;
        if (!(Math.abs(v - e) <= tol * (1 + Math.abs(e)))) throw new Error(`value [${i}][${t}][${k}]: got ${v}, expected ${e} (tol ${tol})`);
      }),
    ),
  );
}

/** Every parameter's path, values and trainable flag, and the class at every module path. */
export function fingerprint(model: Module): { params: [string, number[], boolean][]; modules: [string, string][] } {
  return {
    params: model.namedParameters().map(([k, v]) => [k, Array.from(v.dataSync()), v.trainable]),
    modules: [...model.namedModules()].map(([k, m]) => [k, m.constructor.name]),
  };
}

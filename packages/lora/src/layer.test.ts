import { describe, it, expect, beforeEach } from "vitest";
import { tf, Linear, Conv1D, Embedding, SyncReadError, setSeed, withoutSyncReads } from "@peftjs/core";
import type { Tensor, Variable } from "@peftjs/core";
import { LoraLinear, LoraEmbedding, updatedRowNorm } from "./layer.js";
import type { LoraLayerSettings } from "./layer.js";
import {
  add,
  addRow,
  fromTensor,
  mat,
  matmul,
  pickRows,
  randomOrthonormal,
  randomTensor,
  relErr,
  rowNorms,
  scale,
  scaleCols,
  scaleRows,
  transpose,
  maxAbsDiff,
} from "../test/reference.js";
import type { Mat } from "../test/reference.js";

const IN = 6;
const OUT = 5;

function settings(over: Partial<LoraLayerSettings> = {}): LoraLayerSettings {
  return { r: 3, loraAlpha: 6, loraDropout: 0, useRslora: false, useDora: false, initLoraWeights: false, ...over };
}

/** A Linear / Conv1D base with seeded non-trivial weights and bias. */
function linearBase(kind: "linear" | "conv1d", seed = 1): Linear | Conv1D {
  const weight = randomTensor(kind === "linear" ? [OUT, IN] : [IN, OUT], seed, 0.5);
  const bias = randomTensor([OUT], seed + 1, 0.3);
  const layer = kind === "linear" ? new Linear(IN, OUT, { weight, bias_: bias }) : new Conv1D(IN, OUT, { weight, bias });
  tf.dispose([weight, bias]);
  return layer;
}

/** W in the [out, in] view, float64. */
function weightOutIn(base: Linear | Conv1D): Mat {
  const w = fromTensor(base.weight);
  return base.weightLayout === "out_in" ? w : transpose(w);
}

function vec(t: Tensor): Float64Array {
  return Float64Array.from(t.dataSync());
}

/** x [rows, in] → expected LoRA output, float64: x·Wᵀ + b + s·x·Aᵀ·Bᵀ. */
function loraReference(x: Mat, w: Mat, b: Float64Array | null, a: Mat, bMat: Mat, s: number): Mat {
  const base = matmul(x, transpose(w));
  const lora = scale(matmul(matmul(x, transpose(a)), transpose(bMat)), s);
  const y = add(base, lora);
  return b === null ? y : addRow(y, b);
}

/** DoRA, float64: y = x·(diag(m/‖W+sBA‖)·(W + sBA))ᵀ + b. */
function doraReference(x: Mat, w: Mat, b: Float64Array | null, a: Mat, bMat: Mat, s: number, m: Float64Array): Mat {
  const v = add(w, scale(matmul(bMat, a), s));
  const n = rowNorms(v);
  const factor = Float64Array.from(m, (mi, i) => mi / n[i]!);
  const y = matmul(x, transpose(scaleRows(v, factor)));
  return b === null ? y : addRow(y, b);
}

let startTensors = 0;
beforeEach(() => {
  setSeed(42);
  startTensors = tf.memory().numTensors;
});

describe("LoraLinear forward", () => {
  it.each(["linear", "conv1d"] as const)("matches x·Wᵀ + b + s·x·Aᵀ·Bᵀ in float64 (%s base)", (kind) => {
    const base = linearBase(kind);
    const layer = new LoraLinear(base);
    layer.updateLayer("default", settings());
    expect(layer.scaling("default")).toBe(2);
    expect(layer.loraA("default").shape).toEqual([3, IN]);
    expect(layer.loraB("default").shape).toEqual([OUT, 3]);
    const x = randomTensor([4, IN], 9);
    const y = layer.forward(x);
    const expected = loraReference(fromTensor(x), weightOutIn(base), vec(base.bias!), fromTensor(layer.loraA("default")), fromTensor(layer.loraB("default")), 2);
    expect(relErr(y.dataSync(), expected.data)).toBeLessThan(1e-6);
    tf.dispose([x, y]);
    layer.dispose();
  });

  it("keeps leading dimensions ([batch, seq, in] → [batch, seq, out])", () => {
    const layer = new LoraLinear(linearBase("linear"));
    layer.updateLayer("default", settings());
    const x = randomTensor([2, 3, IN], 4);
    const y = layer.forward(x);
    expect(y.shape).toEqual([2, 3, OUT]);
    const flat = layer.forward(tf.reshape(x, [6, IN]));
    expect(maxAbsDiff(y.dataSync(), flat.dataSync())).toBe(0);
    tf.dispose([x, y, flat]);
    layer.dispose();
  });

  it("uses α/√r for rsLoRA", () => {
    const base = linearBase("linear");
    const layer = new LoraLinear(base);
    layer.updateLayer("default", settings({ r: 4, loraAlpha: 8, useRslora: true }));
    expect(layer.scaling("default")).toBeCloseTo(8 / 2, 12);
    const x = randomTensor([3, IN], 5);
    const y = layer.forward(x);
    const expected = loraReference(fromTensor(x), weightOutIn(base), vec(base.bias!), fromTensor(layer.loraA("default")), fromTensor(layer.loraB("default")), 4);
    expect(relErr(y.dataSync(), expected.data)).toBeLessThan(1e-6);
    tf.dispose([x, y]);
    layer.dispose();
  });

  it("default init: A ~ U(−1/√in, 1/√in), B = 0, so the layer starts as the base layer", () => {
    const base = linearBase("linear");
    const layer = new LoraLinear(base);
    layer.updateLayer("default", settings({ r: 16, initLoraWeights: true }));
    const a = vec(layer.loraA("default"));
    const bound = 1 / Math.sqrt(IN);
    expect(Math.max(...a.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...a.map(Math.abs))).toBeGreaterThan(0.5 * bound);
    expect(Math.max(...vec(layer.loraB("default")).map(Math.abs))).toBe(0);
    const x = randomTensor([3, IN], 5);
    const y = layer.forward(x);
    const yBase = base.forward(x);
    expect(maxAbsDiff(y.dataSync(), yBase.dataSync())).toBe(0);
    tf.dispose([x, y, yBase]);
    layer.dispose();
  });

  it("init is reproducible under setSeed", () => {
    const init = (): Float32Array => {
      setSeed(5);
      const layer = new LoraLinear(linearBase("linear"));
      layer.updateLayer("default", settings());
      const v = Float32Array.from([...layer.loraA("default").dataSync(), ...layer.loraB("default").dataSync()]);
      layer.dispose();
      return v;
    };
    expect(maxAbsDiff(init(), init())).toBe(0);
  });

  it("gaussian init: A ~ N(0, (1/r)²), B = 0", () => {
    const layer = new LoraLinear(new Linear(400, 4));
    layer.updateLayer("default", settings({ r: 4, initLoraWeights: "gaussian" }));
    const a = vec(layer.loraA("default"));
    const mean = a.reduce((s, v) => s + v, 0) / a.length;
    const std = Math.sqrt(a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length);
    expect(std).toBeGreaterThan(0.25 * 0.9);
    expect(std).toBeLessThan(0.25 * 1.1);
    expect(Math.max(...vec(layer.loraB("default")).map(Math.abs))).toBe(0);
    layer.dispose();
  });

  it("adds several active adapters; `disabled` gives the base layer alone", () => {
    const base = linearBase("linear");
    const layer = new LoraLinear(base);
    layer.updateLayer("one", settings());
    layer.updateLayer("two", settings({ r: 2, loraAlpha: 1 }));
    expect(layer.activeAdapters()).toEqual(["one"]);
    layer.setActiveAdapters(["one", "two", "not-here"]);
    const x = randomTensor([3, IN], 5);
    const y = layer.forward(x);
    const w = weightOutIn(base);
    const one = loraReference(fromTensor(x), w, vec(base.bias!), fromTensor(layer.loraA("one")), fromTensor(layer.loraB("one")), 2);
    const twoDelta = scale(matmul(matmul(fromTensor(x), transpose(fromTensor(layer.loraA("two")))), transpose(fromTensor(layer.loraB("two")))), 0.5);
    expect(relErr(y.dataSync(), add(one, twoDelta).data)).toBeLessThan(1e-6);
    layer.disabled = true;
    const yd = layer.forward(x);
    const yb = base.forward(x);
    expect(maxAbsDiff(yd.dataSync(), yb.dataSync())).toBe(0);
    tf.dispose([x, y, yd, yb]);
    layer.dispose();
  });

  it("mixed batch: each row uses its own adapter, __base__ none", () => {
    const base = linearBase("conv1d");
    const layer = new LoraLinear(base);
    layer.updateLayer("one", settings());
    layer.updateLayer("two", settings({ r: 2, loraAlpha: 1, useDora: true }));
    tf.tidy(() => layer.magnitude("two").assign(tf.mul(layer.magnitude("two"), 1.5)));
    const x = randomTensor([3, 2, IN], 5);
    layer.setRowAdapters(["two", "__base__", "one"]);
    const y = layer.forward(x);
    layer.setRowAdapters(null);
    const rows = [0, 1, 2].map((i) => tf.slice(y, [i, 0, 0], [1, 2, OUT]));
    const x2 = fromTensor(tf.reshape(x, [6, IN]));
    const xs = [0, 1, 2].map((i) => mat(2, IN, x2.data.subarray(2 * i * IN, 2 * (i + 1) * IN)));
    const w = weightOutIn(base);
    const b = vec(base.bias!);
    const m2 = vec(layer.magnitude("two"));
    const e0 = doraReference(xs[0]!, w, b, fromTensor(layer.loraA("two")), fromTensor(layer.loraB("two")), 0.5, m2);
    const e1 = addRow(matmul(xs[1]!, transpose(w)), b);
    const e2 = loraReference(xs[2]!, w, b, fromTensor(layer.loraA("one")), fromTensor(layer.loraB("one")), 2);
    expect(relErr(rows[0]!.dataSync(), e0.data)).toBeLessThan(1e-6);
    expect(relErr(rows[1]!.dataSync(), e1.data)).toBeLessThan(1e-6);
    expect(relErr(rows[2]!.dataSync(), e2.data)).toBeLessThan(1e-6);
    layer.setRowAdapters(["one"]);
    expect(() => layer.forward(x)).toThrow(/1 adapter names for a batch of 3 rows/);
    layer.setRowAdapters(null);
    tf.dispose([x, y, ...rows]);
    layer.dispose();
  });
});

describe("DoRA", () => {
  it("updatedRowNorm equals ‖W + s·BA‖ per output row computed directly in float64", () => {
    for (const layout of ["out_in", "in_out"] as const) {
      const w = randomTensor(layout === "out_in" ? [OUT, IN] : [IN, OUT], 3, 0.7);
      const a = randomTensor([3, IN], 4, 0.5);
      const b = randomTensor([OUT, 3], 5, 0.5);
      const norm = updatedRowNorm(w, layout, a, b, 1.7);
      const wOutIn = layout === "out_in" ? fromTensor(w) : transpose(fromTensor(w));
      const expected = rowNorms(add(wOutIn, scale(matmul(fromTensor(b), fromTensor(a)), 1.7)));
      expect(relErr(norm.dataSync(), expected)).toBeLessThan(1e-6);
      tf.dispose([w, a, b, norm]);
    }
  });

  it.each(["linear", "conv1d"] as const)("magnitude starts at ‖W + s·BA‖; forward = x·(diag(m/‖W+sBA‖)(W+sBA))ᵀ + b (%s)", (kind) => {
    const base = linearBase(kind);
    const layer = new LoraLinear(base);
    layer.updateLayer("default", settings({ useDora: true }));
    const w = weightOutIn(base);
    const a = fromTensor(layer.loraA("default"));
    const b = fromTensor(layer.loraB("default"));
    expect(relErr(vec(layer.magnitude("default")), rowNorms(add(w, scale(matmul(b, a), 2))))).toBeLessThan(1e-6);
    // A trained magnitude: the direction and the length now differ.
    tf.tidy(() => layer.magnitude("default").assign(tf.mul(layer.magnitude("default"), tf.linspace(0.5, 1.5, OUT))));
    const x = randomTensor([4, IN], 6);
    const y = layer.forward(x);
    const expected = doraReference(fromTensor(x), w, vec(base.bias!), a, b, 2, vec(layer.magnitude("default")));
    expect(relErr(y.dataSync(), expected.data)).toBeLessThan(1e-6);
    tf.dispose([x, y]);
    layer.dispose();
  });

  it("a Linear without bias works too", () => {
    const base = new Linear(IN, OUT, { bias: false, weight: randomTensor([OUT, IN], 2) });
    const layer = new LoraLinear(base);
    layer.updateLayer("default", settings({ useDora: true }));
    tf.tidy(() => layer.magnitude("default").assign(tf.mul(layer.magnitude("default"), 1.3)));
    const x = randomTensor([2, IN], 6);
    const y = layer.forward(x);
    const expected = doraReference(fromTensor(x), weightOutIn(base), null, fromTensor(layer.loraA("default")), fromTensor(layer.loraB("default")), 2, vec(layer.magnitude("default")));
    expect(relErr(y.dataSync(), expected.data)).toBeLessThan(1e-6);
    tf.dispose([x, y]);
    layer.dispose();
  });
});

describe("LoraEmbedding", () => {
  const V = 11;
  const D = 4;
  const ids = [[3, 0, 10], [7, 3, 1]];

  function embeddingBase(): Embedding {
    return new Embedding(V, D, { weight: randomTensor([V, D], 8) });
  }

  it("shapes and init follow PEFT: A [r, vocab] zeros, B [dim, r] normal", () => {
    const layer = new LoraEmbedding(embeddingBase());
    layer.updateLayer("default", settings({ initLoraWeights: true }));
    expect(layer.loraA("default").shape).toEqual([3, V]);
    expect(layer.loraB("default").shape).toEqual([D, 3]);
    expect(Math.max(...vec(layer.loraA("default")).map(Math.abs))).toBe(0);
    expect(Math.max(...vec(layer.loraB("default")).map(Math.abs))).toBeGreaterThan(0);
    layer.dispose();
  });

  it("forward = W[ids] + s·Aᵀ[ids]·Bᵀ", () => {
    const base = embeddingBase();
    const layer = new LoraEmbedding(base);
    layer.updateLayer("default", settings());
    const x = tf.tensor2d(ids, [2, 3], "int32");
    const y = layer.forward(x);
    expect(y.shape).toEqual([2, 3, D]);
    const flat = ids.flat();
    const a = fromTensor(layer.loraA("default"));
    const b = fromTensor(layer.loraB("default"));
    const expected = add(pickRows(fromTensor(base.weight), flat), scale(matmul(pickRows(transpose(a), flat), transpose(b)), 2));
    expect(relErr(y.dataSync(), expected.data)).toBeLessThan(1e-6);
    tf.dispose([x, y]);
    layer.dispose();
  });

  it("mixed batch: row 0 uses the adapter, row 1 the base embedding", () => {
    const base = embeddingBase();
    const layer = new LoraEmbedding(base);
    layer.updateLayer("default", settings());
    const x = tf.tensor2d(ids, [2, 3], "int32");
    layer.setRowAdapters(["default", "__base__"]);
    const y = layer.forward(x);
    layer.setRowAdapters(null);
    const a = fromTensor(layer.loraA("default"));
    const b = fromTensor(layer.loraB("default"));
    const w = fromTensor(base.weight);
    const row0 = add(pickRows(w, ids[0]!), scale(matmul(pickRows(transpose(a), ids[0]!), transpose(b)), 2));
    const row1 = pickRows(w, ids[1]!);
    expect(relErr(y.dataSync(), [...row0.data, ...row1.data])).toBeLessThan(1e-6);
    tf.dispose([x, y]);
    layer.dispose();
  });

  it("DoRA: forward = (W + s(BA)ᵀ)[ids]·diag(m/‖column‖)", () => {
    const base = embeddingBase();
    const layer = new LoraEmbedding(base);
    layer.updateLayer("default", settings({ useDora: true }));
    const a = fromTensor(layer.loraA("default"));
    const b = fromTensor(layer.loraB("default"));
    const v = add(fromTensor(base.weight), scale(transpose(matmul(b, a)), 2)); // [V, D]
    const colNorms = rowNorms(transpose(v));
    expect(relErr(vec(layer.magnitude("default")), colNorms)).toBeLessThan(1e-6);
    tf.tidy(() => layer.magnitude("default").assign(tf.mul(layer.magnitude("default"), tf.linspace(0.7, 1.4, D))));
    const m = vec(layer.magnitude("default"));
    const x = tf.tensor2d(ids, [2, 3], "int32");
    const y = layer.forward(x);
    const expected = scaleCols(pickRows(v, ids.flat()), Float64Array.from(m, (mi, j) => mi / colNorms[j]!));
    expect(relErr(y.dataSync(), expected.data)).toBeLessThan(1e-6);
    tf.dispose([x, y]);
    layer.dispose();
  });
});

describe("merge / unmerge", () => {
  type Case = { name: string; make: () => LoraLinear | LoraEmbedding; input: () => Tensor; dora: boolean };
  const cases: Case[] = [
    { name: "Linear", make: () => new LoraLinear(linearBase("linear")), input: () => randomTensor([3, IN], 7), dora: false },
    { name: "Conv1D", make: () => new LoraLinear(linearBase("conv1d")), input: () => randomTensor([3, IN], 7), dora: false },
    { name: "Linear + DoRA", make: () => new LoraLinear(linearBase("linear")), input: () => randomTensor([3, IN], 7), dora: true },
    { name: "Conv1D + DoRA", make: () => new LoraLinear(linearBase("conv1d")), input: () => randomTensor([3, IN], 7), dora: true },
    { name: "Embedding", make: () => new LoraEmbedding(new Embedding(9, 4, { weight: randomTensor([9, 4], 3) })), input: () => tf.tensor2d([[1, 8, 0], [4, 4, 2]], [2, 3], "int32"), dora: false },
    { name: "Embedding + DoRA", make: () => new LoraEmbedding(new Embedding(9, 4, { weight: randomTensor([9, 4], 3) })), input: () => tf.tensor2d([[1, 8, 0], [4, 4, 2]], [2, 3], "int32"), dora: true },
  ];

  it.each(cases)("$name: merged output equals unmerged output; unmerge restores the weights", ({ make, input, dora }) => {
    const layer = make();
    layer.updateLayer("a", settings({ useDora: dora }));
    layer.updateLayer("b", settings({ r: 2, loraAlpha: 3 }));
    if (dora) tf.tidy(() => layer.magnitude("a").assign(tf.mul(layer.magnitude("a"), 1.25)));
    layer.setActiveAdapters(["a", "b"]);
    const weight = layer.baseLayer.getParameter("weight")!;
    const original = vec(weight);
    const x = input();
    const unmerged = layer.forward(x);
    layer.merge(["a", "b"], { safe: false });
    expect(layer.mergedAdapters()).toEqual(["a", "b"]);
    expect(maxAbsDiff(vec(weight), original)).toBeGreaterThan(1e-3);
    const mergedWeight = vec(weight);
    const merged = layer.forward(x);
    const merged2 = layer.baseLayer instanceof Embedding ? layer.baseLayer.forward(x) : (layer.baseLayer as Linear).forward(x);
    // With every active adapter merged, forward is the base layer on the merged weight.
    expect(maxAbsDiff(merged.dataSync(), merged2.dataSync())).toBe(0);
    expect(relErr(merged.dataSync(), unmerged.dataSync())).toBeLessThan(2e-6);
    layer.unmerge();
    expect(layer.mergedAdapters()).toEqual([]);
    const scaleW = Math.max(...original.map(Math.abs), ...mergedWeight.map(Math.abs));
    // Float32 rounding of W + Δ − Δ: a few ulps of the larger of |W|, |W + Δ|; DoRA divides by m/‖W+Δ‖ first.
    expect(maxAbsDiff(vec(weight), original) / scaleW).toBeLessThan(dora ? 2e-6 : 3e-7);
    const again = layer.forward(x);
    expect(relErr(again.dataSync(), unmerged.dataSync())).toBeLessThan(2e-6);
    tf.dispose([x, unmerged, merged, merged2, again]);
    layer.dispose();
  });

  it("merge adds exactly s·BA (transposed for Conv1D) to the weight", () => {
    for (const kind of ["linear", "conv1d"] as const) {
      const base = linearBase(kind);
      const layer = new LoraLinear(base);
      layer.updateLayer("default", settings());
      const before = weightOutIn(base);
      const delta = scale(matmul(fromTensor(layer.loraB("default")), fromTensor(layer.loraA("default"))), 2);
      layer.merge(["default"], { safe: true });
      expect(relErr(weightOutIn(base).data, add(before, delta).data)).toBeLessThan(3e-7);
      layer.dispose();
    }
  });

  it("a merged adapter is not added again, and merging it twice is a no-op", () => {
    const layer = new LoraLinear(linearBase("linear"));
    layer.updateLayer("default", settings());
    const x = randomTensor([2, IN], 1);
    const before = layer.forward(x);
    layer.merge(["default"], { safe: false });
    layer.merge(["default"], { safe: false });
    const after = layer.forward(x);
    expect(relErr(after.dataSync(), before.dataSync())).toBeLessThan(2e-6);
    tf.dispose([x, before, after]);
    layer.dispose();
  });

  it("safe merge refuses non-finite results and changes nothing", () => {
    const layer = new LoraLinear(linearBase("linear"));
    layer.updateLayer("good", settings());
    layer.updateLayer("bad", settings());
    tf.tidy(() => layer.loraB("bad").assign(tf.fill([OUT, 3], Number.NaN)));
    const weight = layer.baseLayer.weight;
    const original = vec(weight);
    expect(() => layer.merge(["good", "bad"], { safe: true })).toThrow(/"good", "bad" gives non-finite weights/);
    expect(maxAbsDiff(vec(weight), original)).toBe(0);
    expect(layer.mergedAdapters()).toEqual([]);
    layer.dispose();
  });

  it("safe merge on a backend without sync reads (WebGPU in Node) says to use mergeAsync and changes nothing", async () => {
    const layer = await withoutSyncReads(() => {
      const l = new LoraLinear(linearBase("linear"));
      l.updateLayer("default", settings());
      return l;
    });
    const original = vec(layer.baseLayer.weight);
    const error = await withoutSyncReads(() => {
      try {
        layer.merge(["default"], { safe: true });
      } catch (e) {
        return e;
      }
      return undefined;
    });
    expect(error).toBeInstanceOf(SyncReadError);
    expect((error as Error).message).toMatch(/mergeAsync\(\{ safe: true \}\)/);
    expect(maxAbsDiff(vec(layer.baseLayer.weight), original)).toBe(0);
    expect(layer.mergedAdapters()).toEqual([]);
    layer.dispose();
  });

  it("disabling adapters while merged unmerges (the output is the base layer's), like PEFT", () => {
    const base = linearBase("linear");
    const original = vec(base.weight);
    const layer = new LoraLinear(base);
    layer.updateLayer("default", settings());
    layer.merge(["default"], { safe: false });
    layer.disabled = true;
    const x = randomTensor([2, IN], 1);
    const y = layer.forward(x);
    expect(layer.mergedAdapters()).toEqual([]);
    expect(maxAbsDiff(vec(base.weight), original)).toBeLessThan(1e-6);
    tf.dispose([x, y]);
    layer.dispose();
  });
});

describe("PiSSA init", () => {
  it.each(["linear", "conv1d"] as const)("s·BA is the top-r SVD part of W and W ← W − s·BA (%s)", (kind) => {
    // W [out, in] = U diag(σ) Vᵀ with known factors: the best rank-2 part is U₂ diag(σ₂) V₂ᵀ.
    const sigma = [3, 2, 1, 0.5, 0.25];
    const u = randomOrthonormal(OUT, 5, 21);
    const v = randomOrthonormal(IN, 5, 22);
    const w = matmul(scaleCols(u, sigma), transpose(v));
    const wTensor = tf.tensor2d(Float32Array.from(kind === "linear" ? w.data : transpose(w).data), kind === "linear" ? [OUT, IN] : [IN, OUT]);
    const base = kind === "linear" ? new Linear(IN, OUT, { weight: wTensor }) : new Conv1D(IN, OUT, { weight: wTensor });
    const original = weightOutIn(base);
    const layer = new LoraLinear(base);
    layer.updateLayer("default", settings({ r: 2, loraAlpha: 4, initLoraWeights: "pissa" }));
    const s = layer.scaling("default");
    const pick = (q: Mat) => mat(q.rows, 2, Array.from({ length: q.rows * 2 }, (_, i) => q.data[Math.floor(i / 2) * q.cols + (i % 2)]!));
    const topPart = matmul(scaleCols(pick(u), sigma.slice(0, 2)), transpose(pick(v)));
    const delta = scale(matmul(fromTensor(layer.loraB("default")), fromTensor(layer.loraA("default"))), s);
    expect(maxAbsDiff(delta.data, topPart.data)).toBeLessThan(1e-5);
    const residual = weightOutIn(base);
    expect(maxAbsDiff(add(residual, delta).data, original.data)).toBeLessThan(1e-5);
    // The adapted layer still computes the original function.
    const x = randomTensor([3, IN], 2);
    const y = layer.forward(x);
    const expected = addRow(matmul(fromTensor(x), transpose(original)), vec(base.bias!));
    expect(relErr(y.dataSync(), expected.data)).toBeLessThan(1e-5);
    tf.dispose([wTensor, x, y]);
    layer.dispose();
  });

  it('"pissa_niter_<n>" (randomized subspace iteration) gives the same split for a well-separated spectrum', () => {
    // 40×30 with r = 2: the 12-column sketch is smaller than the matrix, so the randomized path runs.
    const [out, inF] = [40, 30];
    const sigma = [3, 2, ...Array.from({ length: 28 }, (_, i) => 0.2 * 0.8 ** i)];
    const w = matmul(scaleCols(randomOrthonormal(out, 30, 31), sigma), transpose(randomOrthonormal(inF, 30, 32)));
    const make = (init: "pissa" | "pissa_niter_6"): Float32Array => {
      const t = tf.tensor2d(Float32Array.from(w.data), [out, inF]);
      const layer = new LoraLinear(new Linear(inF, out, { weight: t }));
      t.dispose();
      layer.updateLayer("default", settings({ r: 2, initLoraWeights: init }));
      const residual = Float32Array.from(layer.baseLayer.weight.dataSync());
      layer.dispose();
      return residual;
    };
    expect(maxAbsDiff(make("pissa_niter_6"), make("pissa"))).toBeLessThan(1e-6);
  });

  it("on a backend without sync reads it says to add the adapter on cpu/wasm", async () => {
    const message = await withoutSyncReads(() => {
      const layer = new LoraLinear(linearBase("linear"));
      try {
        layer.updateLayer("default", settings({ r: 2, initLoraWeights: "pissa" }));
        return "no error";
      } catch (e) {
        return (e as Error).message;
      } finally {
        layer.dispose();
      }
    });
    expect(message).toMatch(/PiSSA init \("pissa"\) reads the base weight synchronously.*cpu or wasm backend/);
  });

  it("refuses r above min(in, out)", () => {
    const layer = new LoraLinear(linearBase("linear"));
    expect(() => layer.updateLayer("default", settings({ r: 6, initLoraWeights: "pissa" }))).toThrow(/r ≤ min\(in, out\) = 5/);
    layer.dispose();
  });
});

describe("gradients", () => {
  it("the frozen base gets no gradient; A, B and m get the float64 gradients of DoRA with a detached norm", () => {
    const base = linearBase("linear");
    base.requiresGrad(false);
    const layer = new LoraLinear(base);
    layer.updateLayer("default", settings({ useDora: true }));
    tf.tidy(() => layer.magnitude("default").assign(tf.mul(layer.magnitude("default"), 1.2)));
    const x = randomTensor([4, IN], 3);
    const g = randomTensor([4, OUT], 4);
    const { value, grads } = tf.variableGrads(() => tf.sum<tf.Scalar>(tf.mul(layer.forward(x), g)));
    const names = Object.keys(grads).sort();
    const a = layer.loraA("default");
    const b = layer.loraB("default");
    const m = layer.magnitude("default");
    expect(names).toEqual([a.name, b.name, m.name].sort());
    expect(grads[base.weight.name]).toBeUndefined();
    expect(grads[base.bias!.name]).toBeUndefined();

    // y_to = b_o + (m_o/n_o)·Σ_i x_ti (W + sBA)_oi with n held constant (DoRA §4.3).
    const X = fromTensor(x);
    const G = fromTensor(g);
    const A = fromTensor(a);
    const B = fromTensor(b);
    const W = weightOutIn(base);
    const V = add(W, scale(matmul(B, A), 2));
    const n = rowNorms(V);
    const mv = vec(m);
    const f = Float64Array.from(mv, (mi, o) => mi / n[o]!);
    const gtx = matmul(transpose(G), X); // [out, in]
    const dB = scale(matmul(scaleRows(gtx, f), transpose(A)), 2);
    const dA = scale(matmul(transpose(B), scaleRows(gtx, f)), 2);
    const dm = Float64Array.from({ length: OUT }, (_, o) => {
      let acc = 0;
      for (let i = 0; i < IN; i++) acc += gtx.data[o * IN + i]! * V.data[o * IN + i]!;
      return acc / n[o]!;
    });
    expect(relErr(grads[b.name]!.dataSync(), dB.data)).toBeLessThan(1e-5);
    expect(relErr(grads[a.name]!.dataSync(), dA.data)).toBeLessThan(1e-5);
    expect(relErr(grads[m.name]!.dataSync(), dm)).toBeLessThan(1e-5);
    tf.dispose([x, g, value, ...Object.values(grads)]);
    layer.dispose();
  });

  it("training changes only LoRA parameters and tf.memory().numTensors stays flat over 100 steps", () => {
    const base = linearBase("conv1d");
    base.requiresGrad(false);
    const emb = new Embedding(7, IN, { weight: randomTensor([7, IN], 12) });
    emb.requiresGrad(false);
    const layer = new LoraLinear(base);
    layer.updateLayer("default", settings({ useDora: true, loraDropout: 0.1, initLoraWeights: true }));
    const embLayer = new LoraEmbedding(emb);
    embLayer.updateLayer("default", settings({ initLoraWeights: true }));
    layer.train();
    embLayer.train();
    const trainable = [...layer.trainableParameters(), ...embLayer.trainableParameters()];
    expect(trainable.map((v) => v.shape)).toEqual([[OUT], [3, IN], [OUT, 3], [3, 7], [IN, 3]]);
    const frozen: [Variable, Float32Array][] = [base.weight, base.bias!, emb.weight].map((v) => [v, Float32Array.from(v.dataSync())]);
    const initial = trainable.map((v) => Float32Array.from(v.dataSync()));
    const ids = tf.tensor2d([[1, 2, 3], [4, 5, 6]], [2, 3], "int32");
    const target = randomTensor([2, 3, OUT], 13);
    const optimizer = tf.train.adam(0.01);
    const step = () => {
      const loss = optimizer.minimize(() => tf.mean<tf.Scalar>(tf.square(tf.sub(layer.forward(embLayer.forward(ids)), target))), true, trainable);
      const value = loss!.dataSync()[0]!;
      loss!.dispose();
      return value;
    };
    const first = step();
    const afterFirst = tf.memory().numTensors;
    let last = first;
    for (let i = 1; i < 100; i++) last = step();
    expect(tf.memory().numTensors).toBe(afterFirst);
    expect(last).toBeLessThan(first);
    for (const [v, before] of frozen) expect(maxAbsDiff(v.dataSync(), before)).toBe(0);
    trainable.forEach((v, i) => expect(maxAbsDiff(v.dataSync(), initial[i]!)).toBeGreaterThan(0));
    optimizer.dispose();
    tf.dispose([ids, target]);
    layer.dispose();
    embLayer.dispose();
  });
});

describe("adapters", () => {
  it("deleteAdapter disposes its weights and activates a remaining adapter", () => {
    const layer = new LoraLinear(linearBase("linear"));
    layer.updateLayer("one", settings());
    layer.updateLayer("two", settings({ useDora: true }));
    const before = tf.memory().numTensors;
    layer.deleteAdapter("one");
    expect(tf.memory().numTensors).toBe(before - 2);
    expect(layer.adapterNames()).toEqual(["two"]);
    expect(layer.activeAdapters()).toEqual(["two"]);
    expect(layer.namedParameters().map(([p]) => p)).toEqual(["base_layer.weight", "base_layer.bias", "lora_magnitude_vector.two", "lora_A.two.weight", "lora_B.two.weight"]);
    layer.merge(["two"], { safe: false });
    expect(() => layer.deleteAdapter("two")).toThrow(/unmerge it before deleting/);
    layer.dispose();
  });

  it("does not leak tensors in forward, merge and unmerge", () => {
    const layer = new LoraLinear(linearBase("linear"));
    layer.updateLayer("default", settings({ useDora: true }));
    const x = randomTensor([2, IN], 1);
    const start = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      layer.forward(x).dispose();
      layer.merge(["default"], { safe: true });
      layer.forward(x).dispose();
      layer.unmerge();
    }
    expect(tf.memory().numTensors).toBe(start);
    x.dispose();
    layer.dispose();
    expect(tf.memory().numTensors).toBe(startTensors);
  });
});

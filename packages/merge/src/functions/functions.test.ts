import { describe, expect, it } from "vitest";
import { tf } from "@peftjs/core";
import type { Tensor } from "@peftjs/core";
import * as ref from "../../test/reference64.js";
import {
  dareLinear,
  dareTies,
  dellaMagprune,
  generalizedTaskArithmetic,
  karcherMean,
  magnitudeOutliers,
  magnitudePrune,
  magnitudePruneMerge,
  majoritySignMask,
  modelStock,
  nuslerp,
  randomPrune,
  sce,
  slerp,
  taskArithmetic,
  ties,
} from "../index.js";

const t = (v: ArrayLike<number>, shape?: number[]): Tensor => tf.tensor(Array.from(v), shape ?? [v.length]);
const values = (x: Tensor): Float32Array => {
  const d = x.dataSync() as Float32Array;
  x.dispose();
  return d;
};
/** Three task vectors of 6×8 with distinct magnitudes (so magnitude ranks are unambiguous). */
const xs = [ref.randn(48, 1), ref.randn(48, 2), ref.randn(48, 3)];
const ws = [0.7, -0.4, 1.3];

function noLeak<T>(fn: () => T): T {
  const before = tf.memory().numTensors;
  const out = fn();
  expect(tf.memory().numTensors).toBe(before);
  return out;
}

function run(fn: (ts: Tensor[]) => Tensor, inputs: Float64Array[] = xs, shape = [6, 8]): Float32Array {
  const ts = inputs.map((x) => t(x, shape));
  const before = tf.memory().numTensors;
  const out = fn(ts);
  // one new tensor (the result), nothing else left behind
  expect(tf.memory().numTensors).toBe(before + 1);
  expect(out.shape).toEqual(shape);
  ts.forEach((x) => x.dispose());
  return values(out);
}

describe("task arithmetic and magnitude prune (float64 reference)", () => {
  it("task arithmetic is Σ wᵢτᵢ", () => {
    expect(ref.maxRelError(run((ts) => taskArithmetic(ts, ws)), ref.taskArithmetic(xs, ws))).toBeLessThan(1e-6);
  });
  it("magnitude prune keeps the ⌊d·n⌋ largest |τ|", () => {
    for (const d of [0, 0.1, 0.5, 0.99, 1]) {
      const got = run(([a]) => magnitudePrune(a!, d), [xs[0]!]);
      expect(ref.maxRelError(got, ref.magnitudePrune(xs[0]!, d))).toBeLessThan(1e-7);
      expect(got.filter((v) => v !== 0).length).toBe(d >= 1 ? 48 : Math.floor(d * 48));
    }
  });
  it("PEFT magnitude_prune merge", () => {
    const expected = ref.taskArithmetic(xs.map((x) => ref.magnitudePrune(x, 0.3)), ws);
    expect(ref.maxRelError(run((ts) => magnitudePruneMerge(ts, ws, 0.3)), expected)).toBeLessThan(1e-6);
  });
  it("refuses mismatched shapes, weights and bad densities with messages naming them", () => {
    const a = t([1, 2]);
    const b = t([1, 2, 3]);
    expect(() => taskArithmetic([a, b], [1, 1])).toThrow(/tensor 1 has shape \[3\]/);
    expect(() => taskArithmetic([a], [1, 2])).toThrow(/1 tensors but 2 weights/);
    expect(() => magnitudePrune(a, -0.1)).toThrow(/density must be a number ≥ 0/);
    expect(() => taskArithmetic([a], [Number.NaN])).toThrow(/finite/);
    a.dispose();
    b.dispose();
  });
});

describe("TIES", () => {
  for (const method of ["total", "frequency"] as const) {
    for (const d of [1, 0.5, 0.2]) {
      it(`PEFT variant (${method}, density ${d}): unweighted election, count divisor`, () => {
        const got = run((ts) => ties(ts, ws, { density: d, majoritySignMethod: method }));
        expect(ref.maxRelError(got, ref.tiesPeft(xs, ws, d, method))).toBeLessThan(1e-6);
      });
      it(`mergekit variant (${method}, density ${d}): weighted election, weight-sum divisor`, () => {
        const got = run((ts) => ties(ts, ws, { density: d, majoritySignMethod: method, variant: "mergekit" }));
        expect(ref.maxRelError(got, ref.tiesMergekit(xs, ws, [d, d, d], method))).toBeLessThan(1e-6);
      });
    }
  }
  it("the two variants differ where weights flip the election", () => {
    // entry: values +1, +1, −3 with weights 1, 1, 0.1. Unweighted total −1 → elect −; weighted 1.7 → elect +.
    const inputs = [ref.vec([1]), ref.vec([1]), ref.vec([-3])];
    const w = [1, 1, 0.1];
    const peft = run((ts) => ties(ts, w, { density: 1 }), inputs, [1]);
    const mk = run((ts) => ties(ts, w, { density: 1, variant: "mergekit" }), inputs, [1]);
    expect(peft[0]).toBeCloseTo(-0.3, 6); // only the third agrees: (0.1·−3)/1
    expect(mk[0]).toBeCloseTo(1, 6); // the first two agree: (1 + 1)/(1 + 1)
  });
  it("sign ties elect +: entries whose sum is exactly 0 keep the positive ones", () => {
    // +2 and −2 sum to 0 → elect +, only +2 agrees; frequency: one + one − → 0 → +.
    const inputs = [ref.vec([2, 0, 1]), ref.vec([-2, 0, -1])];
    for (const method of ["total", "frequency"] as const) {
      const got = run((ts) => ties(ts, [1, 1], { density: 1, majoritySignMethod: method }), inputs, [3]);
      expect(Array.from(got)).toEqual(Array.from(ref.tiesPeft(inputs, [1, 1], 1, method)));
      expect(Array.from(got)).toEqual([2, 0, 1]);
    }
    const mask = majoritySignMask(tf.tensor2d([[2, 0], [-2, 0]]));
    expect(Array.from(values(mask))).toEqual([1, 0, 0, 0]); // zeros never agree
  });
  it("all-zero inputs give zeros (no 0/0)", () => {
    const zeros = [new Float64Array(5), new Float64Array(5)];
    for (const variant of ["peft", "mergekit"] as const) {
      expect(Array.from(run((ts) => ties(ts, [1, 2], { density: 0.5, variant }), zeros, [5]))).toEqual([0, 0, 0, 0, 0]);
    }
    expect(Array.from(run((ts) => dareTies(ts, [1, 2], { density: 0.5, seed: 1 }), zeros, [5]))).toEqual([0, 0, 0, 0, 0]);
    expect(Array.from(run((ts) => sce(ts, 0.5), zeros, [5]))).toEqual([0, 0, 0, 0, 0]);
    expect(Array.from(run((ts) => slerp(0.3, ts[0]!, ts[1]!), zeros, [5]))).toEqual([0, 0, 0, 0, 0]);
  });
});

describe("DARE (seeded)", () => {
  const big = ref.randn(20000, 7);
  it("density 1 is the identity, so dare_linear / dare_ties equal task arithmetic / TIES exactly", () => {
    expect(Array.from(run((ts) => dareLinear(ts, ws, { density: 1, seed: 3 })))).toEqual(Array.from(run((ts) => taskArithmetic(ts, ws))));
    expect(Array.from(run((ts) => dareTies(ts, ws, { density: 1, seed: 3 })))).toEqual(Array.from(run((ts) => ties(ts, ws, { density: 1 }))));
  });
  it("same seed → same mask; kept entries are τ/d (PEFT rescale); the kept fraction is d within 5σ", () => {
    const d = 0.3;
    const a = run(([x]) => randomPrune(x!, d, { seed: 42 }), [big], [20000]);
    const b = run(([x]) => randomPrune(x!, d, { seed: 42 }), [big], [20000]);
    expect(Array.from(a)).toEqual(Array.from(b));
    let kept = 0;
    for (let i = 0; i < big.length; i++) {
      if (a[i] !== 0) {
        kept++;
        expect(Math.abs(a[i]! - big[i]! / d)).toBeLessThan(1e-5 * Math.abs(big[i]! / d) + 1e-6);
      }
    }
    const sigma = Math.sqrt(d * (1 - d) * big.length);
    expect(Math.abs(kept - d * big.length)).toBeLessThan(5 * sigma);
  });
  it("mergekit's L1 rescale matches ‖τ‖₁", () => {
    const got = run(([x]) => randomPrune(x!, 0.4, { seed: 5, rescale: "l1" }), [big], [20000]);
    const l1 = (v: ArrayLike<number>): number => Array.from(v).reduce((s, x) => s + Math.abs(x), 0);
    expect(Math.abs(l1(got) - l1(big)) / l1(big)).toBeLessThan(1e-5);
  });
  it("dare_linear with d < 1 is unbiased: the mean over 40 seeds approaches Σ wᵢτᵢ (bound: 5 standard errors per entry)", () => {
    const small = [ref.randn(64, 11), ref.randn(64, 12)];
    const w = [0.6, 0.9];
    const d = 0.5;
    const runs = 40;
    const mean = new Float64Array(64);
    for (let s = 0; s < runs; s++) run((ts) => dareLinear(ts, w, { density: d, seed: 100 + s }), small, [64]).forEach((v, i) => (mean[i]! += v / runs));
    const expected = ref.taskArithmetic(small, w);
    for (let i = 0; i < 64; i++) {
      // Var of one run's entry: Σ wᵢ²τᵢ²(1−d)/d; standard error over `runs` runs.
      const variance = small.reduce((acc, x, k) => acc + (w[k]! * x[i]!) ** 2 * ((1 - d) / d), 0);
      expect(Math.abs(mean[i]! - expected[i]!)).toBeLessThan(5 * Math.sqrt(variance / runs) + 1e-6);
    }
  });
  it("DARE-TIES is TIES' election and count divisor on the dropped-and-rescaled tensors", () => {
    const d = 0.5;
    const got = run((ts) => dareTies(ts, ws, { density: d, seed: 9 }));
    // recover each mask from randomPrune with the same derived seeds
    const dropped = xs.map((x, i) => Float64Array.from(run(([a]) => randomPrune(a!, d, { seed: seedForTest(9, i) }), [x])));
    expect(ref.maxRelError(got, ref.disjointCount(dropped, ws, "total"))).toBeLessThan(1e-6);
  });
});

import { seedFor as seedForTest } from "../index.js";

describe("breadcrumbs, DELLA, SCE, mergekit generalized task arithmetic", () => {
  it("magnitude outliers drop the γ largest and the smallest, keeping ⌊d·n⌋", () => {
    const x = ref.randn(100, 21);
    const got = run(([a]) => magnitudeOutliers(a!, 0.5, 0.1), [x], [100]);
    const order = [...x.keys()].sort((a, b) => Math.abs(x[b]!) - Math.abs(x[a]!));
    const expected = new Float64Array(100);
    for (const i of order.slice(10, 60)) expected[i] = x[i]!;
    expect(ref.maxRelError(got, expected)).toBeLessThan(1e-7);
  });
  it("DELLA keeps larger magnitudes more often (rank-linear probabilities from d−ε to d+ε)", () => {
    const rows = 400;
    const x = ref.randn(rows * 10, 31);
    const got = run(([a]) => dellaMagprune(a!, 0.5, { seed: 2, epsilon: 0.4, rescale: null }), [x], [rows, 10]);
    const keptByRank = new Array<number>(10).fill(0);
    for (let r = 0; r < rows; r++) {
      const row = [...Array(10).keys()].map((j) => x[r * 10 + j]!);
      const ranks = row.map((v) => row.filter((u) => Math.abs(u) < Math.abs(v)).length);
      for (let j = 0; j < 10; j++) if (got[r * 10 + j] !== 0) keptByRank[ranks[j]!]!++;
    }
    for (let k = 0; k < 10; k++) {
      const p = 0.1 + (k / 9) * 0.8;
      expect(Math.abs(keptByRank[k]! / rows - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / rows));
    }
  });
  it("SCE with selectTopk 1: energy weights, sign erase, weighted mean", () => {
    const got = run((ts) => sce(ts, 1));
    const energy = xs.map((x) => x.reduce((s, v) => s + v * v, 0) / x.length);
    const sum = energy.reduce((a, b) => a + b, 0);
    const w = energy.map((e) => e / sum);
    const total = [...xs[0]!.keys()].map((j) => (xs.reduce((s, x) => s + x[j]!, 0) >= 0 ? 1 : -1));
    const expected = [...xs[0]!.keys()].map((j) => {
      let num = 0;
      let den = 0;
      xs.forEach((x, i) => {
        if (Math.sign(x[j]!) === total[j]) {
          num += w[i]! * x[j]!;
          den += w[i]!;
        }
      });
      return num / Math.max(den, 1e-6);
    });
    expect(ref.maxRelError(got, expected)).toBeLessThan(1e-5);
  });
  it("generalized task arithmetic = mergekit ties with per-model densities", () => {
    const dens = [0.5, 0.8, 0.3];
    const got = run((ts) =>
      generalizedTaskArithmetic(
        ts.map((delta, i) => ({ delta, weight: ws[i]!, density: dens[i]! })),
        { sparsification: "magnitude", consensus: "total", normalize: true, rescale: false },
      ),
    );
    expect(ref.maxRelError(got, ref.tiesMergekit(xs, ws, dens))).toBeLessThan(1e-6);
  });
});

describe("SLERP, NuSLERP, Karcher, Model Stock", () => {
  it("SLERP matches the float64 formula for t in [0, 1] and beyond", () => {
    for (const tt of [0, 0.25, 0.5, 0.9, 1, 1.2]) {
      const got = run(([a, b]) => slerp(tt, a!, b!), [xs[0]!, xs[1]!]);
      expect(ref.maxRelError(got, ref.slerp(tt, xs[0]!, xs[1]!))).toBeLessThan(1e-5);
    }
  });
  it("parallel and antiparallel vectors fall back to lerp (no division by sin 0)", () => {
    const v = xs[0]!;
    for (const other of [v.map((x) => 2 * x), v.map((x) => -3 * x)]) {
      const got = run(([a, b]) => slerp(0.3, a!, b!), [v, other]);
      const lerp = v.map((x, i) => 0.7 * x + 0.3 * other[i]!);
      expect(got.every(Number.isFinite)).toBe(true);
      expect(ref.maxRelError(got, lerp)).toBeLessThan(1e-6);
    }
    // nuslerp too
    const got = run(([a, b]) => nuslerp(0.3, a!, b!), [v, v.map((x) => 2 * x)]);
    expect(ref.maxRelError(got, v.map((x) => 0.7 * x + 0.6 * x))).toBeLessThan(1e-5);
  });
  it("NuSLERP flattened equals SLERP away from the lerp threshold; row-wise slerps each column vector", () => {
    const flat = run(([a, b]) => nuslerp(0.4, a!, b!), [xs[0]!, xs[1]!]);
    expect(ref.maxRelError(flat, ref.slerp(0.4, xs[0]!, xs[1]!))).toBeLessThan(1e-5);
    const perRow = run(([a, b]) => nuslerp(0.4, a!, b!, { flatten: false }), [xs[0]!, xs[1]!]);
    const expectedRows = new Float64Array(48);
    for (let r = 0; r < 6; r++) ref.slerp(0.4, xs[0]!.slice(r * 8, r * 8 + 8), xs[1]!.slice(r * 8, r * 8 + 8), 2).forEach((v, j) => (expectedRows[r * 8 + j] = v));
    expect(ref.maxRelError(perRow, expectedRows)).toBeLessThan(1e-5);
    const perCol = run(([a, b]) => nuslerp(0.4, a!, b!, { flatten: false, rowWise: true }), [xs[0]!, xs[1]!]);
    const expectedCols = new Float64Array(48);
    for (let c = 0; c < 8; c++) {
      const col = (x: Float64Array): Float64Array => Float64Array.from({ length: 6 }, (_, r) => x[r * 8 + c]!);
      ref.slerp(0.4, col(xs[0]!), col(xs[1]!), 2).forEach((v, r) => (expectedCols[r * 8 + c] = v));
    }
    expect(ref.maxRelError(perCol, expectedCols)).toBeLessThan(1e-5);
  });
  it("Karcher mean matches the float64 iteration; equal inputs give the input", () => {
    const got = run((ts) => karcherMean(ts));
    expect(ref.maxRelError(got, ref.karcher(xs, [1 / 3, 1 / 3, 1 / 3]))).toBeLessThan(1e-5);
    const same = run((ts) => karcherMean(ts), [xs[0]!, xs[0]!]);
    expect(ref.maxRelError(same, xs[0]!)).toBeLessThan(1e-6);
    expect(Array.from(run((ts) => karcherMean(ts), [new Float64Array(48), new Float64Array(48)]))).toEqual(new Array<number>(48).fill(0));
  });
  it("Model Stock: t = N·cos/(1+(N−1)cos), result t·avg + (1−t)·w₀", () => {
    const base = ref.randn(48, 50);
    const fts = xs.map((x) => base.map((b, i) => b + 0.1 * x[i]! + 0.05));
    const got = run(([b, ...rest]) => modelStock(b!, rest), [base, ...fts]);
    expect(ref.maxRelError(got, ref.modelStock(base, fts))).toBeLessThan(1e-5);
    const b = t(base);
    expect(() => modelStock(b, [b])).toThrow(/at least two/);
    b.dispose();
  });
  it("nothing leaks across a batch of merges", () => {
    const ts = xs.map((x) => t(x, [6, 8]));
    noLeak(() => {
      for (const f of [
        () => ties(ts, ws, { density: 0.5 }),
        () => dareTies(ts, ws, { density: 0.5, seed: 1, variant: "mergekit", rescale: "l1" }),
        () => slerp(0.5, ts[0]!, ts[1]!),
        () => modelStock(ts[0]!, ts.slice(1)),
        () => karcherMean(ts),
        () => sce(ts, 0.5),
      ])
        f().dispose();
    });
    ts.forEach((x) => x.dispose());
  });
});

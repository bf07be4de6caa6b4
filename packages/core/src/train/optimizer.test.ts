import { describe, expect, it } from "vitest";
import { tf } from "../tf.js";
import type { Tensor, Variable } from "../tf.js";
import { Module } from "../nn/module.js";
import { LayerNorm, Linear, RMSNorm } from "../nn/layers.js";
import { AdamW, decayParameterGroups } from "./optimizer.js";

/**
 * torch.optim.AdamW (single-tensor, amsgrad=False) re-written in float64, from the formulas in
 * torch/optim/adam.py: decay, moments, bias corrections, eps after the corrected sqrt.
 */
class ReferenceAdamW {
  private readonly state = new Map<string, { step: number; m: number[]; v: number[] }>();
  step(p: number[], g: number[], key: string, o: { lr: number; betas: [number, number]; eps: number; weightDecay: number }): number[] {
    const s = this.state.get(key) ?? { step: 0, m: p.map(() => 0), v: p.map(() => 0) };
    this.state.set(key, s);
    s.step += 1;
    const [b1, b2] = o.betas;
    const bc1 = 1 - b1 ** s.step;
    const bc2 = 1 - b2 ** s.step;
    return p.map((pi, i) => {
      const decayed = pi * (1 - o.lr * o.weightDecay);
      s.m[i] = b1 * s.m[i]! + (1 - b1) * g[i]!;
      s.v[i] = b2 * s.v[i]! + (1 - b2) * g[i]! * g[i]!;
      const denom = Math.sqrt(s.v[i]) / Math.sqrt(bc2) + o.eps;
      return decayed - (o.lr / bc1) * (s.m[i] / denom);
    });
  }
  stepCount(key: string): number {
    return this.state.get(key)?.step ?? 0;
  }
}

/** Quadratic bowl L(p) = Σ cᵢ (pᵢ − tᵢ)²; ∇ = 2c(p − t). */
const target = [0.5, -1.25, 2, 0.1, -0.3, 0.75];
const curvature = [1, 0.5, 2, 0.01, 0.002, 3];
const grad64 = (p: number[], off = 0): number[] => p.map((x, i) => 2 * curvature[(i + off) % 6]! * (x - target[(i + off) % 6]!));
function quadraticLoss(v: Variable, off = 0): tf.Scalar {
  const n = v.size;
  const c = tf.tensor(Array.from({ length: n }, (_, i) => curvature[(i + off) % 6]!), v.shape);
  const t = tf.tensor(Array.from({ length: n }, (_, i) => target[(i + off) % 6]!), v.shape);
  return tf.sum(tf.mul(c, tf.square(tf.sub(v, t))));
}

const values = (t: Tensor): number[] => Array.from(t.dataSync());
function expectClose(actual: number[], expected: number[], tol: number): void {
  expect(actual).toHaveLength(expected.length);
  const worst = Math.max(...actual.map((a, i) => Math.abs(a - expected[i]!)));
  expect(worst).toBeLessThan(tol);
}

describe("AdamW", () => {
  const defaults = { lr: 1e-3, betas: [0.9, 0.999] as [number, number], eps: 1e-8, weightDecay: 0.01 };

  it("has torch's defaults", () => {
    const v = tf.variable(tf.zeros([2]));
    const opt = new AdamW([v]);
    expect(opt.paramGroups[0]).toMatchObject({ lr: 1e-3, initialLr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 });
    opt.dispose();
    v.dispose();
  });

  for (const [label, o] of [
    ["without weight decay", { lr: 0.1, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 }],
    ["with weight decay", { lr: 0.1, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.1 }],
    // eps comparable to sqrt(v): placing eps before the bias correction would be visible here.
    ["with a large eps and small gradients", { lr: 0.05, betas: [0.8, 0.99], eps: 1e-3, weightDecay: 0.01 }],
    // β₁ <= 0.5 takes torch lerp's other branch.
    ["with β₁ below 0.5", { lr: 0.1, betas: [0.3, 0.9], eps: 1e-8, weightDecay: 0.05 }],
  ] as const) {
    it(`follows torch's formulas over 5 steps ${label}`, () => {
      const opts = { ...o, betas: [o.betas[0], o.betas[1]] as [number, number] };
      const init = [1, -2, 0.3, 4, -0.5, 0.25];
      const scale = label.includes("small gradients") ? 1e-3 : 1;
      const p = tf.variable(tf.tensor2d(init, [2, 3]));
      const opt = new AdamW([p], opts);
      const ref = new ReferenceAdamW();
      let p64 = [...init];
      for (let step = 1; step <= 5; step++) {
        const { value, grads } = tf.variableGrads(() => tf.mul(quadraticLoss(p), scale), [p]);
        opt.step(grads);
        tf.dispose([value, grads]);
        p64 = ref.step(p64, grad64(p64).map((g) => g * scale), "p", opts);
        expectClose(values(p), p64, 2e-6);
        expect(opt.stepCount(p)).toBe(step);
      }
      // The update is not trivial: every entry moved.
      values(p).forEach((x, i) => expect(Math.abs(x - init[i]!)).toBeGreaterThan(1e-3));
      opt.dispose();
      p.dispose();
    });
  }

  it("skips a parameter with no gradient (no decay, no state), and counts steps per parameter like torch", () => {
    const a = tf.variable(tf.tensor1d([1, -2, 3]));
    const frozen = tf.variable(tf.tensor1d([0.7, -0.7]));
    const sometimes = tf.variable(tf.tensor1d([2, 0.5]));
    const opts = { ...defaults, lr: 0.1, weightDecay: 0.2 };
    const opt = new AdamW([a, frozen, sometimes], opts);
    const ref = new ReferenceAdamW();
    let a64 = [1, -2, 3];
    let s64 = [2, 0.5];
    const before = tf.memory().numTensors;
    for (let step = 1; step <= 5; step++) {
      const useSometimes = step % 2 === 1;
      const { value, grads } = tf.variableGrads(() => tf.add(quadraticLoss(a), quadraticLoss(sometimes, 3)), useSometimes ? [a, sometimes] : [a]);
      opt.step(grads);
      tf.dispose([value, grads]);
      a64 = ref.step(a64, grad64(a64), "a", opts);
      if (useSometimes) s64 = ref.step(s64, grad64(s64, 3), "s", opts);
      expectClose(values(a), a64, 2e-6);
      expectClose(values(sometimes), s64, 2e-6);
    }
    expect(values(frozen)).toEqual([Math.fround(0.7), Math.fround(-0.7)]);
    expect(opt.stepCount(frozen)).toBe(0);
    expect(opt.stepCount(sometimes)).toBe(ref.stepCount("s"));
    expect(opt.stepCount(sometimes)).toBe(3);
    // State exists for two parameters only: 2 × (m, v).
    expect(tf.memory().numTensors - before).toBe(4);
    opt.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([a, frozen, sometimes]);
  });

  it("gives each param group its own hyper-parameters and takes a Map of gradients", () => {
    const w = tf.variable(tf.tensor1d([1, 2, 3]));
    const b = tf.variable(tf.tensor1d([-1, 0.5]));
    const opt = new AdamW(
      [
        { params: [w], weightDecay: 0.1 },
        { params: [b], lr: 0.02, weightDecay: 0 },
      ],
      { lr: 0.1 },
    );
    expect(opt.paramGroups.map((g) => [g.lr, g.weightDecay])).toEqual([
      [0.1, 0.1],
      [0.02, 0],
    ]);
    const ref = new ReferenceAdamW();
    let w64 = [1, 2, 3];
    let b64 = [-1, 0.5];
    for (let step = 0; step < 5; step++) {
      const gw = grad64(w64);
      const gb = grad64(b64, 1);
      const grads = new Map<Variable, Tensor>([
        [w, tf.tensor1d(gw)],
        [b, tf.tensor1d(gb)],
      ]);
      opt.step(grads);
      tf.dispose([...grads.values()]);
      w64 = ref.step(w64, gw, "w", { lr: 0.1, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.1 });
      b64 = ref.step(b64, gb, "b", { lr: 0.02, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 });
    }
    expectClose(values(w), w64, 2e-6);
    expectClose(values(b), b64, 2e-6);
    opt.dispose();
    tf.dispose([w, b]);
  });

  it("scaleLr sets every group to its initial rate times the factor", () => {
    const w = tf.variable(tf.zeros([1]));
    const b = tf.variable(tf.zeros([1]));
    const opt = new AdamW([{ params: [w] }, { params: [b], lr: 0.5 }], { lr: 0.1 });
    opt.scaleLr(0.25);
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([0.025, 0.125]);
    opt.dispose();
    tf.dispose([w, b]);
  });

  it("zeroState makes it behave like a fresh optimizer", () => {
    const p = tf.variable(tf.tensor1d([1, -1, 2]));
    const q = tf.variable(tf.tensor1d([1, -1, 2]));
    const opts = { lr: 0.1, weightDecay: 0.01 };
    const used = new AdamW([p], opts);
    for (let i = 0; i < 3; i++) {
      const { value, grads } = tf.variableGrads(() => quadraticLoss(p), [p]);
      used.step(grads);
      tf.dispose([value, grads]);
    }
    q.assign(p);
    used.zeroState();
    expect(used.stepCount(p)).toBe(0);
    const fresh = new AdamW([q], opts);
    for (let i = 0; i < 2; i++) {
      const r1 = tf.variableGrads(() => quadraticLoss(p), [p]);
      used.step(r1.grads);
      const r2 = tf.variableGrads(() => quadraticLoss(q), [q]);
      fresh.step(r2.grads);
      tf.dispose([r1.value, r1.grads, r2.value, r2.grads]);
    }
    expect(values(p)).toEqual(values(q));
    used.dispose();
    fresh.dispose();
    tf.dispose([p, q]);
  });

  it("rejects bad hyper-parameters, duplicates, foreign gradients and use after dispose", () => {
    const v = tf.variable(tf.zeros([2]));
    const other = tf.variable(tf.zeros([2]));
    expect(() => new AdamW([v], { lr: -1 })).toThrow(/invalid learning rate -1/);
    expect(() => new AdamW([v], { betas: [0.9, 1] })).toThrow(/invalid beta at index 1/);
    expect(() => new AdamW([v], { eps: -1e-8 })).toThrow(/invalid eps/);
    expect(() => new AdamW([v], { weightDecay: -0.1 })).toThrow(/invalid weightDecay/);
    expect(() => new AdamW([v, v])).toThrow(/appears more than once/);
    expect(() => new AdamW([{ params: [v] }, { params: [v] }])).toThrow(/appears more than once/);
    expect(() => new AdamW([])).toThrow(/no parameters/);
    const opt = new AdamW([v]);
    const g = tf.ones([2]);
    expect(() => opt.step(new Map([[other, g]]))).toThrow(/not one of this optimizer's parameters/);
    expect(() => opt.step({ nope: g })).toThrow(/gradient named "nope"/);
    expect(() => opt.step(new Map([[v, tf.ones([3])]]))).toThrow(/shape \[3\], the parameter \[2\]/);
    opt.dispose();
    expect(() => opt.step(new Map([[v, g]]))).toThrow(/disposed/);
    tf.dispose([v, other, g]);
  });
});

describe("decayParameterGroups", () => {
  class Net extends Module {
    readonly fc = this.registerModule("fc", new Linear(3, 4));
    readonly ln = this.registerModule("ln", new LayerNorm(4));
    readonly out = this.registerModule("out", new Linear(4, 2, { bias: false }));
    readonly final = this.registerModule("final", new RMSNorm(2));
  }

  it("exempts biases and norm weights from decay, like transformers' Trainer, and skips frozen params", () => {
    const net = new Net();
    net.out.weight.trainable = false;
    const groups = decayParameterGroups(net, 0.05);
    const names = (vs: Variable[]): string[] => vs.map((v) => net.namedParameters().find(([, p]) => p === v)![0]);
    expect(groups).toHaveLength(2);
    expect(groups[0]!.weightDecay).toBe(0.05);
    expect(names(groups[0]!.params)).toEqual(["fc.weight"]);
    expect(groups[1]!.weightDecay).toBe(0);
    expect(names(groups[1]!.params)).toEqual(["fc.bias", "ln.weight", "ln.bias", "final.weight"]);
    net.dispose();
  });
});

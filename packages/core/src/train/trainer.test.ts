import { describe, expect, it } from "vitest";
import { tf } from "../tf.js";
import type { Tensor, Variable } from "../tf.js";
import { Module } from "../nn/module.js";
import { Dropout, Linear } from "../nn/layers.js";
import { setSeed } from "../random.js";
import { AdamW } from "./optimizer.js";
import { train } from "./trainer.js";
import type { StepInfo } from "./trainer.js";

/** Two Linears with a ReLU (and optional dropout) between: the "tiny model". */
class TinyMlp extends Module {
  readonly fc1: Linear;
  readonly drop: Dropout;
  readonly fc2: Linear;
  constructor(dIn: number, dHidden: number, dOut: number, p = 0) {
    super();
    this.fc1 = this.registerModule("fc1", new Linear(dIn, dHidden));
    this.drop = this.registerModule("drop", new Dropout(p));
    this.fc2 = this.registerModule("fc2", new Linear(dHidden, dOut));
  }
  forward(x: Tensor): Tensor {
    return tf.tidy(() => this.fc2.forward(this.drop.forward(tf.relu(this.fc1.forward(x)))));
  }
}

interface Batch {
  x: Tensor;
  y: Tensor;
}

const X = [
  [0.5, -1, 2],
  [1.5, 0.25, -0.5],
  [-2, 1, 0.75],
  [0.1, 0.2, 0.3],
];
const Y = [
  [1, 0],
  [0, 1],
  [-1, 0.5],
  [0.25, -0.25],
];

const mse = (model: { forward(x: Tensor): Tensor }) => (b: Batch) => tf.mean<tf.Scalar>(tf.square(tf.sub(model.forward(b.x), b.y)));
const values = (v: Variable): number[] => Array.from(v.dataSync());

describe("train", () => {
  it("one step matches float64 torch/transformers maths: loss/accum, clip_grad_norm_, AdamW, linear warm-up", async () => {
    // loss(w) = mean_r (x_r·w − y_r)², one batch of 4 rows; ∇ = (2/4) Σ_r (x_r·w − y_r) x_r.
    const w0 = [0.3, -0.2, 0.1];
    const y = Y.map((r) => r[0]!);
    const w = tf.variable(tf.tensor1d(w0));
    const xs = tf.tensor2d(X);
    const ys = tf.tensor1d(y);
    const lr = 0.1;
    const weightDecay = 0.01;
    const maxGradNorm = 0.5;
    const steps = 4;
    const result = await train({
      params: [w],
      loss: () => tf.mean<tf.Scalar>(tf.square(tf.sub(tf.squeeze(tf.matMul(xs, tf.reshape(w, [3, 1]))), ys))),
      batches: () => null,
      steps,
      lr,
      weightDecay,
      maxGradNorm,
      warmupSteps: 2,
    });

    // float64 reference
    let p = [...w0];
    const m = [0, 0, 0];
    const v = [0, 0, 0];
    const losses: number[] = [];
    const norms: number[] = [];
    for (let k = 0; k < steps; k++) {
      const resid = X.map((r, i) => r.reduce((s, xi, j) => s + xi * p[j]!, 0) - y[i]!);
      losses.push(resid.reduce((s, e) => s + e * e, 0) / 4);
      const g = p.map((_, j) => (2 / 4) * X.reduce((s, r, i) => s + resid[i]! * r[j]!, 0));
      const norm = Math.sqrt(g.reduce((s, x) => s + x * x, 0));
      norms.push(norm);
      const coef = Math.min(1, maxGradNorm / (norm + 1e-6));
      const gc = g.map((x) => x * coef);
      const lrK = lr * (k < 2 ? k / 2 : Math.max(0, (steps - k) / (steps - 2)));
      const t = k + 1;
      p = p.map((pj, j) => {
        m[j] = 0.9 * m[j]! + 0.1 * gc[j]!;
        v[j] = 0.999 * v[j]! + 0.001 * gc[j]! * gc[j]!;
        const denom = Math.sqrt(v[j]) / Math.sqrt(1 - 0.999 ** t) + 1e-8;
        return pj * (1 - lrK * weightDecay) - (lrK / (1 - 0.9 ** t)) * (m[j] / denom);
      });
    }
    expect(result.stopped).toBe("completed");
    expect(result.steps).toBe(steps);
    expect(result.lrs).toEqual([0, 0.05, 0.1, 0.05]);
    result.losses.forEach((l, i) => expect(l).toBeCloseTo(losses[i]!, 5));
    result.gradNorms.forEach((n, i) => expect(n).toBeCloseTo(norms[i]!, 5));
    values(w).forEach((x, j) => expect(x).toBeCloseTo(p[j]!, 5));
    // The first update has lr 0 (warm-up starts at 0) yet weights moved afterwards.
    expect(Math.abs(values(w)[0]! - w0[0]!)).toBeGreaterThan(1e-3);
    tf.dispose([w, xs, ys]);
  });

  it("4 micro-batches of 1 with accumulation equal one batch of 4 for a mean loss", async () => {
    const build = (): TinyMlp => {
      setSeed(42);
      return new TinyMlp(3, 5, 2);
    };
    const rows = X.map((r, i) => ({ x: tf.tensor2d([r]), y: tf.tensor2d([Y[i]!]) }));
    const whole = { x: tf.tensor2d(X), y: tf.tensor2d(Y) };

    const a = build();
    const accumulated = await train({ model: a, loss: mse(a), batches: rows, steps: 3, gradientAccumulationSteps: 4, lr: 0.05, maxGradNorm: 0.3 });
    const b = build();
    const single = await train({ model: b, loss: mse(b), batches: [whole], steps: 3, lr: 0.05, maxGradNorm: 0.3 });

    accumulated.losses.forEach((l, i) => expect(l).toBeCloseTo(single.losses[i]!, 6));
    accumulated.gradNorms.forEach((n, i) => expect(n).toBeCloseTo(single.gradNorms[i]!, 5));
    const pa = a.parameters().map(values);
    const pb = b.parameters().map(values);
    pa.forEach((vs, i) => vs.forEach((x, j) => expect(x).toBeCloseTo(pb[i]![j]!, 6)));
    // Training happened.
    expect(single.losses[2]).toBeLessThan(single.losses[0]!);
    a.dispose();
    b.dispose();
    tf.dispose([rows, whole]);
  });

  it("is deterministic with a seed (dropout masks included) and differs with another seed", async () => {
    const run = async (seed: number): Promise<{ losses: number[]; params: number[][] }> => {
      setSeed(7);
      const model = new TinyMlp(3, 8, 2, 0.5);
      const r = await train({ model, loss: mse(model), batches: (i) => ({ x: tf.tensor2d([X[i % 4]!, X[(i + 1) % 4]!]), y: tf.tensor2d([Y[i % 4]!, Y[(i + 1) % 4]!]) }), steps: 6, lr: 0.01, seed });
      const params = model.parameters().map(values);
      model.dispose();
      return { losses: r.losses, params };
    };
    const first = await run(123);
    const second = await run(123);
    expect(second.losses).toEqual(first.losses);
    expect(second.params).toEqual(first.params);
    const other = await run(124);
    expect(other.losses).not.toEqual(first.losses);
  });

  it("computes no gradient for frozen weights: only the listed params are differentiated", async () => {
    // y = x·Wᵀ + b. With W frozen, backward needs no matmul at all (∂L/∂b is a sum over rows), so a
    // training step runs exactly one matmul kernel (the forward); with W trained it runs two.
    const matMulsPerStep = async (trainW: boolean): Promise<{ count: number; wBefore: number[]; wAfter: number[] }> => {
      setSeed(3);
      const layer = new Linear(3, 2);
      if (!trainW) layer.weight.trainable = false;
      const wBefore = values(layer.weight);
      const batch = { x: tf.tensor2d(X), y: tf.tensor2d(Y) };
      const profile = await tf.profile(async () => {
        await train({ model: layer, loss: mse(layer), batches: [batch], steps: 2, lr: 0.1 });
      });
      const count = profile.kernels.filter((k) => /MatMul/.test(k.name)).length / 2;
      const wAfter = values(layer.weight);
      layer.dispose();
      tf.dispose(batch);
      return { count, wBefore, wAfter };
    };
    const frozen = await matMulsPerStep(false);
    const trained = await matMulsPerStep(true);
    expect(frozen.count).toBe(1);
    expect(trained.count).toBe(2);
    expect(frozen.wAfter).toEqual(frozen.wBefore);
    expect(trained.wAfter).not.toEqual(trained.wBefore);
  });

  it("rejects a frozen variable in params, a non-scalar loss, and bad counts", async () => {
    const w = tf.variable(tf.ones([2]), false);
    const u = tf.variable(tf.ones([2]));
    await expect(train({ params: [w], loss: () => tf.sum<tf.Scalar>(w), batches: [0], steps: 1 })).rejects.toThrow(/is frozen \(trainable=false\)/);
    await expect(train({ params: [u], loss: () => tf.mul(u, 2) as unknown as tf.Scalar, batches: [0], steps: 1 })).rejects.toThrow(/must return a scalar tensor, got a tensor of shape \[2\]/);
    await expect(train({ params: [u], loss: () => tf.sum<tf.Scalar>(u), batches: [0], steps: 0 })).rejects.toThrow(/steps must be an integer > 0/);
    await expect(train({ params: [u], loss: () => tf.sum<tf.Scalar>(u), batches: [0], steps: 1, gradientAccumulationSteps: 1.5 })).rejects.toThrow(/gradientAccumulationSteps/);
    await expect(train({ params: [u], loss: () => tf.scalar(1), batches: [0], steps: 1 })).rejects.toThrow(/does not depend on any of the params/);
    await expect(train({ loss: () => tf.scalar(1), batches: [0], steps: 1 })).rejects.toThrow(/pass params/);
    tf.dispose([w, u]);
  });

  it("stops on abort, when a generator runs out, and runs evaluate every evalEvery steps", async () => {
    const u = tf.variable(tf.tensor1d([1, -1]));
    const loss = (): tf.Scalar => tf.sum(tf.square(u));
    const controller = new AbortController();
    const aborted = await train({
      params: [u],
      loss,
      batches: [0],
      steps: 10,
      signal: controller.signal,
      onStep: ({ step }) => {
        if (step === 3) controller.abort();
      },
    });
    expect(aborted).toMatchObject({ stopped: "aborted", steps: 3 });
    expect(aborted.losses).toHaveLength(3);

    function* three(): Generator<number> {
      yield 1;
      yield 2;
      yield 3;
    }
    const exhausted = await train({ params: [u], loss, batches: three(), steps: 5 });
    expect(exhausted).toMatchObject({ stopped: "data-exhausted", steps: 3 });
    // An array is iterated again: 2 batches are enough for 5 steps.
    expect((await train({ params: [u], loss, batches: [1, 2], steps: 5 })).stopped).toBe("completed");

    const model = new TinyMlp(3, 4, 2, 0.5);
    const modes: boolean[] = [];
    const evaluated = await train({
      model,
      loss: mse(model),
      batches: [{ x: tf.tensor2d(X), y: tf.tensor2d(Y) }],
      steps: 5,
      evalEvery: 2,
      evaluate: ({ step }) => {
        modes.push(model.training);
        return { step2: step * 2 };
      },
    });
    expect(evaluated.evals).toEqual([
      { step: 2, metrics: { step2: 4 } },
      { step: 4, metrics: { step2: 8 } },
    ]);
    expect(modes).toEqual([false, false]);
    expect(model.training).toBe(true);
    model.dispose();
    u.dispose();
  });

  it("takes async batches and disposes them; keeps a caller's optimizer state across calls", async () => {
    const u = tf.variable(tf.tensor1d([1, -1]));
    const made: Tensor[] = [];
    async function* batches(): AsyncGenerator<Tensor> {
      for (let i = 0; i < 3; i++) {
        await Promise.resolve();
        const t = tf.tensor1d([i, i]);
        made.push(t);
        yield t;
      }
    }
    const optimizer = new AdamW([u], { lr: 0.01, weightDecay: 0 });
    const r = await train({ params: [u], loss: (b: Tensor) => tf.sum(tf.square(tf.sub(u, b))), batches: batches(), steps: 3, optimizer });
    expect(r.steps).toBe(3);
    expect(made.every((t) => t.isDisposed)).toBe(true);
    expect(optimizer.stepCount(u)).toBe(3);
    await train({ params: [u], loss: () => tf.sum(tf.square(u)), batches: [0], steps: 2, optimizer });
    expect(optimizer.stepCount(u)).toBe(5);
    // The schedule scaled the caller's optimizer from its initial rate (linear decay: last step 1/2 of it).
    expect(optimizer.paramGroups[0]!.lr).toBeCloseTo(0.005, 12);
    optimizer.dispose();
    u.dispose();
  });

  it("does not leak: tf.memory().numTensors after step 10 equals after step 200", async () => {
    setSeed(11);
    const model = new TinyMlp(6, 12, 3, 0.1);
    const counts = new Map<number, number>();
    const infos: StepInfo[] = [];
    const start = tf.memory().numTensors;
    const result = await train({
      model,
      loss: mse(model),
      // Fresh tensors every micro-batch: the trainer's scope must free them.
      batches: (i) => ({ x: tf.randomNormal([4, 6], 0, 1, "float32", i + 1), y: tf.randomNormal([4, 3], 0, 1, "float32", i + 1000) }),
      steps: 200,
      gradientAccumulationSteps: 2,
      warmupSteps: 20,
      weightDecay: 0.01,
      maxGradNorm: 1,
      lr: 1e-3,
      onStep: (info) => {
        counts.set(info.step, tf.memory().numTensors);
        if (info.step === 1 || info.step === 10 || info.step === 200) infos.push(info);
      },
    });
    expect(result.steps).toBe(200);
    expect(counts.get(10)).toBe(counts.get(200));
    expect(counts.get(1)).toBe(counts.get(200));
    expect(infos.map((i) => i.numTensors)).toEqual([counts.get(1), counts.get(10), counts.get(200)]);
    // What remains during training is exactly the AdamW state: m and v per parameter.
    expect(counts.get(200)! - start).toBe(2 * model.parameters().length);
    // After train() its own optimizer is disposed: back to where we started.
    expect(tf.memory().numTensors).toBe(start);
    expect(infos.every((i) => Number.isFinite(i.loss) && Number.isFinite(i.gradNorm) && i.stepMs >= 0)).toBe(true);
    model.dispose();
  });
});

/** Losses against float64 computations of torch's definitions. */
import { describe, expect, it } from "vitest";
import { tf } from "@peftjs/core";
import { bceWithLogitsLoss, causalLmLoss, crossEntropy, sequenceClassificationLoss } from "./loss.js";

function logSumExp(xs: number[]): number {
  const m = Math.max(...xs);
  return m + Math.log(xs.reduce((s, x) => s + Math.exp(x - m), 0));
}

describe("causalLmLoss", () => {
  const B = 2, T = 4, V = 5;
  const logits = Array.from({ length: B * T * V }, (_, i) => Math.sin(i * 0.7) * 3);
  const labels = [
    [1, 4, -100, 2],
    [-100, 0, 3, 3],
  ];

  it("shifts labels, ignores -100 and averages over the valid tokens (transformers ForCausalLMLoss)", () => {
    let sum = 0, count = 0;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T - 1; t++) {
        const y = labels[b]![t + 1]!;
        if (y === -100) continue;
        const row = logits.slice((b * T + t) * V, (b * T + t + 1) * V);
        sum += logSumExp(row) - row[y]!;
        count++;
      }
    }
    const loss = causalLmLoss(tf.tensor3d(logits, [B, T, V]), tf.tensor2d(labels, undefined, "int32"));
    expect(loss.dataSync()[0]).toBeCloseTo(sum / count, 5);
  });

  it("is NaN when every label is ignored (torch's 0/0) and checks the label shape", () => {
    const none = causalLmLoss(tf.tensor3d(logits, [B, T, V]), tf.fill([B, T], -100, "int32"));
    expect(Number.isNaN(none.dataSync()[0])).toBe(true);
    expect(() => causalLmLoss(tf.tensor3d(logits, [B, T, V]), tf.zeros([B, T + 1], "int32"))).toThrow(/labels must be \[batch, seq\] = \[2, 4\]/);
  });

  it("has the gradient (softmax − onehot) / count", () => {
    const x = tf.tensor2d([[1, 2, 0.5], [0, -1, 3]]);
    const g = tf.grad((l: tf.Tensor) => crossEntropy(l, tf.tensor1d([2, -100], "int32")))(x).arraySync() as number[][];
    const row = [1, 2, 0.5];
    const z = row.reduce((s, v) => s + Math.exp(v), 0);
    row.forEach((v, j) => expect(g[0]![j]).toBeCloseTo(Math.exp(v) / z - (j === 2 ? 1 : 0), 5));
    g[1]!.forEach((v) => expect(Math.abs(v)).toBe(0)); // an ignored label adds nothing (±0)
  });
});

describe("sequenceClassificationLoss", () => {
  const logits = [[0.3, -1.2, 2.0], [1.5, 0.1, -0.4]];

  it("single-label: cross-entropy over integer labels", () => {
    const ref = (logSumExp(logits[0]!) - logits[0]![2]! + logSumExp(logits[1]!) - logits[1]![0]!) / 2;
    const loss = sequenceClassificationLoss(tf.tensor2d(logits), tf.tensor1d([2, 0], "int32"), 3, null);
    expect(loss.dataSync()[0]).toBeCloseTo(ref, 5);
  });

  it("regression (num_labels 1): mean squared error", () => {
    const loss = sequenceClassificationLoss(tf.tensor2d([[0.5], [2]]), tf.tensor1d([1, -1]), 1, null);
    expect(loss.dataSync()[0]).toBeCloseTo((0.25 + 9) / 2, 6);
  });

  it("multi-label (float labels): BCE with logits", () => {
    const y = [[1, 0, 1], [0, 0, 1]];
    let s = 0;
    logits.forEach((r, i) => r.forEach((x, j) => (s += -(y[i]![j]! * Math.log(1 / (1 + Math.exp(-x))) + (1 - y[i]![j]!) * Math.log(1 - 1 / (1 + Math.exp(-x)))))));
    expect(sequenceClassificationLoss(tf.tensor2d(logits), tf.tensor2d(y), 3, null).dataSync()[0]).toBeCloseTo(s / 6, 5);
    expect(bceWithLogitsLoss(tf.tensor1d([80, -80]), tf.tensor1d([1, 0])).dataSync()[0]).toBeCloseTo(0, 6);
  });
});

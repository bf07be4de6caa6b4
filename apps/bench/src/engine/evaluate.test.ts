import { describe, it, expect } from "vitest";
import { tf } from "@peftjs/core";
import type { ModelInputs, ModelOutput } from "@peftjs/core";
import { evaluate } from "./evaluate.js";
import type { Example } from "../data/example.js";

const V = 5;

/** Logits as a fixed function of the input id, so the expected metrics can be computed by hand. */
function logitRow(id: number): number[] {
  return Array.from({ length: V }, (_, v) => (v === (id + 1) % V ? 2 : 0) + 0.1 * v);
}

const fake = {
  training: true,
  eval() {
    this.training = false;
    return this;
  },
  train() {
    this.training = true;
    return this;
  },
  forward(inputs: ModelInputs): ModelOutput {
    const ids = inputs.inputIds!;
    const [b, s] = ids.shape as [number, number];
    const data = ids.dataSync();
    const values: number[] = [];
    for (let i = 0; i < b * s; i++) values.push(...logitRow(data[i]!));
    return { logits: tf.tensor3d(values, [b, s, V]) };
  },
};

function reference(examples: Example[]): { loss: number; accuracy: number; exactMatch: number } {
  let nll = 0;
  let hits = 0;
  let n = 0;
  let exact = 0;
  for (const ex of examples) {
    let all = true;
    for (let t = 0; t + 1 < ex.inputIds.length; t++) {
      const label = ex.labels[t + 1]!;
      if (label === -100) continue;
      const row = logitRow(ex.inputIds[t]!);
      const max = Math.max(...row);
      const lse = max + Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0));
      nll += lse - row[label]!;
      const argmax = row.indexOf(max);
      if (argmax === label) hits++;
      else all = false;
      n++;
    }
    if (all) exact++;
  }
  return { loss: nll / n, accuracy: hits / n, exactMatch: exact / examples.length };
}

describe("evaluate", () => {
  it("scores only labelled positions, position t predicting label t+1, against a float64 reference", async () => {
    const examples: Example[] = [
      // 0→1→2→3: the fake model predicts id+1, so every scored position is right (exact match).
      { inputIds: Int32Array.from([0, 1, 2, 3]), labels: Int32Array.from([-100, -100, 2, 3]) },
      // 4→0 right, 0→3 wrong.
      { inputIds: Int32Array.from([3, 4, 0, 3]), labels: Int32Array.from([-100, 4, 0, 3]) },
      { inputIds: Int32Array.from([2, 2, 2, 2]), labels: Int32Array.from([-100, 2, -100, 1]) },
    ];
    const before = tf.memory().numTensors;
    const got = await evaluate(fake, examples, 2);
    const want = reference(examples);
    expect(got.loss).toBeCloseTo(want.loss, 5);
    expect(got.accuracy).toBeCloseTo(want.accuracy, 12);
    expect(got.exactMatch).toBeCloseTo(want.exactMatch, 12);
    expect(got.positions).toBe(7);
    expect(fake.training).toBe(true); // restored
    expect(tf.memory().numTensors).toBe(before);
  });

  it("refuses a split with no scored position", async () => {
    await expect(evaluate(fake, [{ inputIds: Int32Array.from([1, 2]), labels: Int32Array.from([-100, -100]) }], 4)).rejects.toThrow(/no scored positions/);
  });
});

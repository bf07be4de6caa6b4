import { describe, it, expect } from "vitest";
import { selectBackend, tf } from "@peftjs/core";
import { ensureTrainingKernels } from "./kernels.js";

describe("missing training kernels", () => {
  it("wasm: the embedding gradient (UnsortedSegmentSum) sums rows per id, as a float64 reference does", async () => {
    const choice = await selectBackend({ prefer: "wasm", log: () => {} });
    expect(choice.name).toBe("wasm");
    ensureTrainingKernels("wasm");
    expect(ensureTrainingKernels("wasm")).toEqual([]); // registered once
    const table = [
      [1, 2],
      [3, 4],
      [5, 6],
      [7, 8],
    ];
    const ids = [3, 1, 3, 0, 3];
    const weights = [0.5, -1, 2, 3, 0.25]; // d loss / d row for each lookup
    const w = tf.variable(tf.tensor2d(table));
    const before = tf.memory().numTensors;
    const { grads, value } = tf.variableGrads(() => tf.sum<tf.Scalar>(tf.mul(tf.sum(tf.gather(w, tf.tensor1d(ids, "int32")), 1), tf.tensor1d(weights))));
    const expected = table.map((row, r) => row.map(() => ids.reduce((acc, id, i) => acc + (id === r ? weights[i]! : 0), 0)));
    expect(grads[w.name]!.arraySync()).toEqual(expected);
    tf.dispose([value, grads[w.name]!]);
    expect(tf.memory().numTensors).toBe(before);
    w.dispose();
    await tf.setBackend("cpu");
  });
});

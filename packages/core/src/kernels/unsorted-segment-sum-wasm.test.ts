import { describe, it, expect } from "vitest";
import { tf } from "../tf.js";
import { selectBackend } from "../backends/index.js";
import { registerKernels } from "./register.js";

describe("kernels core registers", () => {
  it("wasm: selectBackend registers UnsortedSegmentSum; the embedding gradient sums rows per id, as a float64 reference does", async () => {
    const choice = await selectBackend({ prefer: "wasm", log: () => {} });
    expect(choice.name).toBe("wasm");
    expect(tf.getKernel("UnsortedSegmentSum", "wasm")).toBeDefined();
    expect(registerKernels("wasm")).toEqual([]); // registered once
    expect(registerKernels("cpu")).toEqual([]); // cpu has its own
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

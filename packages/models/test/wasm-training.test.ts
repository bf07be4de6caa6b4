/**
 * Training on the wasm backend (what a browser without WebGPU uses): the causal-LM loss's gradient must not
 * need kernels wasm lacks (autodiff through its gather needed UnsortedSegmentSum), and must equal cpu's.
 */
import { afterAll, describe, expect, it } from "vitest";
import { selectBackend, setSeed, tf } from "@peftjs/core";
import { GPT2LMHeadModel, gpt2Config } from "../src/index.js";

async function lossAndGrads(backend: "cpu" | "wasm"): Promise<{ loss: number; grads: Float32Array[] }> {
  await selectBackend({ prefer: backend, log: () => undefined });
  setSeed(3);
  const model = new GPT2LMHeadModel(gpt2Config("tiny"));
  model.eval();
  const ids = tf.tensor2d([[5, 9, 2, 77, 3, 3, 41, 8], [1, 2, 3, 4, 5, 6, 7, 8]], undefined, "int32");
  const params = model.namedParameters().filter(([path]) => path.includes("c_attn") || path.includes("c_fc")).map(([, v]) => v);
  const before = tf.memory().numTensors;
  const { value, grads } = tf.variableGrads(() => model.forward({ inputIds: ids, labels: ids }).loss as tf.Scalar, params);
  const out = { loss: (await value.data())[0]!, grads: await Promise.all(Object.values(grads).map(async (g) => (await g.data()) as Float32Array)) };
  tf.dispose([value, ...Object.values(grads)]);
  expect(tf.memory().numTensors).toBe(before);
  ids.dispose();
  model.dispose();
  return out;
}

describe("causal LM loss on the wasm backend", () => {
  afterAll(async () => {
    await selectBackend({ prefer: "cpu", log: () => undefined });
  });

  it("has gradients on wasm, equal to cpu's", async () => {
    const cpu = await lossAndGrads("cpu");
    const wasm = await lossAndGrads("wasm");
    expect(wasm.loss).toBeCloseTo(cpu.loss, 5);
    expect(wasm.grads.length).toBe(cpu.grads.length);
    expect(cpu.grads.length).toBeGreaterThan(0);
    wasm.grads.forEach((g, i) => {
      const ref = cpu.grads[i]!;
      let diff = 0;
      let scale = 0;
      for (let j = 0; j < g.length; j++) {
        diff = Math.max(diff, Math.abs(g[j]! - ref[j]!));
        scale = Math.max(scale, Math.abs(ref[j]!));
      }
      expect(diff / scale).toBeLessThan(1e-4);
    });
  });
});

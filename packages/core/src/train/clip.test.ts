import { describe, expect, it } from "vitest";
import { tf } from "../tf.js";
import { clipGradNorm, globalGradNorm } from "./clip.js";

const data: Record<string, number[]> = { w: [3, -4, 1.5, 0.25, -2, 7], b: [0.5, -0.125], u: [12] };
const shapes: Record<string, number[]> = { w: [2, 3], b: [2], u: [1] };
const norm64 = Math.sqrt(Object.values(data).flat().reduce((s, x) => s + x * x, 0));

function grads(): Map<string, tf.Tensor> {
  return new Map(Object.entries(data).map(([k, v]) => [k, tf.tensor(v, shapes[k])]));
}

describe("clipGradNorm (torch.nn.utils.clip_grad_norm_)", () => {
  it("returns the pre-clip global norm and scales every gradient by maxNorm / (norm + 1e-6)", () => {
    const before = tf.memory().numTensors;
    const g = grads();
    const { grads: clipped, totalNorm } = clipGradNorm(g, 2);
    expect(totalNorm.dataSync()[0]).toBeCloseTo(norm64, 4);
    const coef = 2 / (norm64 + 1e-6);
    for (const [k, v] of Object.entries(data)) {
      const got = Array.from(clipped.get(k)!.dataSync());
      v.forEach((x, i) => expect(got[i]).toBeCloseTo(x * coef, 6));
      expect(clipped.get(k)!.shape).toEqual(shapes[k]);
    }
    const after = Math.sqrt([...clipped.values()].flatMap((t) => Array.from(t.dataSync())).reduce((s, x) => s + x * x, 0));
    expect(after).toBeCloseTo(2, 5);
    // Inputs untouched; outputs are new tensors (3 clipped + the norm).
    expect(Array.from(g.get("w")!.dataSync())).toEqual(data.w);
    expect(tf.memory().numTensors - before).toBe(3 + 3 + 1);
    tf.dispose([...g.values(), ...clipped.values(), totalNorm]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("leaves gradients whose norm is below maxNorm unchanged (coefficient clamped to 1)", () => {
    const g = grads();
    const { grads: clipped, totalNorm } = clipGradNorm(g, 1000);
    for (const [k, v] of Object.entries(data)) expect(Array.from(clipped.get(k)!.dataSync())).toEqual(v.map(Math.fround));
    expect(totalNorm.dataSync()[0]).toBeCloseTo(norm64, 4);
    tf.dispose([...g.values(), ...clipped.values(), totalNorm]);
  });

  it("lets a non-finite norm through as torch does by default", () => {
    const g = new Map([["x", tf.tensor1d([1, Number.POSITIVE_INFINITY])]]);
    const { grads: clipped, totalNorm } = clipGradNorm(g, 1);
    expect(totalNorm.dataSync()[0]).toBe(Number.POSITIVE_INFINITY);
    // coef = 1 / (inf + 1e-6) = 0, so torch gives [1·0, inf·0] = [0, NaN].
    const got = Array.from(clipped.get("x")!.dataSync());
    expect(got[0]).toBe(0);
    expect(got[1]).toBeNaN();
    tf.dispose([...g.values(), ...clipped.values(), totalNorm]);
  });

  it("globalGradNorm equals the float64 norm; bad input is an error", () => {
    const g = grads();
    const n = globalGradNorm(g.values());
    expect(n.dataSync()[0]).toBeCloseTo(norm64, 4);
    expect(() => globalGradNorm([])).toThrow(/no gradients/);
    expect(() => clipGradNorm(g, 0)).toThrow(/maxNorm must be a finite number > 0/);
    tf.dispose([...g.values(), n]);
  });
});

/** Activations against float64 formulas (transformers/activations.py, torch.nn.functional). */
import { describe, expect, it } from "vitest";
import { tf } from "@peftjs/core";
import { gelu, geluNew, getActivation, silu } from "./activations.js";

/** erf by its Maclaurin series (converges fast for |x| ≤ 3; exact to double rounding here). */
function erf(x: number): number {
  let term = x, sum = x;
  for (let n = 1; n < 80; n++) {
    term *= (-x * x) / n;
    sum += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

const xs = [-3, -1.5, -0.3, 0, 0.2, 1, 2.5, 3];

describe("activations", () => {
  it.each([
    ["gelu_new", geluNew, (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)))],
    ["gelu", gelu, (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2))],
    ["silu", silu, (x: number) => x / (1 + Math.exp(-x))],
  ] as const)("%s", (name, f, ref) => {
    const out = f(tf.tensor1d(xs)).dataSync();
    xs.forEach((x, i) => expect(Math.abs(out[i]! - ref(x))).toBeLessThan(2e-6));
    expect(getActivation(name)).toBe(f);
  });

  it("names the supported activations when one is unknown", () => {
    expect(() => getActivation("gelu_10", "cfg")).toThrow(/cfg: unsupported activation "gelu_10"; supported: gelu_new/);
  });
});

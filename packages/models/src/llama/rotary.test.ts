/** Rotary embeddings against float64: pairs (i, i + d/2) rotated by p·θ^(−2i/d) (transformers' rotate_half layout). */
import { describe, expect, it } from "vitest";
import { tf } from "@peftjs/core";
import { LlamaRotaryEmbedding, applyRotary } from "./rotary.js";

describe("LLaMA rotary embeddings", () => {
  it("rotates the half-split pairs by position · θ^(−2i/d)", () => {
    const d = 8, theta = 500, positions = [0, 3, 11];
    const x = Array.from({ length: positions.length * d }, (_, i) => Math.sin(i * 1.7) + 0.1 * i);
    const rope = new LlamaRotaryEmbedding(d, theta);
    const out = tf.tidy(() => {
      const { cos, sin } = rope.forward(tf.tensor2d([positions], undefined, "int32"));
      expect(cos.shape).toEqual([1, 1, 3, d]);
      return applyRotary(tf.tensor4d(x, [1, 1, positions.length, d]), cos, sin).dataSync();
    });
    positions.forEach((p, t) => {
      const row = x.slice(t * d, (t + 1) * d);
      for (let i = 0; i < d / 2; i++) {
        const angle = p * Math.pow(theta, (-2 * i) / d);
        const [a, b] = [row[i]!, row[i + d / 2]!];
        expect(out[t * d + i]).toBeCloseTo(a * Math.cos(angle) - b * Math.sin(angle), 5);
        expect(out[t * d + i + d / 2]).toBeCloseTo(b * Math.cos(angle) + a * Math.sin(angle), 5);
      }
    });
    rope.dispose();
  });

  it("keeps inv_freq out of the state dict (a non-persistent buffer in transformers)", () => {
    const rope = new LlamaRotaryEmbedding(4, 10000);
    expect([...rope.stateDict().keys()]).toEqual([]);
    expect(Array.from(rope.getBuffer("inv_freq")!.dataSync())).toEqual([1, Math.fround(0.01)]);
    rope.dispose();
  });
});

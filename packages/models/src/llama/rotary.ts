/**
 * Rotary position embeddings as transformers implements them for LLaMA (`LlamaRotaryEmbedding`,
 * `rotate_half`, `apply_rotary_pos_emb`; Su et al. 2021, RoFormer section 3.4.2): inverse frequencies
 * θ^(−2i/d), the angle table duplicated over both halves of the head, and x·cos + rotate_half(x)·sin,
 * where rotate_half(x) = [−x₂, x₁] for the halves x₁, x₂ (not interleaved pairs).
 */
import { tf, Module } from "@peftjs/core";
import type { Tensor } from "@peftjs/core";

export class LlamaRotaryEmbedding extends Module {
  constructor(
    readonly headDim: number,
    readonly theta: number,
  ) {
    super();
    // 1 / θ^(2i/d) for i < d/2 (float64 here, float32 in the buffer; transformers computes it in float32).
    const invFreq = Float32Array.from({ length: headDim / 2 }, (_, i) => 1 / Math.pow(theta, (2 * i) / headDim));
    // A buffer, not a parameter: transformers registers inv_freq with persistent=False (not in the state dict).
    this.registerBuffer("inv_freq", tf.tensor1d(invFreq, "float32"));
  }

  /** cos and sin `[b|1, 1, t, headDim]` for int32 position ids `[b|1, t]`. */
  forward(positionIds: Tensor): { cos: Tensor; sin: Tensor } {
    return tf.tidy(() => {
      const invFreq = this.getBuffer("inv_freq")!;
      const freqs = tf.mul(tf.expandDims(tf.cast(positionIds, "float32"), -1), invFreq);
      const emb = tf.expandDims(tf.concat([freqs, freqs], -1), 1);
      return { cos: tf.cos(emb), sin: tf.sin(emb) };
    });
  }
}

/** [−x₂, x₁] for the two halves of the last dim. */
export function rotateHalf(x: Tensor): Tensor {
  const [x1, x2] = tf.split(x, 2, -1) as [Tensor, Tensor];
  return tf.concat([tf.neg(x2), x1], -1);
}

/** x·cos + rotate_half(x)·sin, x `[b, heads, t, headDim]`. */
export function applyRotary(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  return tf.add(tf.mul(x, cos), tf.mul(rotateHalf(x), sin));
}

/**
 * Rotary position embeddings as transformers implements them for LLaMA-style models (`LlamaRotaryEmbedding`,
 * `rotate_half`, `apply_rotary_pos_emb`; Su et al. 2021, RoFormer section 3.4.2): the angle table
 * position · inv_freq duplicated over both halves of the rotated width, and x·cos + rotate_half(x)·sin, where
 * rotate_half(x) = [−x₂, x₁] for the halves x₁, x₂ (not interleaved pairs). With a partial rotary factor
 * (Phi-3) only the first `rotaryDim` channels of a head rotate, the rest pass through (Phi-3's
 * `apply_rotary_pos_emb`). The inverse frequencies of each RoPE type come from rope.ts.
 */
import { tf, Module } from "@peftjs/core";
import type { Tensor } from "@peftjs/core";
import { defaultRope, ropeFrequencies } from "./rope.js";
import type { RopeFrequencies, RopeParameters } from "./rope.js";

export class LlamaRotaryEmbedding extends Module {
  readonly frequencies: RopeFrequencies;
  readonly rope: RopeParameters;

  /** `rope`: θ for the default RoPE, or a full rope_parameters dict (any type of rope.ts). */
  constructor(
    readonly headDim: number,
    rope: number | RopeParameters,
    readonly maxPositionEmbeddings = 2048,
  ) {
    super();
    this.rope = typeof rope === "number" ? defaultRope(rope) : rope;
    this.frequencies = ropeFrequencies(this.rope, headDim, maxPositionEmbeddings);
    // Buffers, not parameters: transformers registers inv_freq with persistent=False (not in the state dict).
    const f = this.frequencies;
    if (f.kind === "static") this.registerBuffer("inv_freq", tf.tensor1d(f.invFreq, "float32"));
    if (f.kind === "longrope") {
      this.registerBuffer("short_inv_freq", tf.tensor1d(f.short, "float32"));
      this.registerBuffer("long_inv_freq", tf.tensor1d(f.long, "float32"));
    }
  }

  /** θ^(−2i/d) for this call: fixed, or from the call's length L = max(position) + 1 (dynamic, longrope). */
  private invFreq(positionIds: Tensor): Tensor {
    const f = this.frequencies;
    if (f.kind === "static") return this.getBuffer("inv_freq")!;
    const seqLen = tf.add(tf.max(tf.cast(positionIds, "float32")), 1);
    if (f.kind === "longrope") {
      // dynamic_rope_update's longrope_frequency_update: long factors once L > original_max_position_embeddings.
      return tf.where(tf.greater(seqLen, f.originalMaxPositionEmbeddings), this.getBuffer("long_inv_freq")!, this.getBuffer("short_inv_freq")!);
    }
    // _compute_dynamic_ntk_parameters: θ' = θ·(factor·L/L₀ − (factor − 1))^(d/(d−2)), L = max(L, L₀).
    const { dim, theta, factor, maxPositionEmbeddings: l0 } = f;
    const len = tf.maximum(seqLen, l0);
    const scaledTheta = tf.mul(theta, tf.pow(tf.sub(tf.mul(factor / l0, len), factor - 1), dim / (dim - 2)));
    const exponents = tf.div(tf.range(0, dim, 2, "float32"), dim);
    return tf.div(1, tf.pow(scaledTheta, exponents));
  }

  /** cos and sin `[b|1, 1, t, rotaryDim]` for int32 position ids `[b|1, t]`. */
  forward(positionIds: Tensor): { cos: Tensor; sin: Tensor } {
    return tf.tidy(() => {
      const freqs = tf.mul(tf.expandDims(tf.cast(positionIds, "float32"), -1), this.invFreq(positionIds));
      const emb = tf.expandDims(tf.concat([freqs, freqs], -1), 1);
      const s = this.frequencies.attentionScaling;
      return s === 1 ? { cos: tf.cos(emb), sin: tf.sin(emb) } : { cos: tf.mul(tf.cos(emb), s), sin: tf.mul(tf.sin(emb), s) };
    });
  }
}

/** [−x₂, x₁] for the two halves of the last dim. */
export function rotateHalf(x: Tensor): Tensor {
  const [x1, x2] = tf.split(x, 2, -1) as [Tensor, Tensor];
  return tf.concat([tf.neg(x2), x1], -1);
}

/**
 * x·cos + rotate_half(x)·sin, x `[b, heads, t, headDim]`. When cos is narrower than the head (partial rotary
 * factor), the first cos-width channels rotate and the rest pass through unchanged.
 */
export function applyRotary(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  const width = cos.shape[cos.rank - 1]!;
  const headDim = x.shape[x.rank - 1]!;
  if (width === headDim) return tf.add(tf.mul(x, cos), tf.mul(rotateHalf(x), sin));
  const [rot, pass] = tf.split(x, [width, headDim - width], -1) as [Tensor, Tensor];
  return tf.concat([tf.add(tf.mul(rot, cos), tf.mul(rotateHalf(rot), sin)), pass], -1);
}

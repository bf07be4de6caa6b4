/**
 * Gradient clipping by global norm, as `torch.nn.utils.clip_grad_norm_` (norm_type 2) does it:
 *   total = ‖(‖g₁‖₂, …, ‖gₙ‖₂)‖₂,  coef = min(1, maxNorm / (total + 1e-6)),  gᵢ ← gᵢ · coef.
 * torch multiplies by the clamped coefficient even when it is 1, and lets a non-finite norm through
 * (error_if_nonfinite=False), so NaN/Inf gradients stay NaN/Inf; the same here. Nothing is read back to
 * the CPU: the norm stays a tensor.
 */
import { tf } from "../tf.js";
import type { Tensor } from "../tf.js";

/** ‖(‖g₁‖₂, …, ‖gₙ‖₂)‖₂ over all gradients (torch computes per-tensor norms, then the norm of those). */
export function globalGradNorm(grads: Iterable<Tensor>): tf.Scalar {
  const list = [...grads];
  if (list.length === 0) throw new Error("globalGradNorm: no gradients given.");
  return tf.tidy(() => {
    const norms = list.map((g) => tf.sqrt(tf.sum(tf.square(g))));
    return tf.sqrt(tf.sum(tf.square(tf.stack(norms)))) as tf.Scalar;
  });
}

export interface ClippedGradients<K> {
  /** New tensors (the caller disposes them); the inputs are not disposed. */
  grads: Map<K, Tensor>;
  /** The norm before clipping (torch's return value). */
  totalNorm: tf.Scalar;
}

/** Scales all gradients by one factor so that their global L2 norm is at most `maxNorm`. */
export function clipGradNorm<K>(grads: Map<K, Tensor>, maxNorm: number): ClippedGradients<K> {
  if (!(Number.isFinite(maxNorm) && maxNorm > 0)) throw new Error(`clipGradNorm: maxNorm must be a finite number > 0, got ${maxNorm}.`);
  const totalNorm = globalGradNorm(grads.values());
  const coef = tf.tidy(() => tf.minimum(tf.div(maxNorm, tf.add(totalNorm, 1e-6)), 1));
  const clipped = new Map<K, Tensor>();
  for (const [k, g] of grads) clipped.set(k, tf.mul(g, coef));
  coef.dispose();
  return { grads: clipped, totalNorm };
}

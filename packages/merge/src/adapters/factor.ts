/**
 * Low-rank factorisation of a merged ΔW for the `*_svd` combination types (peft
 * `_svd_generalized_task_arithmetic_weighted_adapter`, after kohya-ss `svd_merge_lora.py`):
 * U, S, Vᵀ = svd(ΔW); B = U[:, :r]·diag(S[:r]); A = Vᵀ[:r]; optionally clamp both to ± the `clamp` quantile of
 * their joint entries.
 *
 * The SVD runs in float64 on the CPU (tfjs has none). Singular vectors are defined up to sign; B·A is not.
 */
import { tf } from "@peftjs/core";
import type { Tensor } from "@peftjs/core";
import { topSvd } from "@peftjs/lora";

/** torch.quantile's default ("linear"): the value at position q·(n−1) of the sorted values, interpolated. */
export function quantile(values: Float64Array, q: number): number {
  if (!(q >= 0 && q <= 1)) throw new Error(`svdClamp must be a quantile in [0, 1], got ${q}.`);
  const sorted = Float64Array.from(values).sort();
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (pos - lo) * (sorted[hi]! - sorted[lo]!);
}

/** Best rank-`rank` factors of `delta` `[out, in]`: B `[out, rank]`, A `[rank, in]` (float32 tensors). */
export async function svdFactors(delta: Tensor, rank: number, clamp: number | null): Promise<{ a: Tensor; b: Tensor }> {
  const [out, inF] = delta.shape as [number, number];
  const data = Float64Array.from(await delta.data());
  const k = Math.min(rank, out, inF);
  const { u, s, vt } = topSvd(data, out, inF, k);
  const b = new Float64Array(out * rank);
  const a = new Float64Array(rank * inF);
  // B = U·S and A = Vᵀ for the first k components; rows/columns beyond min(out, in) stay zero (PEFT would
  // return smaller factors there; zeros keep the adapter at the rank its config states).
  for (let o = 0; o < out; o++) for (let j = 0; j < k; j++) b[o * rank + j] = u[o * k + j]! * s[j]!;
  for (let j = 0; j < k; j++) for (let i = 0; i < inF; i++) a[j * inF + i] = vt[j * inF + i]!;
  if (clamp !== null) {
    const dist = new Float64Array(out * k + k * inF);
    let n = 0;
    for (let o = 0; o < out; o++) for (let j = 0; j < k; j++) dist[n++] = b[o * rank + j]!;
    for (let j = 0; j < k * inF; j++) dist[n++] = a[j]!;
    const hiVal = quantile(dist, clamp);
    const lowVal = -hiVal;
    const clip = (x: number): number => Math.min(hiVal, Math.max(lowVal, x));
    for (let i = 0; i < b.length; i++) b[i] = clip(b[i]!);
    for (let i = 0; i < a.length; i++) a[i] = clip(a[i]!);
  }
  return { a: tf.tensor2d(Float32Array.from(a), [rank, inF]), b: tf.tensor2d(Float32Array.from(b), [out, rank]) };
}

/**
 * Finiteness checks for safe merging (PEFT `merge(safe_merge=True)`: `torch.isfinite(w).all()`), sync and async.
 *
 * Reading a tensor synchronously (`dataSync`) is not possible everywhere: tfjs's WebGPU backend in Node has no
 * OffscreenCanvas to read through and throws. The sync check turns that failure into `SyncReadError`, which
 * tells the user to call the async API (`PeftModel.mergeAsync`) instead.
 */
import { tf } from "../tf.js";
import type { Tensor } from "../tf.js";

/** The backend cannot read tensor values synchronously (WebGPU in Node); use the async variant named in the message. */
export class SyncReadError extends Error {
  override name = "SyncReadError";
}

/** True when every value of `t` is finite. Sync: on a backend without sync reads it throws `SyncReadError` naming `asyncAlternative`. */
export function allFiniteSync(t: Tensor, asyncAlternative: string): boolean {
  const all = tf.tidy(() => tf.all(tf.isFinite(t)));
  try {
    return all.dataSync()[0] === 1;
  } catch (cause) {
    throw new SyncReadError(
      `The ${tf.getBackend()} backend cannot read tensors synchronously (as WebGPU in Node cannot), which this check needs. Use ${asyncAlternative} instead, or run it on the cpu/wasm backend.`,
      { cause },
    );
  } finally {
    all.dispose();
  }
}

/** True when every value of `t` is finite; reads asynchronously, so it works on every backend. */
export async function allFiniteAsync(t: Tensor): Promise<boolean> {
  const all = tf.tidy(() => tf.all(tf.isFinite(t)));
  try {
    return (await all.data())[0] === 1;
  } finally {
    all.dispose();
  }
}

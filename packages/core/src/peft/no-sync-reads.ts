/**
 * Testing aid: run code on a backend that, like tfjs's WebGPU backend in Node, cannot read tensors
 * synchronously (`dataSync`/`arraySync` throw; `data()`/`array()` work). It is the cpu backend with user-level
 * sync reads blocked, so library code can be checked for GPU-safe reads on a machine without a GPU.
 */
import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import { tf } from "../tf.js";
import type { BackendValues, DataId } from "@tensorflow/tfjs-core";

/** The backend name `withoutSyncReads` switches to. */
export const NO_SYNC_BACKEND = "peftjs-nosync";

let blocking = false;

class NoSyncReadBackend extends MathBackendCPU {
  override readSync(dataId: DataId): BackendValues {
    // Kernels read their inputs synchronously on cpu (bufferSync); only reads from outside a kernel
    // (tensor.dataSync / arraySync) are what a GPU backend refuses.
    if (blocking && tf.engine().state.kernelDepth === 0) {
      throw new Error(`${NO_SYNC_BACKEND}: readSync is not available on this backend (like WebGPU in Node); read with await tensor.data().`);
    }
    return super.readSync(dataId);
  }
  override read(dataId: DataId): Promise<BackendValues> {
    return Promise.resolve(super.readSync(dataId));
  }
}

function register(): void {
  if (tf.findBackend(NO_SYNC_BACKEND) !== null) return;
  tf.registerBackend(NO_SYNC_BACKEND, () => new NoSyncReadBackend(), -1);
  for (const kernel of tf.getKernelsForBackend("cpu")) {
    if (tf.getKernel(kernel.kernelName, NO_SYNC_BACKEND) === undefined) tf.registerKernel({ ...kernel, backendName: NO_SYNC_BACKEND });
  }
}

/**
 * Runs `fn` with the no-sync-read backend active, then switches back to the backend that was active (also
 * when `fn` throws). Tensors made inside stay usable afterwards (they move back on first use).
 */
export async function withoutSyncReads<T>(fn: () => T | Promise<T>): Promise<T> {
  register();
  await tf.ready(); // the engine picks its backend lazily; before that getBackend() is undefined
  const previous = tf.getBackend();
  if (!(await tf.setBackend(NO_SYNC_BACKEND))) throw new Error(`withoutSyncReads: could not start the ${NO_SYNC_BACKEND} backend.`);
  blocking = true;
  try {
    return await fn();
  } finally {
    blocking = false;
    await tf.setBackend(previous);
  }
}

/**
 * Memory figures: the tfjs engine's peak during one profiled training step (`tf.profile().peakBytes`:
 * bytes of live tensors, the counterpart of torch.cuda.max_memory_allocated), and the backend's own
 * allocation (WebGPU buffer manager, wasm heap), the counterpart of max_memory_reserved.
 */
import { backendMemory, tf } from "@peftjs/core";

interface WebGpuBufferManagerLike {
  freeBuffers: Map<string, { size: number; destroy(): void }[]>;
  numFreeBuffers: number;
  numBytesAllocated: number;
}

/**
 * Releases the WebGPU backend's pooled free buffers, so the next method's allocation figure is its own
 * and not the previous method's high-water mark (tfjs pools buffers and never frees them). Reaches into
 * tfjs-backend-webgpu 4.22's BufferManager; a no-op on other backends or other versions.
 */
export async function releasePooledBuffers(): Promise<void> {
  if (tf.getBackend() !== "webgpu") return;
  const backend = tf.backend() as unknown as { bufferManager?: WebGpuBufferManagerLike; device?: { queue?: { onSubmittedWorkDone?: () => Promise<void> } } };
  const manager = backend.bufferManager;
  if (manager === undefined || !(manager.freeBuffers instanceof Map)) return;
  // Pooled buffers may still be read by submitted work; let the queue drain first.
  await backend.device?.queue?.onSubmittedWorkDone?.();
  for (const [, buffers] of manager.freeBuffers) {
    for (const b of buffers) {
      manager.numBytesAllocated -= b.size;
      b.destroy();
    }
    buffers.length = 0;
  }
  manager.numFreeBuffers = 0;
}

/** The backend's own allocated bytes (WebGPU buffers incl. pool, wasm heap); null on cpu. */
export function backendAllocatedBytes(): number | null {
  const m = backendMemory();
  return m.gpuBytesAllocated ?? m.wasmHeapBytes ?? null;
}

/** Peak live-tensor bytes while `f` runs (tf.profile; on GPUs the kernels are also timed, so call it outside timed loops). */
export async function profiledPeakBytes(f: () => Promise<unknown>): Promise<number> {
  try {
    const info = await tf.profile(async () => {
      await f();
      return [];
    });
    return info.peakBytes;
  } finally {
    // tf.profile leaves the engine in profiling mode when its function throws; every later kernel would
    // then be profiled (and read back). Put it back.
    const state = (tf.engine() as unknown as { state: { profiling: boolean; activeProfile: { kernels: unknown[] } } }).state;
    state.profiling = false;
    state.activeProfile.kernels = [];
  }
}

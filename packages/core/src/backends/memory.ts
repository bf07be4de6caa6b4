/** Memory figures: `tf.memory()` plus what the backend reports of its own (GPU buffers, wasm heap). */
import { tf } from "../tf.js";

export interface BackendMemory {
  backend: string;
  /** Tensors alive in the engine (the leak counter). */
  numTensors: number;
  numDataBuffers: number;
  /** Bytes of tensor data the engine tracks. */
  numBytes: number;
  /** tfjs's flag: the numbers may miss memory (e.g. string tensors). */
  unreliable: boolean;
  /** WebGPU/WebGL: bytes of GPU buffers in use by tensors. */
  gpuBytesInUse?: number;
  /** WebGPU: bytes of GPU buffers allocated, including the buffer manager's free pool. */
  gpuBytesAllocated?: number;
  /** wasm: size of the WebAssembly heap (it grows, never shrinks). */
  wasmHeapBytes?: number;
}

/** `tf.memory()` plus the backend's own figures where it reports them. */
export function backendMemory(): BackendMemory {
  const m = tf.memory() as ReturnType<typeof tf.memory> & { numBytesInGPU?: number; numBytesAllocatedInGPU?: number };
  const out: BackendMemory = {
    backend: tf.getBackend(),
    numTensors: m.numTensors,
    numDataBuffers: m.numDataBuffers,
    numBytes: m.numBytes,
    unreliable: m.unreliable === true,
  };
  if (typeof m.numBytesInGPU === "number") out.gpuBytesInUse = m.numBytesInGPU;
  if (typeof m.numBytesAllocatedInGPU === "number") out.gpuBytesAllocated = m.numBytesAllocatedInGPU;
  const heap = (tf.backend() as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8?.buffer.byteLength;
  if (typeof heap === "number") out.wasmHeapBytes = heap;
  return out;
}

/**
 * Every kernel core registers, in one place (tfjs's `register_all_kernels.ts` pattern). `selectBackend` calls
 * `registerKernels` for the backend it picked; call it yourself after setting a backend another way
 * (`tf.setBackend("wasm")`). A kernel the backend already has (a newer tfjs) is left alone.
 */
import { tf } from "../tf.js";
import { UNSORTED_SEGMENT_SUM_WASM } from "./unsorted-segment-sum-wasm.js";

/** Kernels core adds where a backend lacks them, with why. */
const KERNELS: readonly { config: tf.KernelConfig; why: string }[] = [{ config: UNSORTED_SEGMENT_SUM_WASM, why: "the embedding gradient (tf.gather's backward) on wasm" }];

/**
 * Registers core's kernels for `backendName` (default: the active backend) where that backend lacks them.
 * Returns what was added ("UnsortedSegmentSum on wasm (via ScatterNd)"), empty when nothing was needed.
 */
export function registerKernels(backendName: string = tf.getBackend()): string[] {
  const added: string[] = [];
  for (const { config } of KERNELS) {
    if (config.backendName !== backendName || tf.getKernel(config.kernelName, backendName) !== undefined) continue;
    tf.registerKernel(config);
    added.push(`${config.kernelName} on ${backendName}`);
  }
  return added;
}

/** The kernels core may register: name, backend and what needs it. */
export function coreKernels(): { kernelName: string; backendName: string; why: string }[] {
  return KERNELS.map(({ config, why }) => ({ kernelName: config.kernelName, backendName: config.backendName, why }));
}

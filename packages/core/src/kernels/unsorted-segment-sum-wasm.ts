/**
 * `UnsortedSegmentSum` for tfjs-backend-wasm 4.22, which lacks it. `GatherV2`'s gradient (the backward pass
 * of an embedding lookup, `tf.gather`) calls it, so without it training anything that reaches an embedding
 * table on wasm fails with "Kernel 'UnsortedSegmentSum' not registered for backend 'wasm'". wasm's `ScatterNd`
 * sums updates that land on the same index — exactly an unsorted segment sum (tf.math.unsorted_segment_sum:
 * out[s] = Σ_{i: ids[i] = s} x[i]) — so the kernel forwards to it, viewing the segment ids as `[..., 1]`
 * indices without a copy.
 */
import { tf } from "../tf.js";

export const UNSORTED_SEGMENT_SUM_WASM: tf.KernelConfig = {
  kernelName: "UnsortedSegmentSum",
  backendName: "wasm",
  kernelFunc: ({ inputs, attrs, backend }) => {
    const scatterNd = tf.getKernel("ScatterNd", "wasm");
    if (scatterNd === undefined) throw new Error("UnsortedSegmentSum on wasm needs the wasm backend's ScatterNd kernel, which is not registered (tfjs-backend-wasm 4.x has it).");
    const x = inputs.x!;
    const segmentIds = inputs.segmentIds!;
    const numSegments = (attrs as { numSegments: number }).numSegments;
    // ScatterNd reads its inputs by data id: the segment ids viewed as [..., 1] indices need no copy.
    const indices = { dataId: segmentIds.dataId, shape: [...segmentIds.shape, 1], dtype: segmentIds.dtype };
    return scatterNd.kernelFunc({
      inputs: { indices, updates: x },
      attrs: { shape: [numSegments, ...x.shape.slice(segmentIds.shape.length)] },
      backend,
    });
  },
};

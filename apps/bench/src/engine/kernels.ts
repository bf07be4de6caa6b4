/**
 * Kernels a backend lacks that training needs. tfjs-backend-wasm 4.22 has no `UnsortedSegmentSum`, which
 * `GatherV2`'s gradient (the embedding lookup's backward pass) calls, so full fine-tuning — the only
 * method here that trains the embeddings — fails on wasm with "Kernel 'UnsortedSegmentSum' not
 * registered". wasm's `ScatterNd` sums updates that land on the same index, which is exactly an unsorted
 * segment sum, so the missing kernel forwards to it. Registered only where missing; this belongs in
 * @peftjs/core's backend setup and goes away once core registers it.
 */
import { tf } from "@peftjs/core";

export function ensureTrainingKernels(backendName: string): string[] {
  const added: string[] = [];
  if (backendName === "wasm" && tf.getKernel("UnsortedSegmentSum", "wasm") === undefined) {
    const scatterNd = tf.getKernel("ScatterNd", "wasm");
    if (scatterNd === undefined) return added;
    tf.registerKernel({
      kernelName: "UnsortedSegmentSum",
      backendName: "wasm",
      kernelFunc: ({ inputs, attrs, backend }) => {
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
    });
    added.push("UnsortedSegmentSum on wasm (via ScatterNd)");
  }
  return added;
}

/** A hand-written results.json (not produced by the code under test) for schema and report tests. */
import type { BenchResults } from "../src/results.js";

const summary = { n: 3, median: 2, p10: 1.2, p90: 2.8, mean: 2, min: 1, max: 3 };
const shape = { family: "gpt2", nLayer: 1, nEmbd: 8, nHead: 2, vocabSize: 10, nPositions: 16, params: 1000, origin: "random init" };

/** A hand-written results.json with one method (not produced by the code under test). */
export function sampleResults(): Record<string, unknown> {
  return {
    schemaVersion: 1,
    createdAt: "2026-01-01T00:00:00.000Z",
    totalSeconds: 12.5,
    provenance: {
      gitSha: null,
      gitShaSource: "unknown",
      packages: { "@peftjs/core": "0.1.0" },
      node: "v20.0.0",
      platform: "linux",
      arch: "x64",
      cpu: { model: "cpu", count: 2 },
      backend: "cpu",
      backendNotes: [],
      adapter: null,
      gpu: { name: "NVIDIA H100 80GB HBM3", driver: "580.1", memoryMiB: 81559 },
      command: ["bench"],
      bundled: false,
    },
    config: {
      preset: "smoke",
      seed: 0,
      timing: { model: shape, batch: 2, seq: 8, warmupSteps: 1, steps: 3, inferenceReps: 2, mergeReps: 2 },
      quality: { model: shape, dataset: "synthetic", batch: 4, seq: 12, pretrainSteps: 4, steps: 3, heldOutExamples: 8 },
    },
    base: { pretrain: { steps: 4, seconds: 0.5, finalTrainLoss: 2.3, heldOutLoss: 2.4, heldOutAccuracy: 0.2 }, inferenceMs: { batch1: summary, batch8: summary } },
    methods: [
      {
        name: "lora",
        label: "LoRA",
        config: "r=8",
        peftConfig: { peft_type: "LORA", r: 8 },
        learningRate: 0.002,
        trainable: { params: 100, total: 1100, percent: 9.09 },
        adapterFileBytes: 512,
        training: {
          batch: 2,
          seq: 8,
          warmupSteps: 1,
          firstStepMs: 40,
          stepMs: summary,
          tokensPerSecond: 8000,
          peakBytes: 4096,
          backendPeakBytes: null,
          numTensors: { afterFirstTimedStep: 50, afterLastStep: 50, drift: 0 },
        },
        quality: {
          trainable: { params: 100, total: 1100, percent: 9.09 },
          steps: 3,
          batch: 4,
          learningRate: 0.002,
          finalTrainLoss: 2.2,
          heldOutLoss: 2.3,
          heldOutAccuracy: 0.25,
          heldOutExactMatch: 0,
          seconds: 0.3,
        },
        inferenceUnmergedMs: { batch1: summary, batch8: summary },
        inferenceMergedMs: { batch1: summary, batch8: summary },
        merge: { mergeMs: summary, unmergeMs: summary, maxAbsLogitDiff: 1e-7 },
        error: null,
      },
    ],
    peer: { status: "unavailable", reason: "python3 lacks torch" },
    combination: null,
    notes: [],
  };
}


export function sampleBenchResults(): BenchResults {
  return sampleResults() as unknown as BenchResults;
}

/**
 * The shape of `results.json` (schema in `schema.ts`, documented in the app's README). Field names say
 * their unit: `…Ms` milliseconds, `…Bytes` bytes, `…Seconds` seconds.
 */
import type { Summary } from "./stats.js";

export const RESULTS_SCHEMA_VERSION = 1;

export interface ModelShape {
  family: "gpt2";
  nLayer: number;
  nEmbd: number;
  nHead: number;
  vocabSize: number;
  nPositions: number;
  /** Parameter count of the base model (tied weights once). */
  params: number;
  /** "random init", "random init + pre-training on …" or "checkpoint <dir>". */
  origin: string;
}

export interface TrainableCount {
  params: number;
  total: number;
  /** 100 · params / total. */
  percent: number;
}

export interface LatencyPair {
  batch1: Summary;
  batch8: Summary;
}

export interface TrainingTiming {
  batch: number;
  seq: number;
  warmupSteps: number;
  /** The first step alone: graph tracing, shader compilation, first allocations. */
  firstStepMs: number;
  /** Steps after warm-up; each forced to complete by reading the loss. */
  stepMs: Summary;
  /** batch · seq / median step time. */
  tokensPerSecond: number;
  /** tfjs engine bytes at the peak of one profiled step (`tf.profile().peakBytes`). */
  peakBytes: number;
  /** The backend's own figure (WebGPU buffer manager) after the steps; null where the backend has none. */
  backendPeakBytes: number | null;
  numTensors: {
    afterFirstTimedStep: number;
    afterLastStep: number;
    /** afterLastStep − afterFirstTimedStep: should be 0 (no leak). */
    drift: number;
  };
}

export interface QualityResult {
  trainable: TrainableCount;
  steps: number;
  batch: number;
  learningRate: number;
  /** Mean training loss over the last 10% of steps. */
  finalTrainLoss: number;
  /** Mean cross-entropy over the held-out answer positions. */
  heldOutLoss: number;
  /** Next-token (argmax) accuracy over the held-out answer positions, 0–1. */
  heldOutAccuracy: number;
  /** Fraction of held-out sequences whose every answer token is right, 0–1. */
  heldOutExactMatch: number;
  seconds: number;
}

export interface MergeTiming {
  mergeMs: Summary;
  unmergeMs: Summary;
  /** Largest |logits(merged) − logits(unmerged)| on one batch: merging must not change the function. */
  maxAbsLogitDiff: number;
}

export interface MethodResult {
  /** Registry name ("lora", "dora", …) or "full". */
  name: string;
  /** Display name: "LoRA", "full fine-tuning". */
  label: string;
  /** The stated configuration, human-readable: "r=8, α=16, c_attn,c_proj,c_fc". */
  config: string;
  /** adapter_config.json as PEFT writes it; null for full fine-tuning. */
  peftConfig: Record<string, unknown> | null;
  learningRate: number;
  /** On the timing model. */
  trainable: TrainableCount | null;
  /** Bytes of adapter_model.safetensors (full fine-tuning: the whole model's weights). */
  adapterFileBytes: number | null;
  training: TrainingTiming | null;
  quality: QualityResult | null;
  /** Forward-pass latency on the timing model with the adapter active but not merged. */
  inferenceUnmergedMs: LatencyPair | null;
  /** The same after merging; null for methods that cannot merge and for full fine-tuning. */
  inferenceMergedMs: LatencyPair | null;
  merge: MergeTiming | null;
  /** Set when a phase of this method failed; the run goes on with the next method. */
  error: string | null;
}

export interface Provenance {
  gitSha: string | null;
  /** Where the sha came from: ".git", "env PEFTJS_GIT_SHA", "bundle" or "unknown". */
  gitShaSource: string;
  packages: Record<string, string>;
  node: string;
  platform: string;
  arch: string;
  cpu: { model: string; count: number };
  backend: string;
  /** Why the backend was picked and why others were skipped. */
  backendNotes: string[];
  /** WebGPU adapter info; null on other backends. */
  adapter: { vendor: string; architecture: string; device: string; description: string } | null;
  /** From PEFTJS_GPU_NAME or `nvidia-smi`; null without an NVIDIA card. */
  gpu: { name: string; driver: string | null; memoryMiB: number | null } | null;
  command: string[];
  bundled: boolean;
}

export interface PeerMethodResult {
  name: string;
  config: string;
  trainable: TrainableCount;
  adapterFileBytes: number | null;
  training: {
    batch: number;
    seq: number;
    warmupSteps: number;
    firstStepMs: number;
    stepMs: Summary;
    tokensPerSecond: number;
    /** torch.cuda.max_memory_allocated over the steps (live tensors); null on cpu. */
    peakBytes: number | null;
    /** torch.cuda.max_memory_reserved (the caching allocator's pool); null on cpu. */
    reservedBytes: number | null;
  };
  inferenceUnmergedMs: LatencyPair | null;
  inferenceMergedMs: LatencyPair | null;
  merge: { mergeMs: Summary; unmergeMs: Summary } | null;
  error: string | null;
}

/** What `peer/peer.py` writes. */
export interface PeerResults {
  schemaVersion: number;
  tool: string;
  versions: Record<string, string>;
  device: string;
  deviceName: string;
  dtype: string;
  attnImplementation: string;
  baseInferenceMs: LatencyPair | null;
  methods: PeerMethodResult[];
}

export type PeerSection = { status: "ok"; source: string; results: PeerResults } | { status: "unavailable"; reason: string };

export interface BenchResults {
  schemaVersion: number;
  createdAt: string;
  totalSeconds: number;
  provenance: Provenance;
  config: {
    preset: string;
    seed: number;
    timing: { model: ModelShape; batch: number; seq: number; warmupSteps: number; steps: number; inferenceReps: number; mergeReps: number };
    quality: {
      model: ModelShape;
      dataset: string;
      batch: number;
      seq: number;
      pretrainSteps: number;
      steps: number;
      heldOutExamples: number;
    };
  };
  /** The shared base model: its pre-training and its inference latency. */
  base: {
    pretrain: { steps: number; seconds: number; finalTrainLoss: number | null; heldOutLoss: number; heldOutAccuracy: number };
    inferenceMs: LatencyPair | null;
  };
  methods: MethodResult[];
  peer: PeerSection | null;
  /** Adapter-combination benchmarks (filled once a merge package is registered); null until then. */
  combination: null | { note: string };
  notes: string[];
}

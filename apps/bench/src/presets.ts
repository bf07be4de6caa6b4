/**
 * Run sizes. Each preset fixes the timing model (the shape step time, memory, inference and merge are
 * measured on) and the quality setup (the model, data and step budget held-out loss and accuracy come
 * from). On a GPU the timing model is GPT-2 small's shape; quality uses a smaller GPT-2 that learns the
 * synthetic task within the budget (stated in the report).
 */
import type { BackendName, CliOptions, PresetName } from "./args.js";
import type { SyntheticTaskOptions } from "./data/synthetic.js";

export interface Gpt2Shape {
  nLayer: number;
  nEmbd: number;
  nHead: number;
  /** null: the dataset's vocabulary size. */
  vocabSize: number | null;
  nPositions: number;
}

/** The synthetic task's shape; the seed comes from the command line. */
export type SyntheticSpec = Omit<SyntheticTaskOptions, "seed">;

export interface Preset {
  name: PresetName;
  timing: {
    model: Gpt2Shape;
    batch: number;
    seq: number;
    warmupSteps: number;
    steps: number;
    inferenceReps: number;
    mergeReps: number;
  };
  quality: {
    model: Gpt2Shape;
    synthetic: SyntheticSpec;
    /** Sequence length for a local dataset (the synthetic task fixes its own). */
    localSeq: number;
    batch: number;
    pretrainSteps: number;
    pretrainLr: number;
    steps: number;
  };
}

const SYNTHETIC: SyntheticSpec = {
  numSymbols: 10,
  length: 8,
  sourceTasks: ["copy", "shift", "sort"],
  targetTask: "reverse",
  sourceSize: 20_000,
  trainSize: 4_000,
  heldOutSize: 256,
};

export const PRESETS: Record<PresetName, Preset> = {
  smoke: {
    name: "smoke",
    timing: { model: { nLayer: 1, nEmbd: 32, nHead: 2, vocabSize: null, nPositions: 32 }, batch: 2, seq: 12, warmupSteps: 1, steps: 3, inferenceReps: 2, mergeReps: 2 },
    quality: {
      model: { nLayer: 1, nEmbd: 32, nHead: 2, vocabSize: null, nPositions: 32 },
      synthetic: { ...SYNTHETIC, numSymbols: 6, length: 4, sourceSize: 64, trainSize: 32, heldOutSize: 8 },
      localSeq: 16,
      batch: 4,
      pretrainSteps: 4,
      pretrainLr: 3e-3,
      steps: 3,
    },
  },
  tiny: {
    name: "tiny",
    timing: { model: { nLayer: 2, nEmbd: 64, nHead: 4, vocabSize: null, nPositions: 64 }, batch: 8, seq: 32, warmupSteps: 3, steps: 20, inferenceReps: 10, mergeReps: 5 },
    quality: {
      model: { nLayer: 2, nEmbd: 64, nHead: 4, vocabSize: null, nPositions: 64 },
      synthetic: SYNTHETIC,
      localSeq: 64,
      batch: 16,
      pretrainSteps: 300,
      pretrainLr: 3e-3,
      steps: 150,
    },
  },
  // Sized so that the whole run, with the PyTorch + PEFT peer, fits one 10-minute GPU-host call. On
  // WebGPU a training step of a small model costs about 0.35 s whatever its width (kernel dispatch, not
  // arithmetic, dominates: measured on an H100), so the quality phase uses the tiny model with a larger
  // batch rather than more steps.
  small: {
    name: "small",
    timing: { model: { nLayer: 12, nEmbd: 768, nHead: 12, vocabSize: 50257, nPositions: 1024 }, batch: 8, seq: 256, warmupSteps: 2, steps: 8, inferenceReps: 5, mergeReps: 5 },
    quality: {
      model: { nLayer: 2, nEmbd: 64, nHead: 4, vocabSize: null, nPositions: 64 },
      synthetic: SYNTHETIC,
      localSeq: 128,
      batch: 64,
      pretrainSteps: 300,
      pretrainLr: 3e-3,
      steps: 60,
    },
  },
};

/** tiny on cpu/wasm, small (GPT-2-small shape) on a GPU backend. */
export function defaultPresetName(backend: BackendName, isGpu: boolean): PresetName {
  return isGpu || backend === "webgpu" || backend === "tensorflow" ? "small" : "tiny";
}

/** The preset with the command line's overrides (steps, warm-up, quality and pre-training steps) applied. */
export function resolvePreset(name: PresetName, o: Pick<CliOptions, "steps" | "warmup" | "qualitySteps" | "pretrainSteps">): Preset {
  const base = PRESETS[name];
  return {
    ...base,
    timing: { ...base.timing, steps: o.steps ?? base.timing.steps, warmupSteps: o.warmup ?? base.timing.warmupSteps },
    quality: { ...base.quality, steps: o.qualitySteps ?? base.quality.steps, pretrainSteps: o.pretrainSteps ?? base.quality.pretrainSteps },
  };
}

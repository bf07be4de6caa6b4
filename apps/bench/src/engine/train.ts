/**
 * Training through core's `train` loop (transformers Trainer semantics: AdamW, clip at 1.0), timed per
 * step. Every step reads its loss back (`train` does `await data()` each step), so on a GPU a step's
 * time covers its whole execution, not just the kernel launches.
 */
import { AdamW, tf, train } from "@peftjs/core";
import type { Module, Variable } from "@peftjs/core";
import type { ModelInputs, ModelOutput } from "@peftjs/core";
import type { TokenBatch } from "../data/batches.js";

/** Anything with the model contract's forward: a GPT2LMHeadModel or a PeftModel around one. */
export interface LmLike {
  forward(inputs: ModelInputs): ModelOutput;
}

/** The causal-LM loss of one batch (labels shifted inside the model, -100 ignored). */
export function batchLoss(model: LmLike, batch: TokenBatch): tf.Scalar {
  return tf.tidy(() => {
    const inputIds = tf.tensor2d(batch.inputIds, [batch.batch, batch.seq], "int32");
    const labels = tf.tensor2d(batch.labels, [batch.batch, batch.seq], "int32");
    const out = model.forward({ inputIds, labels });
    if (out.loss === undefined) throw new Error("The model returned no loss for labelled inputs.");
    for (const [k, v] of Object.entries(out)) if (k !== "loss" && v instanceof tf.Tensor) v.dispose();
    return out.loss as tf.Scalar;
  });
}

export interface TrainRunOptions {
  /** The module whose trainable parameters train (a PeftModel, or the model itself for full fine-tuning). */
  module: Module;
  forward: LmLike;
  params: Variable[];
  batches: (step: number) => TokenBatch;
  steps: number;
  lr: number;
  /** "constant" for timing; "linear" decay with warm-up for quality runs. */
  schedule: "constant" | "linear";
  warmupSteps?: number;
  optimizer?: AdamW;
  onStep?: (info: { step: number; loss: number; stepMs: number; numTensors: number }) => void;
}

export interface TrainRun {
  losses: number[];
  stepMs: number[];
  numTensors: number[];
  totalMs: number;
}

export async function runTraining(o: TrainRunOptions): Promise<TrainRun> {
  const run: TrainRun = { losses: [], stepMs: [], numTensors: [], totalMs: 0 };
  const result = await train({
    model: o.module,
    params: o.params,
    ...(o.optimizer === undefined ? { lr: o.lr, weightDecay: 0 } : { optimizer: o.optimizer }),
    loss: (batch: TokenBatch) => batchLoss(o.forward, batch),
    batches: (i: number) => o.batches(i),
    steps: o.steps,
    schedule: o.schedule,
    warmupSteps: o.warmupSteps ?? 0,
    maxGradNorm: 1.0,
    onStep: (info) => {
      run.losses.push(info.loss);
      run.stepMs.push(info.stepMs);
      run.numTensors.push(info.numTensors);
      o.onStep?.(info);
    },
  });
  run.totalMs = result.totalMs;
  const bad = run.losses.findIndex((l) => !Number.isFinite(l));
  if (bad >= 0) throw new Error(`training diverged: the loss at step ${bad + 1} is ${run.losses[bad]}; lower the learning rate (${o.lr}).`);
  return run;
}

/** An AdamW over `params` with the bench's settings (no weight decay, torch defaults otherwise). */
export function makeOptimizer(params: Variable[], lr: number): AdamW {
  return new AdamW(params, { lr, weightDecay: 0 });
}

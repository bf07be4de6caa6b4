/**
 * The quality phase: one shared base model (a loaded checkpoint, or a random GPT-2 pre-trained on the
 * dataset's source split), then every method adapts a fresh copy of it to the target split with the same
 * step budget, data order and seeds, and is scored on the held-out split.
 */
import { tf } from "@peftjs/core";
import type { Tensor } from "@peftjs/core";
import type { GPT2Config } from "@peftjs/models";
import { batchStream } from "../data/batches.js";
import type { Dataset } from "../data/example.js";
import { applyVariant } from "../engine/apply.js";
import { evaluate } from "../engine/evaluate.js";
import { cloneWeights, describeModel, instantiate } from "../engine/model.js";
import { runTraining } from "../engine/train.js";
import type { BenchVariant } from "../methods.js";
import type { Preset } from "../presets.js";
import type { Progress } from "../progress.js";
import type { BenchResults, ModelShape, QualityResult } from "../results.js";
import { mean } from "../stats.js";

export interface QualityContext {
  dataset: Dataset;
  config: GPT2Config;
  /** Checkpoint weights, or null for a random init. */
  checkpoint: Map<string, Tensor> | null;
  checkpointOrigin: string | null;
  preset: Preset;
  seed: number;
  progress: Progress;
  warn: (message: string) => void;
}

export interface QualityBase {
  weights: Map<string, Tensor>;
  model: ModelShape;
  pretrain: BenchResults["base"]["pretrain"];
}

const EVAL_BATCH = 64;

export async function prepareBase(ctx: QualityContext): Promise<QualityBase> {
  const q = ctx.preset.quality;
  const model = instantiate(ctx.config, ctx.seed, ctx.checkpoint);
  try {
    const steps = ctx.dataset.source.length > 0 ? q.pretrainSteps : 0;
    let finalTrainLoss: number | null = null;
    const t0 = performance.now();
    if (steps > 0) {
      model.requiresGrad(true);
      const next = batchStream(ctx.dataset.source, q.batch, ctx.seed);
      ctx.progress.begin("pre-training the base", steps);
      const run = await runTraining({
        module: model,
        forward: model,
        params: model.trainableParameters(),
        batches: () => next(),
        steps,
        lr: q.pretrainLr,
        schedule: "linear",
        warmupSteps: Math.ceil(steps * 0.05),
        onStep: (i) => ctx.progress.tick(1, `loss ${i.loss.toFixed(3)}`),
      });
      ctx.progress.end();
      finalTrainLoss = mean(run.losses.slice(-Math.max(1, Math.ceil(steps / 10))));
    }
    const seconds = (performance.now() - t0) / 1000;
    const metrics = await evaluate(model, ctx.dataset.heldOut, EVAL_BATCH);
    const start = ctx.checkpointOrigin ?? "random init";
    const origin = steps > 0 ? `${start} + ${steps} pre-training steps on the source split` : start;
    return {
      weights: cloneWeights(model),
      model: describeModel(model, origin),
      pretrain: { steps, seconds, finalTrainLoss, heldOutLoss: metrics.loss, heldOutAccuracy: metrics.accuracy },
    };
  } finally {
    model.dispose();
  }
}

export async function qualityOf(v: BenchVariant, base: QualityBase, ctx: QualityContext): Promise<QualityResult> {
  const q = ctx.preset.quality;
  const before = tf.memory().numTensors;
  const model = instantiate(ctx.config, ctx.seed + 1, base.weights);
  // The PeftModel, when there is one: disposing it also frees what it holds outside the model (prompt encoders).
  let owner: { dispose(): void } = model;
  try {
    const tuned = applyVariant(model, v, ctx.warn);
    owner = tuned.peft ?? model;
    const next = batchStream(ctx.dataset.train, q.batch, ctx.seed + 2);
    const t0 = performance.now();
    ctx.progress.begin(`quality · ${v.label}`, q.steps);
    const run = await runTraining({
      module: tuned.module,
      forward: tuned.module,
      params: tuned.params,
      batches: () => next(),
      steps: q.steps,
      lr: v.learningRate,
      schedule: "linear",
      warmupSteps: Math.ceil(q.steps * 0.1),
      onStep: (i) => ctx.progress.tick(1, `loss ${i.loss.toFixed(3)}`),
    });
    ctx.progress.end();
    const metrics = await evaluate(tuned.module, ctx.dataset.heldOut, EVAL_BATCH);
    return {
      trainable: tuned.trainable,
      steps: q.steps,
      batch: q.batch,
      learningRate: v.learningRate,
      finalTrainLoss: mean(run.losses.slice(-Math.max(1, Math.ceil(q.steps / 10)))),
      heldOutLoss: metrics.loss,
      heldOutAccuracy: metrics.accuracy,
      heldOutExactMatch: metrics.exactMatch,
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    ctx.progress.end();
    owner.dispose();
    const leaked = tf.memory().numTensors - before;
    if (leaked > 0) ctx.warn(`quality · ${v.name}: ${leaked} tensors were still alive after the model was disposed (a leak).`);
  }
}

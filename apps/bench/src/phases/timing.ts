/**
 * The timing phase, on the timing model (GPT-2 small's shape on a GPU): per method, trainable parameters,
 * adapter file size, training step time (first step alone, warm-up excluded, then timed steps), peak
 * memory, tensor-count drift, inference latency unmerged vs merged at batch 1 and 8, merge and unmerge
 * time. Every method starts from the same seeded weights and the same batch.
 */
import { tf } from "@peftjs/core";
import type { Tensor } from "@peftjs/core";
import type { GPT2Config } from "@peftjs/models";
import type { TokenBatch } from "../data/batches.js";
import { adapterFileBytes, applyVariant, mergeProbe } from "../engine/apply.js";
import { idsBatch, latencyPair, maxAbsLogitDiff, mergeTimes } from "../engine/inference.js";
import { backendAllocatedBytes, profiledPeakBytes, releasePooledBuffers } from "../engine/memory.js";
import { instantiate } from "../engine/model.js";
import { makeOptimizer, runTraining } from "../engine/train.js";
import type { BenchVariant } from "../methods.js";
import type { Preset } from "../presets.js";
import type { Progress } from "../progress.js";
import type { LatencyPair, MethodResult } from "../results.js";
import { summarize } from "../stats.js";

export interface TimingContext {
  config: GPT2Config;
  checkpoint: Map<string, Tensor> | null;
  preset: Preset;
  /** The batch every training step uses (random tokens; content does not change the cost). */
  batch: TokenBatch;
  seed: number;
  progress: Progress;
  warn: (message: string) => void;
}

type TimingFields = Pick<MethodResult, "trainable" | "adapterFileBytes" | "training" | "inferenceUnmergedMs" | "inferenceMergedMs" | "merge" | "peftConfig">;

function inferenceIds(ctx: TimingContext): [Tensor, Tensor] {
  const { batch, seq, inputIds } = ctx.batch;
  return [idsBatch(inputIds, batch, seq, 1), idsBatch(inputIds, batch, seq, 8)];
}

/** Base-model latency (no adapter): the reference the unmerged and merged rows compare with. */
export async function baseLatency(ctx: TimingContext): Promise<LatencyPair> {
  await releasePooledBuffers();
  const model = instantiate(ctx.config, ctx.seed, ctx.checkpoint);
  const [b1, b8] = inferenceIds(ctx);
  try {
    ctx.progress.phase("inference · base model");
    return await latencyPair(model, b1, b8, ctx.preset.timing.inferenceReps);
  } finally {
    tf.dispose([b1, b8]);
    model.dispose();
  }
}

export async function timingOf(v: BenchVariant, ctx: TimingContext): Promise<TimingFields> {
  const t = ctx.preset.timing;
  await releasePooledBuffers();
  const model = instantiate(ctx.config, ctx.seed, ctx.checkpoint);
  const [b1, b8] = inferenceIds(ctx);
  const tuned = applyVariant(model, v, ctx.warn);
  const optimizer = makeOptimizer(tuned.params, v.learningRate);
  try {
    const fileBytes = await adapterFileBytes(model, tuned);
    const total = 1 + t.warmupSteps + t.steps;
    ctx.progress.begin(`timing · ${v.label}`, total);
    const run = await runTraining({
      module: tuned.module,
      forward: tuned.module,
      params: tuned.params,
      optimizer,
      batches: () => ctx.batch,
      steps: total,
      lr: v.learningRate,
      schedule: "constant",
      onStep: (i) => ctx.progress.tick(1, `${i.stepMs.toFixed(1)} ms`),
    });
    ctx.progress.end();
    const timed = run.stepMs.slice(1 + t.warmupSteps);
    const stepMs = summarize(timed);
    const afterFirstTimed = run.numTensors[1 + t.warmupSteps]!;
    const afterLast = run.numTensors[run.numTensors.length - 1]!;
    // One more step under tf.profile for the peak of live tensors (kept out of the timed steps: profiling
    // reads every kernel's output back).
    const oneStep = () =>
      runTraining({ module: tuned.module, forward: tuned.module, params: tuned.params, optimizer, batches: () => ctx.batch, steps: 1, lr: v.learningRate, schedule: "constant" });
    let peakBytes: number;
    try {
      peakBytes = await profiledPeakBytes(oneStep);
    } catch (e) {
      // Profiling times every kernel (GPU timestamp queries); if the backend cannot, report the bytes
      // alive between steps instead — a lower bound — and say so.
      ctx.warn(`timing · ${v.name}: tf.profile failed (${(e as Error).message}); peak memory is the live bytes between steps (a lower bound).`);
      peakBytes = tf.memory().numBytes;
    }
    const backendPeakBytes = backendAllocatedBytes();

    ctx.progress.phase(`inference · ${v.label}`);
    let inferenceUnmergedMs: LatencyPair | null = null;
    let inferenceMergedMs: LatencyPair | null = null;
    let merge: MethodResult["merge"] = null;
    if (tuned.peft === null) {
      // Full fine-tuning leaves a plain model: its latency is the base model's, measured once.
      inferenceUnmergedMs = await latencyPair(model, b1, b8, t.inferenceReps);
    } else {
      const peft = tuned.peft;
      inferenceUnmergedMs = await latencyPair(peft, b1, b8, t.inferenceReps);
      const probe = mergeProbe(tuned);
      // Methods that cannot merge (bottleneck adapters: a non-linearity between the projections) say so in their `canMerge`.
      if (peft.adapterNames().every((n) => peft.methodOf(n).canMerge) && probe !== null) {
        const times = await mergeTimes(peft, probe, t.mergeReps);
        peft.eval();
        const unmerged = (): Tensor => peft.forward({ inputIds: b1 }).logits;
        const before = tf.tidy(unmerged);
        peft.merge();
        inferenceMergedMs = await latencyPair(peft, b1, b8, t.inferenceReps);
        const diff = await maxAbsLogitDiff(() => tf.clone(before), unmerged);
        before.dispose();
        peft.unmerge();
        merge = { ...times, maxAbsLogitDiff: diff };
      }
    }
    return {
      trainable: tuned.trainable,
      peftConfig: tuned.peftConfig,
      adapterFileBytes: fileBytes,
      training: {
        batch: ctx.batch.batch,
        seq: ctx.batch.seq,
        warmupSteps: t.warmupSteps,
        firstStepMs: run.stepMs[0]!,
        stepMs,
        tokensPerSecond: (ctx.batch.batch * ctx.batch.seq) / (stepMs.median / 1000),
        peakBytes,
        backendPeakBytes,
        numTensors: { afterFirstTimedStep: afterFirstTimed, afterLastStep: afterLast, drift: afterLast - afterFirstTimed },
      },
      inferenceUnmergedMs,
      inferenceMergedMs,
      merge,
    };
  } finally {
    ctx.progress.end();
    optimizer.dispose();
    tf.dispose([b1, b8]);
    // The PeftModel also frees what it holds outside the model (prompt encoders).
    (tuned.peft ?? model).dispose();
  }
}

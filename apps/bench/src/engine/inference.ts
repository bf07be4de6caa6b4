/**
 * Forward latency and merge timing. Each timed call is forced to finish by reading back a scalar that
 * depends on its result (the sum of the last position's logits; one merged weight element), so GPU work
 * is counted, not just queued.
 */
import { tf } from "@peftjs/core";
import type { Module, Tensor, Variable } from "@peftjs/core";
import { summarize } from "../stats.js";
import type { Summary } from "../stats.js";
import type { LatencyPair } from "../results.js";
import type { LmLike } from "./train.js";

const now = (): number => performance.now();

/** int32 `[batch, seq]` ids drawn from `ids` rows (repeated when fewer rows than asked). */
export function idsBatch(ids: Int32Array, rows: number, seq: number, batch: number): Tensor {
  const out = new Int32Array(batch * seq);
  for (let r = 0; r < batch; r++) out.set(ids.subarray((r % rows) * seq, (r % rows) * seq + seq), r * seq);
  return tf.tensor2d(out, [batch, seq], "int32");
}

/** The last position's logits summed: a scalar that needs the whole forward pass. */
function forwardScalar(model: LmLike, ids: Tensor): Tensor {
  return tf.tidy(() => {
    const { logits } = model.forward({ inputIds: ids });
    const [b, s, v] = logits.shape as [number, number, number];
    return tf.sum(tf.slice(logits, [0, s - 1, 0], [b, 1, v]));
  });
}

export async function forwardLatency(model: LmLike & Pick<Module, "eval" | "train" | "training">, ids: Tensor, reps: number, warmup = 2): Promise<Summary> {
  const wasTraining = model.training;
  model.eval();
  try {
    for (let i = 0; i < warmup; i++) {
      const t = forwardScalar(model, ids);
      await t.data();
      t.dispose();
    }
    const times: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t0 = now();
      const t = forwardScalar(model, ids);
      await t.data();
      times.push(now() - t0);
      t.dispose();
    }
    return summarize(times);
  } finally {
    if (wasTraining) model.train();
  }
}

export async function latencyPair(model: LmLike & Pick<Module, "eval" | "train" | "training">, batch1: Tensor, batch8: Tensor, reps: number): Promise<LatencyPair> {
  return { batch1: await forwardLatency(model, batch1, reps), batch8: await forwardLatency(model, batch8, reps) };
}

/** Reads one element of `v`: on a GPU this waits for every queued write to it. */
async function touch(v: Variable): Promise<void> {
  const t = tf.tidy(() => tf.reshape(tf.slice(tf.reshape(v, [-1]), [0], [1]), []));
  await t.data();
  t.dispose();
}

export interface Mergeable {
  merge(): void;
  unmerge(): void;
}

/** Median merge and unmerge times over `reps` rounds; `probe` is a weight the merge writes. */
export async function mergeTimes(peft: Mergeable, probe: Variable, reps: number): Promise<{ mergeMs: Summary; unmergeMs: Summary }> {
  const mergeMs: number[] = [];
  const unmergeMs: number[] = [];
  for (let i = 0; i < reps; i++) {
    let t0 = now();
    peft.merge();
    await touch(probe);
    mergeMs.push(now() - t0);
    t0 = now();
    peft.unmerge();
    await touch(probe);
    unmergeMs.push(now() - t0);
  }
  return { mergeMs: summarize(mergeMs), unmergeMs: summarize(unmergeMs) };
}

/** max |a(ids) − b(ids)| over the logits: merged and unmerged forwards must agree. */
export async function maxAbsLogitDiff(run: () => Tensor, runOther: () => Tensor): Promise<number> {
  const a = tf.tidy(run);
  const b = tf.tidy(runOther);
  const d = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))));
  const [v] = await d.data();
  tf.dispose([a, b, d]);
  return v!;
}

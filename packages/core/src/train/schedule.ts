/**
 * Learning-rate schedules as multipliers of the initial learning rate, exactly as transformers'
 * `optimization.py` defines them for `LambdaLR`. `step` is the number of optimizer steps already taken
 * (0 for the first update), so with warm-up the first update uses lr 0, as in transformers' Trainer.
 */

export type ScheduleKind = "linear" | "cosine" | "constant";

/** A schedule: optimizer step (0-based) → factor applied to the initial learning rate. */
export type LrLambda = (step: number) => number;

export interface ScheduleOptions {
  /** Steps of linear warm-up from 0 to the full rate. Default 0. */
  warmupSteps?: number;
  /** Total optimizer steps (linear and cosine decay reach their end here). */
  totalSteps: number;
  /** Cosine only: number of cosine waves; the default 0.5 decays from the peak to 0 once. */
  numCycles?: number;
}

/** transformers `get_linear_schedule_with_warmup`: up linearly over the warm-up, then linearly down to 0 at `totalSteps`. */
export function linearScheduleWithWarmup(warmupSteps: number, totalSteps: number): LrLambda {
  checkSteps(warmupSteps, totalSteps);
  return (step) => {
    if (step < warmupSteps) return step / Math.max(1, warmupSteps);
    return Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - warmupSteps));
  };
}

/** transformers `get_cosine_schedule_with_warmup`: linear warm-up, then `0.5·(1 + cos(π·2·numCycles·progress))`, floored at 0. */
export function cosineScheduleWithWarmup(warmupSteps: number, totalSteps: number, numCycles = 0.5): LrLambda {
  checkSteps(warmupSteps, totalSteps);
  if (!Number.isFinite(numCycles)) throw new Error(`cosine schedule: numCycles must be a finite number, got ${numCycles}.`);
  return (step) => {
    if (step < warmupSteps) return step / Math.max(1, warmupSteps);
    const progress = (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
    return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * numCycles * 2 * progress)));
  };
}

/** transformers `get_constant_schedule_with_warmup` (and `get_constant_schedule` when warmupSteps is 0). */
export function constantScheduleWithWarmup(warmupSteps = 0): LrLambda {
  checkSteps(warmupSteps, Number.POSITIVE_INFINITY);
  return (step) => (step < warmupSteps ? step / Math.max(1, warmupSteps) : 1);
}

/** The schedule of a given kind (transformers `get_scheduler` for "linear", "cosine", "constant_with_warmup"). */
export function lrSchedule(kind: ScheduleKind, options: ScheduleOptions): LrLambda {
  const warmup = options.warmupSteps ?? 0;
  switch (kind) {
    case "linear":
      return linearScheduleWithWarmup(warmup, options.totalSteps);
    case "cosine":
      return cosineScheduleWithWarmup(warmup, options.totalSteps, options.numCycles ?? 0.5);
    case "constant":
      return constantScheduleWithWarmup(warmup);
    default:
      throw new Error(`lrSchedule: unknown schedule "${String(kind)}"; expected "linear", "cosine" or "constant".`);
  }
}

function checkSteps(warmupSteps: number, totalSteps: number): void {
  if (!(Number.isInteger(warmupSteps) && warmupSteps >= 0)) throw new Error(`schedule: warmupSteps must be an integer >= 0, got ${warmupSteps}.`);
  if (!(totalSteps === Number.POSITIVE_INFINITY || (Number.isInteger(totalSteps) && totalSteps > 0))) {
    throw new Error(`schedule: totalSteps must be an integer > 0, got ${totalSteps}.`);
  }
}

/**
 * The training loop, with the semantics of transformers' `Trainer` so that a run here and a PyTorch run
 * are comparable step for step:
 *   - per optimizer step: `gradientAccumulationSteps` micro-batches, each backpropagating
 *     `loss / gradientAccumulationSteps` (Trainer.training_step), gradients summed, i.e. averaged;
 *   - then clip by global norm (`max_grad_norm`, default 1.0), `optimizer.step()`, `scheduler.step()`:
 *     update k (0-based) uses lr = initialLr · schedule(k), so warm-up starts at lr 0;
 *   - AdamW (torch.optim.AdamW); with a `model`, biases and norm weights get no weight decay
 *     (Trainer.get_decay_parameter_names);
 *   - the reported loss is the mean of the micro-batch losses.
 * Only `params` are differentiated (`tf.variableGrads(f, params)`): frozen weights get no gradient, and
 * none is computed for them. Every temporary lives in a tidy scope and the loss and gradient norm are read
 * back with one `data()` per step, so `tf.memory().numTensors` is flat across steps.
 */
import { tf } from "../tf.js";
import type { Tensor, Variable } from "../tf.js";
import type { Module } from "../nn/module.js";
import { setSeed } from "../random.js";
import { AdamW, decayParameterGroups } from "./optimizer.js";
import type { ParamGroup } from "./optimizer.js";
import { clipGradNorm, globalGradNorm } from "./clip.js";
import { lrSchedule } from "./schedule.js";
import type { LrLambda, ScheduleKind } from "./schedule.js";

/**
 * Where micro-batches come from.
 * - A function `(index) => batch`, called with the micro-batch index (the step, without accumulation).
 * - An iterable: an array (or any collection whose `[Symbol.iterator]()` returns a fresh iterator) is
 *   iterated again when it runs out, epoch after epoch; a generator is used once, and training stops
 *   (`stopped: "data-exhausted"`) when it ends.
 * - An async iterable (e.g. a `tf.data` dataset), same rules.
 * Sync sources are pulled inside the step's tidy scope: tensors created to make a batch are freed after
 * the step, tensors that existed before (a pre-built array of batches) are left alone. Async sources
 * cannot be pulled inside a scope; see `disposeBatches`.
 */
export type BatchSource<B> = Iterable<B> | AsyncIterable<B> | ((index: number) => B);

export interface StepInfo {
  /** Optimizer steps done, 1-based (transformers' global_step after the update). */
  step: number;
  /** Mean loss over this step's micro-batches. */
  loss: number;
  /** The learning rate this update used (first param group). */
  lr: number;
  /** Global L2 norm of the averaged gradients before clipping. */
  gradNorm: number;
  /** Wall time of the step, including reading the loss back. */
  stepMs: number;
  /** `tf.memory().numTensors` after the step: flat from step 1 on, or something leaks. */
  numTensors: number;
}

export interface EvalRecord {
  step: number;
  metrics: Record<string, number>;
}

export interface TrainOptions<B> {
  /** The model being tuned: its trainable parameters are the default `params`, and it is put in train mode (eval mode while `evaluate` runs). */
  model?: Module;
  /** The variables to optimise; only these get gradients. Default: the optimizer's, else `model.trainableParameters()`. */
  params?: Variable[];
  /** The scalar loss of one micro-batch, built from the params; called inside the gradient tape. */
  loss: (batch: B) => tf.Scalar;
  batches: BatchSource<B>;
  /** Optimizer steps to take. */
  steps: number;
  /** Micro-batches per optimizer step. Default 1. */
  gradientAccumulationSteps?: number;
  /** Peak learning rate. Default 5e-5 (transformers TrainingArguments). */
  lr?: number;
  /** AdamW weight decay. Default 0 (TrainingArguments). */
  weightDecay?: number;
  /** AdamW betas. Default [0.9, 0.999]. */
  betas?: readonly [number, number];
  /** AdamW eps. Default 1e-8. */
  eps?: number;
  /** Linear warm-up steps. Default 0. */
  warmupSteps?: number;
  /** "linear" (default), "cosine", "constant", or your own lambda (step → factor). */
  schedule?: ScheduleKind | LrLambda;
  /** Clip the gradients' global norm to this; 0 or null turns clipping off. Default 1.0 (TrainingArguments). */
  maxGradNorm?: number | null;
  /** Bring your own optimizer (to keep its state across calls, or custom param groups); you dispose it. */
  optimizer?: AdamW;
  /** Call `evaluate` every this many optimizer steps. */
  evalEvery?: number;
  evaluate?: (info: { step: number }) => Record<string, number> | void | Promise<Record<string, number> | void>;
  /** Progress, after every optimizer step. */
  onStep?: (info: StepInfo) => void | Promise<void>;
  /** Calls core's `setSeed` first, so initialisation-free randomness (dropout, shuffles) repeats. */
  seed?: number;
  /** Stops before the next step; the result says `stopped: "aborted"`. */
  signal?: AbortSignal;
  /** Async sources only: dispose each batch's tensors after use (default true, like tfjs fitDataset). */
  disposeBatches?: boolean;
}

export interface TrainResult {
  /** Loss of every step taken. */
  losses: number[];
  /** Learning rate of every step taken. */
  lrs: number[];
  /** Pre-clip gradient norm of every step taken. */
  gradNorms: number[];
  evals: EvalRecord[];
  /** Optimizer steps taken. */
  steps: number;
  stopped: "completed" | "aborted" | "data-exhausted";
  totalMs: number;
}

/** Gradients summed over micro-batches so far, and the summed (already divided) losses. */
interface Accumulated extends tf.TensorContainerObject {
  loss: tf.Scalar;
  grads: tf.NamedTensorMap;
}

export async function train<B>(options: TrainOptions<B>): Promise<TrainResult> {
  const steps = positiveInteger(options.steps, "steps");
  const accumulation = positiveInteger(options.gradientAccumulationSteps ?? 1, "gradientAccumulationSteps");
  const evalEvery = options.evalEvery === undefined ? undefined : positiveInteger(options.evalEvery, "evalEvery");
  if (evalEvery !== undefined && options.evaluate === undefined) throw new Error("train: evalEvery is set but no evaluate hook is given.");
  const maxGradNorm = options.maxGradNorm === undefined ? 1.0 : options.maxGradNorm;
  if (maxGradNorm !== null && !(Number.isFinite(maxGradNorm) && maxGradNorm >= 0)) {
    throw new Error(`train: maxGradNorm must be a finite number >= 0 (0 or null: no clipping), got ${maxGradNorm}.`);
  }
  if (typeof options.loss !== "function") throw new Error("train: loss must be a function (batch) => scalar tensor.");
  if (options.seed !== undefined) setSeed(options.seed);

  const ownOptimizer = options.optimizer === undefined;
  const optimizer = options.optimizer ?? new AdamW(defaultGroups(options), adamOptions(options));
  const params = resolveParams(options, optimizer);
  const lambda: LrLambda =
    typeof options.schedule === "function" ? options.schedule : lrSchedule(options.schedule ?? "linear", { warmupSteps: options.warmupSteps ?? 0, totalSteps: steps });
  const puller = makePuller(options.batches);
  const disposeBatches = options.disposeBatches ?? true;

  const result: TrainResult = { losses: [], lrs: [], gradNorms: [], evals: [], steps: 0, stopped: "completed", totalMs: 0 };
  const started = now();
  let accumulated: Accumulated | undefined;
  let microIndex = 0;
  options.model?.train();

  try {
    for (let step = 0; step < steps; step++) {
      if (options.signal?.aborted === true) {
        result.stopped = "aborted";
        break;
      }
      const stepStart = now();
      const factor = lambda(step);
      if (!Number.isFinite(factor)) throw new Error(`train: the schedule returned ${factor} at step ${step}; expected a finite factor.`);
      optimizer.scaleLr(factor);
      const lr = optimizer.paramGroups[0]!.lr;

      let exhausted = false;
      for (let micro = 0; micro < accumulation; micro++) {
        const previous = accumulated;
        let next: Accumulated | undefined;
        if (puller.kind === "sync") {
          next = tf.tidy(() => {
            const item = puller.pull(microIndex);
            return item === undefined ? undefined : microStep(options.loss, item.value, params, accumulation, previous);
          });
        } else {
          const item = await puller.pull();
          if (item !== undefined) {
            try {
              next = tf.tidy(() => microStep(options.loss, item.value, params, accumulation, previous));
            } finally {
              if (disposeBatches) tf.dispose(item.value as unknown as tf.TensorContainer);
            }
          }
        }
        if (next === undefined) {
          exhausted = true;
          break;
        }
        microIndex++;
        if (previous !== undefined) disposeReplaced(previous, next);
        accumulated = next;
      }
      if (exhausted || accumulated === undefined) {
        // A partial accumulation is dropped: an update from fewer micro-batches is not the step asked for.
        result.stopped = "data-exhausted";
        break;
      }

      const acc: Accumulated = accumulated;
      const stats = tf.tidy(() => {
        const grads = new Map<Variable, Tensor>();
        for (const v of params) {
          const g = acc.grads[v.name];
          if (g !== undefined) grads.set(v, g);
        }
        let norm: tf.Scalar;
        if (maxGradNorm !== null && maxGradNorm > 0) {
          const clipped = clipGradNorm(grads, maxGradNorm);
          norm = clipped.totalNorm;
          optimizer.step(clipped.grads);
        } else {
          norm = globalGradNorm(grads.values());
          optimizer.step(grads);
        }
        return tf.stack([acc.loss, norm]);
      });
      tf.dispose(acc);
      accumulated = undefined;
      const [loss, gradNorm] = await stats.data();
      stats.dispose();

      result.steps = step + 1;
      result.losses.push(loss!);
      result.lrs.push(lr);
      result.gradNorms.push(gradNorm!);
      if (options.onStep !== undefined) {
        await options.onStep({ step: step + 1, loss: loss!, lr, gradNorm: gradNorm!, stepMs: now() - stepStart, numTensors: tf.memory().numTensors });
      }
      if (evalEvery !== undefined && options.evaluate !== undefined && (step + 1) % evalEvery === 0) {
        options.model?.eval();
        try {
          const metrics = await options.evaluate({ step: step + 1 });
          if (metrics) result.evals.push({ step: step + 1, metrics });
        } finally {
          options.model?.train();
        }
      }
    }
  } finally {
    if (accumulated !== undefined) tf.dispose(accumulated);
    if (ownOptimizer) optimizer.dispose();
  }
  result.totalMs = now() - started;
  return result;
}

/** One micro-batch: loss and gradients of the params only, added to what was accumulated. Runs inside a tidy. */
function microStep<B>(lossFn: (batch: B) => tf.Scalar, batch: B, params: Variable[], accumulation: number, previous: Accumulated | undefined): Accumulated {
  let grads: tf.NamedTensorMap;
  let value: tf.Scalar;
  try {
    ({ value, grads } = tf.variableGrads(() => {
      const loss = lossFn(batch);
      if (!(loss instanceof tf.Tensor) || loss.rank !== 0) {
        const shape = loss instanceof tf.Tensor ? `a tensor of shape [${loss.shape.join(", ")}]` : typeof loss;
        throw new Error(`train: loss(batch) must return a scalar tensor, got ${shape}. Reduce it, e.g. with tf.mean.`);
      }
      // transformers Trainer: loss / gradient_accumulation_steps before backward.
      return accumulation === 1 ? loss : tf.div(loss, accumulation);
    }, params));
  } catch (e) {
    if (e instanceof Error && /Cannot find a connection between any variable and the result of the loss/.test(e.message)) {
      throw new Error("train: the loss does not depend on any of the params; build it from the trainable variables (inside loss(batch)).");
    }
    throw e;
  }
  if (previous === undefined) return { loss: value, grads };
  const sum: tf.NamedTensorMap = {};
  for (const v of params) {
    const a = previous.grads[v.name];
    const b = grads[v.name];
    if (a !== undefined && b !== undefined) sum[v.name] = tf.add(a, b);
    else if (a !== undefined) sum[v.name] = a;
    else if (b !== undefined) sum[v.name] = b;
  }
  return { loss: tf.add(previous.loss, value), grads: sum };
}

/** Disposes the tensors of `previous` that `next` did not carry over. */
function disposeReplaced(previous: Accumulated, next: Accumulated): void {
  const kept = new Set<Tensor>([next.loss, ...Object.values(next.grads)]);
  for (const t of [previous.loss, ...Object.values(previous.grads)]) if (!kept.has(t)) t.dispose();
}

type Puller<B> = { kind: "sync"; pull: (index: number) => { value: B } | undefined } | { kind: "async"; pull: () => Promise<{ value: B } | undefined> };

function makePuller<B>(source: BatchSource<B>): Puller<B> {
  if (typeof source === "function") return { kind: "sync", pull: (index) => ({ value: source(index) }) };
  if (source != null && typeof (source as Iterable<B>)[Symbol.iterator] === "function") {
    const iterable = source as Iterable<B>;
    let it = iterable[Symbol.iterator]();
    return {
      kind: "sync",
      pull: () => {
        let r = it.next();
        if (r.done === true) {
          const fresh = iterable[Symbol.iterator]();
          if (fresh === it) return undefined; // a one-shot iterator (generator): exhausted
          it = fresh;
          r = it.next();
          if (r.done === true) return undefined; // an empty collection
        }
        return { value: r.value };
      },
    };
  }
  if (source != null && typeof (source as AsyncIterable<B>)[Symbol.asyncIterator] === "function") {
    const iterable = source as AsyncIterable<B>;
    let it = iterable[Symbol.asyncIterator]();
    return {
      kind: "async",
      pull: async () => {
        let r = await it.next();
        if (r.done === true) {
          const fresh = iterable[Symbol.asyncIterator]();
          if (fresh === it) return undefined;
          it = fresh;
          r = await it.next();
          if (r.done === true) return undefined;
        }
        return { value: r.value };
      },
    };
  }
  throw new Error("train: batches must be an iterable, an async iterable, or a function (index) => batch.");
}

function defaultGroups<B>(options: TrainOptions<B>): Variable[] | ParamGroup[] {
  const weightDecay = options.weightDecay ?? 0;
  if (options.params !== undefined) return options.params;
  if (options.model === undefined) throw new Error("train: pass params (the variables to optimise), a model, or an optimizer.");
  if (weightDecay > 0) return decayParameterGroups(options.model, weightDecay);
  return options.model.trainableParameters();
}

function adamOptions<B>(options: TrainOptions<B>): { lr: number; weightDecay: number; betas?: readonly [number, number]; eps?: number } {
  const o: { lr: number; weightDecay: number; betas?: readonly [number, number]; eps?: number } = { lr: options.lr ?? 5e-5, weightDecay: options.weightDecay ?? 0 };
  if (options.betas !== undefined) o.betas = options.betas;
  if (options.eps !== undefined) o.eps = options.eps;
  return o;
}

function resolveParams<B>(options: TrainOptions<B>, optimizer: AdamW): Variable[] {
  const owned = new Set(optimizer.paramGroups.flatMap((g) => g.params));
  const params = options.params ?? [...owned];
  if (params.length === 0) throw new Error("train: there are no parameters to train (is every weight frozen?).");
  for (const v of params) {
    if (!v.trainable) {
      throw new Error(`train: parameter "${v.name}" is frozen (trainable=false) but listed in params. Remove it, or make it trainable.`);
    }
    if (!owned.has(v)) throw new Error(`train: parameter "${v.name}" is not in the optimizer's param groups; add it there or leave params out.`);
  }
  return params;
}

function positiveInteger(n: number, name: string): number {
  if (!(Number.isInteger(n) && n > 0)) throw new Error(`train: ${name} must be an integer > 0, got ${n}.`);
  return n;
}

function now(): number {
  return globalThis.performance?.now() ?? Date.now();
}

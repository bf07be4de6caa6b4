/**
 * The quality task: a synthetic sequence-transduction language generated from a seed, so the
 * benchmark needs no download and every run sees the same data.
 *
 * A sequence is `BOS TASK x₁…xₙ SEP y₁…yₙ EOS` where `x` are random symbols and `y = f_TASK(x)`. The
 * shared base model is pre-trained on a mixture of *source* tasks (by default copy, shift and sort);
 * each method then adapts it to a *target* task it never saw (by default reverse). Loss and accuracy
 * are scored on the answer positions only (`y₁…yₙ EOS`): the prompt is random and unpredictable.
 * Held-out inputs never occur in the training split.
 */
import { Rng } from "./rng.js";
import { IGNORE_INDEX } from "./example.js";
import type { Dataset, Example } from "./example.js";

/** Every task the language knows; each has a task token, so the target's token exists (unused) in pre-training. */
export const TASKS = {
  copy: (x: readonly number[]): number[] => [...x],
  reverse: (x: readonly number[]): number[] => [...x].reverse(),
  shift: (x: readonly number[], k: number): number[] => x.map((v) => (v + 1) % k),
  sort: (x: readonly number[]): number[] => [...x].sort((a, b) => a - b),
  /** Reverse, then shift every symbol by one: needs both a new attention pattern and a new output map. */
  "reverse-shift": (x: readonly number[], k: number): number[] => [...x].reverse().map((v) => (v + 1) % k),
} satisfies Record<string, (x: readonly number[], numSymbols: number) => number[]>;

export type TaskName = keyof typeof TASKS;
export const TASK_NAMES = Object.keys(TASKS) as TaskName[];

export const BOS = 0;
export const SEP = 1;
export const EOS = 2;
const FIRST_TASK_TOKEN = 3;

export interface SyntheticTaskOptions {
  /** Distinct symbols (the "digits"). */
  numSymbols: number;
  /** Symbols per input (n). */
  length: number;
  sourceTasks: TaskName[];
  targetTask: TaskName;
  sourceSize: number;
  trainSize: number;
  heldOutSize: number;
  seed: number;
}

export function taskToken(task: TaskName): number {
  return FIRST_TASK_TOKEN + TASK_NAMES.indexOf(task);
}

export function symbolToken(symbol: number): number {
  return FIRST_TASK_TOKEN + TASK_NAMES.length + symbol;
}

export function syntheticVocabSize(numSymbols: number): number {
  return FIRST_TASK_TOKEN + TASK_NAMES.length + numSymbols;
}

/** `BOS TASK x SEP f(x) EOS`; labels mark `f(x) EOS`. */
export function encodeExample(task: TaskName, x: readonly number[], numSymbols: number): Example {
  const y = TASKS[task](x, numSymbols);
  const ids = [BOS, taskToken(task), ...x.map(symbolToken), SEP, ...y.map(symbolToken), EOS];
  const inputIds = Int32Array.from(ids);
  const labels = new Int32Array(ids.length).fill(IGNORE_INDEX);
  const answerStart = x.length + 3;
  for (let t = answerStart; t < ids.length; t++) labels[t] = ids[t]!;
  return { inputIds, labels };
}

function validate(o: SyntheticTaskOptions): void {
  const bad = (msg: string): never => {
    throw new Error(`synthetic task: ${msg}`);
  };
  if (!(Number.isInteger(o.numSymbols) && o.numSymbols >= 2)) bad(`numSymbols must be an integer ≥ 2, got ${o.numSymbols}.`);
  if (!(Number.isInteger(o.length) && o.length >= 1)) bad(`length must be an integer ≥ 1, got ${o.length}.`);
  for (const t of [...o.sourceTasks, o.targetTask]) {
    if (!(t in TASKS)) bad(`unknown task "${t}"; known tasks: ${TASK_NAMES.join(", ")}.`);
  }
  if (o.sourceTasks.includes(o.targetTask)) bad(`the target task "${o.targetTask}" must not be a source task (the base would already know it).`);
  for (const [k, v] of [["sourceSize", o.sourceSize], ["trainSize", o.trainSize], ["heldOutSize", o.heldOutSize]] as const) {
    if (!(Number.isInteger(v) && v >= 0)) bad(`${k} must be a non-negative integer, got ${v}.`);
  }
  if (o.heldOutSize < 1 || o.trainSize < 1) bad("trainSize and heldOutSize must be at least 1.");
  const distinct = Math.pow(o.numSymbols, o.length);
  if (o.trainSize + o.heldOutSize > distinct / 2) {
    bad(`${o.trainSize + o.heldOutSize} distinct inputs requested but only ${distinct} exist; raise numSymbols or length.`);
  }
}

/** Generates the source, train and held-out splits; same options → identical data. */
export function makeSyntheticDataset(options: SyntheticTaskOptions): Dataset {
  validate(options);
  const { numSymbols, length } = options;
  const rng = new Rng(options.seed);
  const draw = (): number[] => Array.from({ length }, () => rng.int(numSymbols));

  // Held-out inputs first, then target-train inputs that avoid them.
  const heldOutKeys = new Set<string>();
  const heldOut: Example[] = [];
  while (heldOut.length < options.heldOutSize) {
    const x = draw();
    const key = x.join(",");
    if (heldOutKeys.has(key)) continue;
    heldOutKeys.add(key);
    heldOut.push(encodeExample(options.targetTask, x, numSymbols));
  }
  const train: Example[] = [];
  while (train.length < options.trainSize) {
    const x = draw();
    if (heldOutKeys.has(x.join(","))) continue;
    train.push(encodeExample(options.targetTask, x, numSymbols));
  }
  const source: Example[] = [];
  for (let i = 0; i < options.sourceSize; i++) {
    const task = options.sourceTasks[i % options.sourceTasks.length]!;
    source.push(encodeExample(task, draw(), numSymbols));
  }
  rng.shuffle(source);

  const describe =
    `synthetic transduction, ${numSymbols} symbols × ${length}: pre-train on ${options.sourceTasks.join("+")} ` +
    `(${options.sourceSize} seqs), adapt to ${options.targetTask} (${options.trainSize} train / ${options.heldOutSize} held-out), seed ${options.seed}`;
  return {
    description: describe,
    vocabSize: syntheticVocabSize(numSymbols),
    seqLen: 2 * length + 4,
    source,
    train,
    heldOut,
  };
}

/** Batches as flat int32 arrays (the engine turns them into tensors); pure so they can be tested without tfjs. */
import { Rng } from "./rng.js";
import type { Example } from "./example.js";

export interface TokenBatch {
  batch: number;
  seq: number;
  /** `[batch, seq]` row-major. */
  inputIds: Int32Array;
  /** `[batch, seq]`; -100 where the loss ignores a position. */
  labels: Int32Array;
}

/** Stacks examples of equal length into one batch. */
export function stack(examples: readonly Example[]): TokenBatch {
  const first = examples[0];
  if (first === undefined) throw new Error("stack: no examples to batch.");
  const seq = first.inputIds.length;
  const inputIds = new Int32Array(examples.length * seq);
  const labels = new Int32Array(examples.length * seq);
  examples.forEach((ex, i) => {
    if (ex.inputIds.length !== seq || ex.labels.length !== seq) {
      throw new Error(`stack: example ${i} has length ${ex.inputIds.length}, expected ${seq}; pad or truncate examples to one length.`);
    }
    inputIds.set(ex.inputIds, i * seq);
    labels.set(ex.labels, i * seq);
  });
  return { batch: examples.length, seq, inputIds, labels };
}

/**
 * An endless stream of batches: the examples are shuffled once per epoch with a seeded generator, so
 * every method that starts a stream with the same seed sees the same batches in the same order.
 */
export function batchStream(examples: readonly Example[], batchSize: number, seed: number): () => TokenBatch {
  if (examples.length === 0) throw new Error("batchStream: the dataset split is empty.");
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new Error(`batchStream: batch size must be a positive integer, got ${batchSize}.`);
  const rng = new Rng(seed);
  let order: number[] = [];
  let pos = 0;
  return () => {
    const picked: Example[] = [];
    while (picked.length < batchSize) {
      if (pos >= order.length) {
        order = rng.shuffle(Array.from(examples.keys()));
        pos = 0;
      }
      picked.push(examples[order[pos++]!]!);
    }
    return stack(picked);
  };
}

/** Evaluation batches: every example once, in order; the last batch may be smaller. */
export function evalBatches(examples: readonly Example[], batchSize: number): TokenBatch[] {
  const out: TokenBatch[] = [];
  for (let i = 0; i < examples.length; i += batchSize) out.push(stack(examples.slice(i, i + batchSize)));
  return out;
}

/** Uniform random tokens with every position scored: the timing phase's input (content does not change the cost). */
export function randomTokenBatch(vocabSize: number, batch: number, seq: number, seed: number): TokenBatch {
  const rng = new Rng(seed);
  const inputIds = new Int32Array(batch * seq);
  for (let i = 0; i < inputIds.length; i++) inputIds[i] = rng.int(vocabSize);
  return { batch, seq, inputIds, labels: inputIds.slice() };
}

/**
 * Held-out metrics on the scored positions (labels ≠ -100): mean cross-entropy, next-token accuracy
 * (argmax) and exact match (every scored position of a sequence right). Position t's logits predict
 * label t+1, as in the causal-LM loss. Sums are taken in float64 on the host.
 */
import { tf } from "@peftjs/core";
import type { Tensor } from "@peftjs/core";
import { evalBatches } from "../data/batches.js";
import type { Example } from "../data/example.js";
import type { LmLike } from "./train.js";

export interface HeldOutMetrics {
  loss: number;
  accuracy: number;
  exactMatch: number;
  /** Scored positions counted. */
  positions: number;
}

export async function evaluate(model: LmLike & { training?: boolean; eval?(): unknown; train?(): unknown }, examples: readonly Example[], batchSize: number): Promise<HeldOutMetrics> {
  const wasTraining = model.training === true;
  model.eval?.();
  let nllSum = 0;
  let correct = 0;
  let positions = 0;
  let exact = 0;
  try {
    for (const batch of evalBatches(examples, batchSize)) {
      const { b, s } = { b: batch.batch, s: batch.seq };
      const [nll, hit, mask] = tf.tidy((): [Tensor, Tensor, Tensor] => {
        const inputIds = tf.tensor2d(batch.inputIds, [b, s], "int32");
        const out = model.forward({ inputIds });
        const vocab = out.logits.shape[2]!;
        // Prompt methods put virtual tokens before the text (their logits come first, as in PEFT): the text's are the last s.
        const logits = tf.slice(out.logits, [0, out.logits.shape[1]! - s, 0], [b, s - 1, vocab]);
        const targets = tf.slice(tf.tensor2d(batch.labels, [b, s], "int32"), [0, 1], [b, s - 1]);
        const valid = tf.notEqual(targets, -100);
        const safe = tf.where(valid, targets, tf.zerosLike(targets));
        const logp = tf.logSoftmax(logits);
        const picked = tf.sum(tf.mul(logp, tf.oneHot(safe, vocab)), -1);
        const pred = tf.cast(tf.argMax(logits, -1), "int32");
        return [tf.neg(picked), tf.logicalAnd(tf.equal(pred, safe), valid), valid];
      });
      const [nllData, hitData, maskData] = await Promise.all([nll.data(), hit.data(), mask.data()]);
      tf.dispose([nll, hit, mask]);
      for (let r = 0; r < b; r++) {
        let rowAll = true;
        let rowScored = 0;
        for (let t = 0; t < s - 1; t++) {
          const i = r * (s - 1) + t;
          if (maskData[i] === 0) continue;
          rowScored++;
          positions++;
          nllSum += nllData[i]!;
          if (hitData[i] === 1) correct++;
          else rowAll = false;
        }
        if (rowScored > 0 && rowAll) exact++;
      }
    }
  } finally {
    if (wasTraining) model.train?.();
  }
  if (positions === 0) throw new Error("evaluate: the held-out examples have no scored positions (every label is -100).");
  return { loss: nllSum / positions, accuracy: correct / positions, exactMatch: exact / examples.length, positions };
}

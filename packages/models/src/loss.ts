/**
 * Losses as transformers computes them (transformers/loss/loss_utils.py and the sequence-classification
 * heads): token-mean cross-entropy ignoring label -100, shifted for causal LMs; MSE for regression
 * (num_labels == 1); BCE-with-logits for multi-label classification.
 */
import { tf } from "@peftjs/core";
import type { Tensor } from "@peftjs/core";

export const IGNORE_INDEX = -100;

/**
 * Mean negative log-likelihood of `labels` under `logits` over the labels that are not -100
 * (torch `cross_entropy(..., ignore_index=-100, reduction="mean")`). logits `[n, classes]`, labels int32
 * `[n]`. Like torch, no valid label gives 0/0 = NaN.
 */
export function crossEntropy(logits: Tensor, labels: Tensor): Tensor {
  if (logits.rank !== 2 || labels.rank !== 1 || labels.shape[0] !== logits.shape[0]) {
    throw new Error(`crossEntropy: expected logits [n, classes] and labels [n], got [${logits.shape.join(", ")}] and [${labels.shape.join(", ")}].`);
  }
  return tf.tidy(() => {
    const [n, classes] = logits.shape as [number, number];
    const ids = labels.dtype === "int32" ? labels : tf.cast(labels, "int32");
    const valid = tf.notEqual(ids, IGNORE_INDEX);
    const safe = tf.where(valid, ids, tf.zerosLike(ids));
    const validF = tf.cast(valid, "float32");
    // Pick logProbs[i, labels[i]] with one flat gather.
    const flatIndex = tf.add(tf.mul(tf.range(0, n, 1, "int32"), tf.scalar(classes, "int32")), safe);
    // The gradient is written out (the fused softmax cross-entropy gradient, as TensorFlow's
    // sparse_softmax_cross_entropy_with_logits has it): d/dlogits = (softmax − onehot(label)) · valid / count.
    // Autodiff through the gather would need UnsortedSegmentSum, which tfjs' wasm backend does not have, so
    // training on wasm failed; this uses only ops every backend has, and keeps no [n, classes] tensor for the
    // backward pass but the logits.
    const loss = tf.customGrad(((x: Tensor, save: (tensors: Tensor[]) => void) => {
      const logProbs = tf.logSoftmax(x, -1);
      const picked = tf.gather(tf.reshape(logProbs, [n * classes]), flatIndex);
      const value = tf.div(tf.neg(tf.sum(tf.mul(picked, validF))), tf.sum(validF));
      save([x, safe, validF]);
      return {
        value,
        gradFunc: (dy: Tensor, saved: Tensor[]) => {
          const [xs, target, weight] = saved as [Tensor, Tensor, Tensor];
          const perRow = tf.div(weight, tf.sum(weight));
          // int32 oneHot, then cast: tfjs-backend-wasm 4.22's OneHot with dtype float32 writes the int bits
          // (1 reads back as 1.4e-45).
          const delta = tf.sub(tf.softmax(xs, -1), tf.cast(tf.oneHot(target, classes), "float32"));
          return tf.mul(tf.mul(delta, tf.expandDims(perRow, 1)), dy);
        },
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0]);
    return loss(logits);
  });
}

/** transformers `ForCausalLMLoss`: logits `[b, t, v]` at position i predict labels at i + 1. */
export function causalLmLoss(logits: Tensor, labels: Tensor): Tensor {
  const [b, t, v] = logits.shape as [number, number, number];
  if (labels.rank !== 2 || labels.shape[0] !== b || labels.shape[1] !== t) {
    throw new Error(
      `causal LM loss: labels must be [batch, seq] = [${b}, ${t}] like the logits' first two dims, got [${labels.shape.join(", ")}]. ` +
        `(Prompt methods that prepend virtual tokens must prepend -100 labels too.)`,
    );
  }
  return tf.tidy(() => {
    if (t < 2) return tf.scalar(NaN);
    const shiftedLogits = tf.reshape(tf.slice(logits, [0, 0, 0], [b, t - 1, v]), [b * (t - 1), v]);
    const shiftedLabels = tf.reshape(tf.slice(labels, [0, 1], [b, t - 1]), [b * (t - 1)]);
    return crossEntropy(shiftedLogits, shiftedLabels);
  });
}

/** Mean squared error (torch `MSELoss`), for regression heads (num_labels == 1). */
export function mseLoss(predictions: Tensor, targets: Tensor): Tensor {
  return tf.tidy(() => tf.mean(tf.square(tf.sub(predictions, tf.cast(targets, "float32")))));
}

/** torch `BCEWithLogitsLoss` (mean): max(x, 0) − x·y + log(1 + e^−|x|), the stable form. */
export function bceWithLogitsLoss(logits: Tensor, targets: Tensor): Tensor {
  return tf.tidy(() => {
    const y = tf.cast(targets, "float32");
    const perElement = tf.add(tf.sub(tf.relu(logits), tf.mul(logits, y)), tf.log1p(tf.exp(tf.neg(tf.abs(logits)))));
    return tf.mean(perElement);
  });
}

export type ProblemType = "regression" | "single_label_classification" | "multi_label_classification";

/**
 * The sequence-classification loss transformers picks: `problem_type` from the config if set, else
 * regression for one label, single-label for integer labels, multi-label for float labels.
 */
export function sequenceClassificationLoss(logits: Tensor, labels: Tensor, numLabels: number, problemType: ProblemType | null): Tensor {
  const type = problemType ?? (numLabels === 1 ? "regression" : labels.dtype === "int32" ? "single_label_classification" : "multi_label_classification");
  switch (type) {
    case "regression":
      return numLabels === 1 ? tf.tidy(() => mseLoss(tf.reshape(logits, [-1]), tf.reshape(labels, [-1]))) : mseLoss(logits, labels);
    case "single_label_classification":
      return tf.tidy(() => crossEntropy(tf.reshape(logits, [-1, numLabels]), tf.reshape(labels, [-1])));
    case "multi_label_classification":
      return bceWithLogitsLoss(logits, labels);
  }
}

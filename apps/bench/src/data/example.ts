/** One training or evaluation sequence, before it becomes tensors. */
export interface Example {
  /** Token ids, length = the dataset's sequence length. */
  inputIds: Int32Array;
  /**
   * Same length; the token itself at positions the loss scores, -100 elsewhere. Causal LMs shift labels
   * inside (`ModelInputs.labels`), so position t's label is predicted from positions < t.
   */
  labels: Int32Array;
}

/** The loss ignores label -100 (PyTorch's `ignore_index`). */
export const IGNORE_INDEX = -100;

/** A tokenised dataset split for the benchmark. */
export interface Dataset {
  /** A one-line description for the report. */
  description: string;
  vocabSize: number;
  seqLen: number;
  /** Pre-training examples for the shared base model (empty when the base is a loaded checkpoint). */
  source: Example[];
  /** Fine-tuning examples (every method sees the same ones in the same order). */
  train: Example[];
  /** Held-out examples for loss and accuracy. */
  heldOut: Example[];
}

/** Number of positions the loss scores in an example (labels ≠ -100, first position excluded). */
export function scoredPositions(ex: Example): number {
  let n = 0;
  for (let t = 1; t < ex.labels.length; t++) if (ex.labels[t] !== IGNORE_INDEX) n++;
  return n;
}

/**
 * Gemma's RMSNorm (transformers `Gemma2RMSNorm` / `Gemma3RMSNorm`): x / √(mean(x²) + ε) · (1 + w), with w
 * stored as an offset from 1 (initialised at 0), and the token embedding Gemma scales by √hidden_size
 * inside `embed_tokens` (`Gemma2TextScaledWordEmbedding`), so `inputsEmbeds` passed by a caller are not
 * scaled again, as in transformers.
 */
import { tf, Embedding, Module } from "@peftjs/core";
import type { Tensor, Variable } from "@peftjs/core";
import { initNormal } from "../modules.js";

export class GemmaRMSNorm extends Module {
  readonly weight: Variable;

  constructor(
    readonly hiddenSize: number,
    readonly eps = 1e-6,
  ) {
    super();
    // Inside a tidy so that the zeros' own handle does not stay counted (the variable keeps the data).
    this.weight = this.registerParameter("weight", tf.tidy(() => tf.variable(tf.zeros([hiddenSize]))));
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const ms = tf.mean(tf.square(x), -1, true);
      return tf.mul(tf.mul(x, tf.rsqrt(tf.add(ms, this.eps))), tf.add(1, this.weight));
    });
  }
}

/** An Embedding whose rows are multiplied by `embedScale` (√hidden_size rounded to float32, as torch holds it). */
export class ScaledWordEmbedding extends Embedding {
  constructor(
    numEmbeddings: number,
    embeddingDim: number,
    readonly embedScale: number,
    options: { weight?: Tensor } = {},
  ) {
    super(numEmbeddings, embeddingDim, options);
  }

  override forward(ids: Tensor): Tensor {
    return tf.tidy(() => tf.mul(super.forward(ids), Math.fround(this.embedScale)));
  }
}

/** A ScaledWordEmbedding with rows N(0, std) (zeros inside `withoutInit`). */
export function scaledEmbedding(num: number, dim: number, scale: number, std: number): ScaledWordEmbedding {
  const weight = initNormal([num, dim], std);
  const embedding = new ScaledWordEmbedding(num, dim, scale, { weight });
  weight.dispose();
  return embedding;
}

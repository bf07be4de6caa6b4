/**
 * Prefix tuning's encoder (PEFT `PrefixEncoder`, peft `tuners/prefix_tuning/model.py`): a table of
 * `numVirtualTokens` rows of `numLayers·2·tokenDim` (every layer's key and value prefix), either learned
 * directly or, with `prefixProjection`, produced by Linear(tokenDim → encoderHiddenSize) → tanh →
 * Linear(→ numLayers·2·tokenDim) from a `[numVirtualTokens, tokenDim]` embedding (Li & Liang 2021, §4.3).
 */
import { Embedding, Linear, tf } from "@peftjs/core";
import type { Tensor, Variable } from "@peftjs/core";
import { PromptTableEncoder } from "../encoder.js";
import { Sequential, Tanh } from "../sequential.js";
import type { PrefixTuningConfig } from "./config.js";

function zeroOut(...vars: Variable[]): void {
  tf.tidy(() => vars.forEach((v) => v.assign(tf.zerosLike(v))));
}

export class PrefixEncoder extends PromptTableEncoder {
  readonly prefixProjection: boolean;

  /** `config` with `tokenDim`, `numLayers` and `encoderHiddenSize` resolved. */
  constructor(config: PrefixTuningConfig) {
    super(config.inferenceMode);
    const dim = config.tokenDim!;
    const out = config.numLayers! * 2 * dim;
    const zero = config.initWeights === "zero";
    // PEFT builds the projection only when training: a loaded adapter is the projected table.
    this.prefixProjection = config.prefixProjection && !config.inferenceMode;
    if (this.prefixProjection) {
      const hidden = config.encoderHiddenSize!;
      this.registerModule("embedding", new Embedding(config.numVirtualTokens, dim));
      const last = new Linear(hidden, out);
      this.registerModule("transform", new Sequential([new Linear(dim, hidden), new Tanh(), last]));
      if (zero) zeroOut(last.weight, last.bias!);
    } else {
      const table = this.registerModule("embedding", new Embedding(config.numVirtualTokens, out));
      if (zero) zeroOut(table.weight);
    }
  }

  protected encode(): Tensor {
    if (!this.prefixProjection) return this.embedding.weight.clone();
    return (this.getSubmodule("transform") as Sequential).forward(this.embedding.weight);
  }
}

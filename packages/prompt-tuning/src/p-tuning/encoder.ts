/**
 * P-tuning's prompt encoder (PEFT `PromptEncoder`, peft `tuners/p_tuning/model.py`; Liu et al. 2021, §3.2):
 * a `[numVirtualTokens, tokenDim]` embedding reparameterised by
 * - MLP: Linear(tokenDim → H) → ReLU → Linear(H → H) → ReLU → Linear(H → tokenDim), or
 * - LSTM: a bidirectional `encoderNumLayers`-layer LSTM (hidden H, dropout `encoderDropout` between layers)
 *   over the virtual tokens, then Linear(2H → 2H) → ReLU → Linear(2H → tokenDim).
 * Parameter paths equal PEFT's (`embedding.weight`, `mlp_head.0.weight`, `lstm_head.weight_ih_l0_reverse`).
 */
import { Embedding, Linear, tf } from "@peftjs/core";
import type { Tensor } from "@peftjs/core";
import { PromptTableEncoder } from "../encoder.js";
import { LSTM } from "../lstm.js";
import { ReLU, Sequential } from "../sequential.js";
import type { PromptEncoderConfig } from "./config.js";

export class PromptEncoder extends PromptTableEncoder {
  readonly encoderType: PromptEncoderConfig["encoderReparameterizationType"];

  /** `config` with `tokenDim` and `encoderHiddenSize` resolved. */
  constructor(config: PromptEncoderConfig) {
    super(config.inferenceMode);
    const dim = config.tokenDim!;
    const hidden = config.encoderHiddenSize!;
    this.encoderType = config.encoderReparameterizationType;
    this.registerModule("embedding", new Embedding(config.numVirtualTokens * (config.numTransformerSubmodules ?? 1), dim));
    if (config.inferenceMode) return;
    if (this.encoderType === "LSTM") {
      this.registerModule("lstm_head", new LSTM({ inputSize: dim, hiddenSize: hidden, numLayers: config.encoderNumLayers, dropout: config.encoderDropout, bidirectional: true }));
      this.registerModule("mlp_head", new Sequential([new Linear(2 * hidden, 2 * hidden), new ReLU(), new Linear(2 * hidden, dim)]));
    } else {
      this.registerModule("mlp_head", new Sequential([new Linear(dim, hidden), new ReLU(), new Linear(hidden, hidden), new ReLU(), new Linear(hidden, dim)]));
    }
  }

  protected encode(): Tensor {
    return tf.tidy(() => {
      const mlp = this.getSubmodule("mlp_head") as Sequential;
      if (this.encoderType === "MLP") return mlp.forward(this.embedding.weight);
      const [v, d] = this.embedding.weight.shape as [number, number];
      const lstm = this.getSubmodule("lstm_head") as LSTM;
      // PEFT runs the encoder on one row of prompt tokens (batch 1) and repeats the result per example.
      const h = lstm.forward(tf.reshape(this.embedding.weight, [1, v, d]));
      return mlp.forward(tf.reshape(h, [v, -1]));
    });
  }
}

/**
 * What the three methods' encoders share (PEFT `BasePromptEncoder`): a module that produces the adapter's
 * table, one row per virtual token. Prompt tuning and P-tuning: `[numVirtualTokens, tokenDim]` embeddings
 * put before the input embeddings; prefix tuning: `[numVirtualTokens, numLayers·2·tokenDim]`, every layer's
 * key and value prefix.
 *
 * In inference mode (an adapter loaded from a file, PEFT's `inference_mode`) an encoder is only that table:
 * PEFT saves the encoder's output (`get_prompt_embedding_to_save`), not its parameters, and reads it back
 * into `embedding.weight` of an encoder built without its reparameterisation.
 */
import { Module } from "@peftjs/core";
import type { Embedding, Tensor } from "@peftjs/core";

export abstract class PromptTableEncoder extends Module {
  constructor(readonly inferenceMode: boolean) {
    super();
  }

  /** `embedding`: the learned table (inference mode: the saved output itself). */
  get embedding(): Embedding {
    return this.getSubmodule("embedding") as Embedding;
  }

  /**
   * The table rows, `[numVirtualTokens, width]`: PEFT's `prompt_encoder(prompt_tokens)[0]` in training, the
   * embedding's weight in inference mode. The result is a new tensor (the caller owns it) that keeps the
   * gradient path to the encoder's variables.
   */
  table(): Tensor {
    return this.inferenceMode ? this.embedding.weight.clone() : this.encode();
  }

  /** The training-mode reparameterisation (the embedding alone for prompt tuning and plain prefix tuning). */
  protected abstract encode(): Tensor;
}

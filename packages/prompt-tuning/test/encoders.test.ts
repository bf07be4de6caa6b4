/**
 * The encoders' maths against PEFT's: each fixture's encoder.safetensors (PEFT's own prompt-encoder
 * parameters) loaded into our encoder must give the `prompt_embeddings` PEFT saved, its encoder's output
 * (P-tuning MLP, P-tuning bidirectional LSTM = torch.nn.LSTM, the prefix projection).
 */
import { describe, expect, it } from "vitest";
import { tf } from "@peftjs/core";
import { fromPeftPrefixTuningConfig } from "../src/prefix-tuning/config.js";
import { PrefixEncoder } from "../src/prefix-tuning/encoder.js";
import { fromPeftPromptEncoderConfig } from "../src/p-tuning/config.js";
import { PromptEncoder } from "../src/p-tuning/encoder.js";
import type { PromptTableEncoder } from "../src/encoder.js";
import { CASES, disposeAll, hasFile, readCase, readTensors, relError } from "./helpers.js";

function buildEncoder(config: Record<string, unknown>): PromptTableEncoder {
  // PEFT writes inference_mode true on save; the encoder as it was trained has the reparameterisation.
  const json = { ...config, inference_mode: false };
  if (config.peft_type === "P_TUNING") return new PromptEncoder(fromPeftPromptEncoderConfig(json).config);
  return new PrefixEncoder(fromPeftPrefixTuningConfig(json).config);
}

describe("prompt encoders vs PEFT", () => {
  for (const name of CASES.filter((c) => hasFile(c, "encoder.safetensors"))) {
    it(`${name}: encoder output equals PEFT's prompt_embeddings`, async () => {
      const expected = readCase(name);
      const encoder = buildEncoder(expected.config);
      const weights = await readTensors(name, "encoder.safetensors");
      const saved = await readTensors(name, "adapter_model.safetensors");
      try {
        encoder.loadStateDict(weights);
        encoder.eval();
        const table = encoder.table();
        const err = relError(table, saved.get("prompt_embeddings")!);
        table.dispose();
        expect(err).toBeLessThan(1e-5);
      } finally {
        encoder.dispose();
        disposeAll(weights.values());
        disposeAll(saved.values());
      }
    });
  }

  it("the LSTM encoder's gradient reaches every LSTM weight", () => {
    const encoder = new PromptEncoder(fromPeftPromptEncoderConfig({ peft_type: "P_TUNING", num_virtual_tokens: 3, token_dim: 4, encoder_hidden_size: 5, encoder_reparameterization_type: "LSTM" }).config);
    const vars = encoder.parameters();
    const { grads } = tf.variableGrads(() => tf.sum<tf.Scalar>(tf.square(encoder.table())), vars);
    for (const v of vars) {
      const g = grads[v.name]!;
      expect(tf.max(tf.abs(g)).dataSync()[0]).toBeGreaterThan(0);
    }
    disposeAll(Object.values(grads));
    encoder.dispose();
  });
});

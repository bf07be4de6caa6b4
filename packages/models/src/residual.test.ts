import { describe, expect, it } from "vitest";
import { tf, setSeed } from "@peftjs/core";
import type { Tensor } from "@peftjs/core";
import { bertConfig, createModel, gpt2Config, llamaConfig, ResidualConnection } from "./index.js";
import type { TensorModule } from "./index.js";

/** Residual paths per architecture: the hook points a bottleneck adapter replaces. */
const CASES = [
  { name: "gpt2", build: () => createModel(gpt2Config("tiny", { vocabSize: 50 })), paths: ["transformer.h.1.attn_residual", "transformer.h.1.mlp_residual"] },
  { name: "llama", build: () => createModel(llamaConfig("tiny", { vocabSize: 50 })), paths: ["model.layers.1.self_attn_residual", "model.layers.1.mlp_residual"] },
  { name: "bert", build: () => createModel(bertConfig("tiny", { vocabSize: 50 })), paths: ["bert.encoder.layer.1.attention.output.residual", "bert.encoder.layer.1.output.residual"] },
] as const;

/** Doubles the sublayer output: a replacement whose effect is visible in the logits. */
class DoubleSublayer extends ResidualConnection {
  calls = 0;
  override forward(sublayerOutput: Tensor, residual: Tensor, layerNorm: TensorModule | null): Tensor {
    this.calls++;
    return super.forward(tf.mul(sublayerOutput, 2), residual, layerNorm);
  }
}

describe("residual connections are modules", () => {
  for (const c of CASES) {
    it(`${c.name}: a module put at each residual path is called and changes the output; no parameters added`, () => {
      setSeed(3);
      const model = c.build().eval();
      const ids = tf.tensor2d([[3, 14, 15, 9]], undefined, "int32");
      const before = model.forward({ inputIds: ids }).logits;
      const params = model.namedParameters().length;
      for (const path of c.paths) {
        expect(model.getSubmodule(path)).toBeInstanceOf(ResidualConnection);
        const hook = new DoubleSublayer();
        model.setSubmodule(path, hook);
        const after = model.forward({ inputIds: ids }).logits;
        expect(hook.calls).toBe(1);
        expect(tf.max(tf.abs(tf.sub(after, before))).dataSync()[0]).toBeGreaterThan(1e-4);
        tf.dispose(after);
        model.setSubmodule(path, new ResidualConnection());
      }
      expect(model.namedParameters().length).toBe(params);
      const restored = model.forward({ inputIds: ids }).logits;
      expect(Array.from(restored.dataSync())).toEqual(Array.from(before.dataSync()));
      tf.dispose([ids, before, restored]);
      model.dispose();
    });
  }
});

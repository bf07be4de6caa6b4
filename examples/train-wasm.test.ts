import { describe, expect, it } from "vitest";
import { tf } from "@peftjs/core";
import { trainOnWasm } from "./train-wasm.js";

describe("LoRA training on wasm with selectBackend() alone", () => {
  it("runs 50 steps (the embedding gradient needs core's UnsortedSegmentSum), the loss falls and no tensor leaks", async () => {
    try {
      const { backend, losses, leaked } = await trainOnWasm(50);
      expect(backend).toBe("wasm");
      expect(tf.getKernel("UnsortedSegmentSum", "wasm")).toBeDefined();
      expect(losses).toHaveLength(50);
      expect(losses.every(Number.isFinite)).toBe(true);
      expect(losses[49]!).toBeLessThan(losses[0]! - 0.2);
      expect(leaked).toBe(0);
    } finally {
      await tf.setBackend("cpu");
    }
  });
});

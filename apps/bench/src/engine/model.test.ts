import { describe, it, expect } from "vitest";
import { serializeSafetensors, tf } from "@peftjs/core";
import { cloneWeights, disposeWeights, gpt2ConfigFor, instantiate, safetensorsFileBytes } from "./model.js";

const shape = { nLayer: 1, nEmbd: 8, nHead: 2, vocabSize: 11, nPositions: 16 };

describe("bench models", () => {
  it("same seed → same weights; building leaves only the parameters alive", () => {
    const before = tf.memory().numTensors;
    const a = instantiate(gpt2ConfigFor(shape), 3);
    const b = instantiate(gpt2ConfigFor(shape), 3);
    const params = a.namedParameters().length;
    expect(tf.memory().numTensors - before).toBe(2 * params);
    const wa = a.namedParameters()[2]![1].dataSync();
    expect(Array.from(wa)).toEqual(Array.from(b.namedParameters()[2]![1].dataSync()));
    expect(a.config.residPdrop + a.config.attnPdrop + a.config.embdPdrop).toBe(0);
    a.dispose();
    b.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("cloned weights restore a model built from another seed", () => {
    const a = instantiate(gpt2ConfigFor(shape), 1);
    const saved = cloneWeights(a);
    const b = instantiate(gpt2ConfigFor(shape), 2, saved);
    for (const [[pa, va], [pb, vb]] of a.namedParameters().map((p, i) => [p, b.namedParameters()[i]!] as const)) {
      expect(pb).toBe(pa);
      expect(Array.from(vb.dataSync())).toEqual(Array.from(va.dataSync()));
    }
    disposeWeights(saved);
    a.dispose();
    b.dispose();
  });

  it("the file size without serialising equals the serialised file's length", async () => {
    const m = instantiate(gpt2ConfigFor(shape), 0);
    const tensors = new Map(m.namedParameters());
    expect(await safetensorsFileBytes(tensors)).toBe(serializeSafetensors(tensors, { metadata: { format: "pt" } }).byteLength);
    m.dispose();
  });
});

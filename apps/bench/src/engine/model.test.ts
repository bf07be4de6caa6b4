import { describe, it, expect } from "vitest";
import { ADAPTER_WEIGHTS_NAME, getPeftModel, serializeSafetensors, tf } from "@peftjs/core";
import { lora } from "@peftjs/lora";
import { adapterFileBytes } from "./apply.js";
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

describe("adapter file size", () => {
  it("equals the length of the adapter_model.safetensors PeftModel writes", async () => {
    const m = instantiate(gpt2ConfigFor(shape), 0);
    const peft = getPeftModel(m, lora({ r: 2, targetModules: ["c_attn"], fanInFanOut: true }));
    const written = peft.adapterFiles()[ADAPTER_WEIGHTS_NAME] as Uint8Array;
    const tuned = { module: peft, peft, params: peft.trainableParameters(), trainable: { params: 0, total: 0, percent: 0 }, peftConfig: null };
    expect(await adapterFileBytes(m, tuned)).toBe(written.byteLength);
    m.dispose();
  });
});

import { describe, it, expect } from "vitest";
import { adapterSpec, allVariants, registry, selectVariants } from "./methods.js";
import { defaultPresetName, resolvePreset } from "./presets.js";

describe("bench methods and presets", () => {
  it("full fine-tuning first, then every registered method's stated variants", () => {
    expect(allVariants().map((v) => v.name)).toEqual(["full", "lora", "rslora", "dora", "houlsby", "pfeiffer", "par_bn", "prompt-tuning", "prefix-tuning", "p-tuning"]);
    expect(registry.methods.map((m) => m.name)).toEqual(["lora", "bottleneck", "prompt-tuning", "prefix-tuning", "p-tuning"]);
    expect(selectVariants(["dora", "full"]).map((v) => v.name)).toEqual(["full", "dora"]);
    expect(() => selectVariants(["lora", "ia3"])).toThrow(/unknown method\(s\) "ia3"; available: full, lora, rslora, dora, houlsby, pfeiffer, par_bn, prompt-tuning, prefix-tuning, p-tuning\./);
  });

  it("variants parse through their method: the stated LoRA, rsLoRA and DoRA configs", () => {
    const [lora, rslora, dora] = ["lora", "rslora", "dora"].map((n) => adapterSpec(selectVariants([n])[0]!).config as unknown as Record<string, unknown>);
    expect(lora).toMatchObject({ r: 8, loraAlpha: 16, loraDropout: 0, targetModules: ["c_attn", "c_proj", "c_fc"], useRslora: false, useDora: false });
    expect(rslora).toMatchObject({ r: 8, loraAlpha: 16, useRslora: true, useDora: false });
    expect(dora).toMatchObject({ r: 8, loraAlpha: 16, useRslora: false, useDora: true });
    expect(() => adapterSpec(selectVariants(["full"])[0]!)).toThrow(/full fine-tuning, which has no adapter/);
    const [prompt, prefix, ptuning] = ["prompt-tuning", "prefix-tuning", "p-tuning"].map((n) => adapterSpec(selectVariants([n])[0]!).config as unknown as Record<string, unknown>);
    expect(prompt).toMatchObject({ peftType: "PROMPT_TUNING", numVirtualTokens: 8, promptTuningInit: "SAMPLE_VOCAB" });
    expect(prefix).toMatchObject({ peftType: "PREFIX_TUNING", numVirtualTokens: 8, prefixProjection: true });
    expect(ptuning).toMatchObject({ peftType: "P_TUNING", numVirtualTokens: 8, encoderReparameterizationType: "MLP" });
  });

  it("the bottleneck variants are AdapterHub's presets", () => {
    const [houlsby, pfeiffer, parBn] = ["houlsby", "pfeiffer", "par_bn"].map((n) => adapterSpec(selectVariants([n])[0]!).config as unknown as Record<string, unknown>);
    expect(houlsby).toMatchObject({ peftType: "BOTTLENECK", mhAdapter: true, outputAdapter: true, reductionFactor: 16, nonLinearity: "swish" });
    expect(pfeiffer).toMatchObject({ mhAdapter: false, outputAdapter: true, reductionFactor: 16, nonLinearity: "relu", originalLnBefore: true });
    expect(parBn).toMatchObject({ isParallel: true, reductionFactor: 2, scaling: 4, initWeights: "mam_adapter" });
  });

  it("presets: tiny on cpu/wasm, GPT-2 small's shape on a GPU; command-line overrides win", () => {
    expect(defaultPresetName("cpu", false)).toBe("tiny");
    expect(defaultPresetName("wasm", false)).toBe("tiny");
    expect(defaultPresetName("webgpu", true)).toBe("small");
    const small = resolvePreset("small", { steps: null, warmup: null, qualitySteps: null, pretrainSteps: null });
    expect(small.timing).toMatchObject({ model: { nLayer: 12, nEmbd: 768, nHead: 12, vocabSize: 50257 }, batch: 8, seq: 256 });
    const tweaked = resolvePreset("tiny", { steps: 7, warmup: 0, qualitySteps: 9, pretrainSteps: 0 });
    expect([tweaked.timing.steps, tweaked.timing.warmupSteps, tweaked.quality.steps, tweaked.quality.pretrainSteps]).toEqual([7, 0, 9, 0]);
  });
});

import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseLoraConfig, toPeftLoraConfig, fromPeftLoraConfig, LoraConfigError } from "./config.js";
import { lora, rslora, dora, loraMethod } from "./index.js";

describe("parseLoraConfig", () => {
  it("fills PEFT's LoraConfig defaults", () => {
    expect(parseLoraConfig({})).toEqual({
      peftType: "LORA",
      taskType: null,
      baseModelNameOrPath: null,
      inferenceMode: false,
      modulesToSave: null,
      targetModules: null,
      excludeModules: null,
      layersToTransform: null,
      layersPattern: null,
      r: 8,
      loraAlpha: 8,
      loraDropout: 0,
      fanInFanOut: false,
      bias: "none",
      useRslora: false,
      useDora: false,
      initLoraWeights: true,
      rankPattern: {},
      alphaPattern: {},
    });
  });

  it("rsLoRA and DoRA are options; the helpers set them", () => {
    expect(rslora({ r: 4 }).config).toMatchObject({ r: 4, useRslora: true, useDora: false });
    expect(dora({ r: 4 }).config).toMatchObject({ useDora: true, useRslora: false });
    expect(lora({ useRslora: true, useDora: true }).config).toMatchObject({ useDora: true, useRslora: true });
    expect(lora().method).toBe(loraMethod);
  });

  it.each([
    [{ r: 0 }, /r must be a positive integer, got 0/],
    [{ r: 2.5 }, /r must be a positive integer/],
    [{ loraAlpha: Number.NaN }, /loraAlpha must be a finite number/],
    [{ loraDropout: 1 }, /loraDropout must be in \[0, 1\)/],
    [{ bias: "some" }, /bias must be "none", "all" or "lora_only"/],
    [{ initLoraWeights: "olora" }, /"olora" is not supported; use true \(default\), false, "gaussian", "pissa"/],
    [{ targetModules: [1] }, /targetModules must be a list of strings/],
    [{ targetModules: "(q|v" }, /not a valid regular expression/],
    [{ targetModules: ".*q_proj", layersToTransform: [0] }, /layersToTransform cannot be used when targetModules is a string/],
    [{ layersPattern: "layers" }, /layersPattern needs layersToTransform/],
    [{ layersToTransform: [-1] }, /layersToTransform must be a non-negative integer/],
    [{ rankPattern: { q_proj: 0 } }, /rankPattern\["q_proj"\] must be a positive integer/],
    [{ taskType: "CAUSAL" }, /taskType "CAUSAL" is not a PEFT task type/],
    [{ useDora: "yes" }, /useDora must be true or false/],
  ])("refuses %j", (options, message) => {
    expect(() => parseLoraConfig(options)).toThrow(LoraConfigError);
    expect(() => parseLoraConfig(options)).toThrow(message);
  });

  it("names unknown options, and points snake_case names to their camelCase form", () => {
    expect(() => parseLoraConfig({ lora_alpha: 16, rr: 2 })).toThrow(/unknown options "lora_alpha", "rr". Options are camelCase here: "lora_alpha" → "loraAlpha"\. Valid options: r, loraAlpha/);
  });
});

describe("adapter_config.json", () => {
  it("round-trips through PEFT's snake_case fields", () => {
    const config = parseLoraConfig({
      r: 4,
      loraAlpha: 16,
      loraDropout: 0.1,
      targetModules: ["v_proj", "q_proj"],
      excludeModules: "lm_head",
      bias: "lora_only",
      useRslora: true,
      useDora: true,
      initLoraWeights: "gaussian",
      layersToTransform: [0, 1],
      layersPattern: "layers",
      rankPattern: { o_proj: 2 },
      alphaPattern: { "model.layers.1.self_attn.q_proj": 3 },
      modulesToSave: ["lm_head"],
      taskType: "CAUSAL_LM",
    });
    const json = toPeftLoraConfig(config);
    expect(json).toMatchObject({
      peft_type: "LORA",
      r: 4,
      lora_alpha: 16,
      lora_dropout: 0.1,
      target_modules: ["q_proj", "v_proj"],
      exclude_modules: "lm_head",
      bias: "lora_only",
      use_rslora: true,
      use_dora: true,
      init_lora_weights: "gaussian",
      layers_to_transform: [0, 1],
      layers_pattern: "layers",
      rank_pattern: { o_proj: 2 },
      alpha_pattern: { "model.layers.1.self_attn.q_proj": 3 },
      modules_to_save: ["lm_head"],
      task_type: "CAUSAL_LM",
      lora_bias: false,
    });
    const back = fromPeftLoraConfig(json);
    expect(back.unknownFields).toEqual([]);
    expect(back.config).toEqual({ ...config, targetModules: ["q_proj", "v_proj"] });
  });

  it("reads a config written by Python PEFT 0.21 (fields of other features off are read past)", () => {
    const path = fileURLToPath(new URL("../test/fixtures/llama_rslora/adapter_config.json", import.meta.url));
    const json = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
    const { config, unknownFields } = fromPeftLoraConfig(json);
    expect(unknownFields).toEqual([]);
    expect(config).toMatchObject({
      r: 4,
      loraAlpha: 8,
      useRslora: true,
      useDora: false,
      rankPattern: { "model.layers.1.self_attn.k_proj": 6, o_proj: 2 },
      alphaPattern: { v_proj: 16 },
      inferenceMode: true,
      initLoraWeights: true,
    });
    expect([...(config.targetModules as string[])].sort()).toEqual(["k_proj", "o_proj", "q_proj", "v_proj"]);
  });

  it("fills defaults for a minimal config and returns unknown fields", () => {
    const { config, unknownFields } = fromPeftLoraConfig({ peft_type: "LORA", target_modules: ["c_attn"], some_future_field: 3 });
    expect(config).toMatchObject({ r: 8, loraAlpha: 8, targetModules: ["c_attn"] });
    expect(unknownFields).toEqual(["some_future_field"]);
  });

  it("refuses a PEFT LoRA feature that is on but not implemented here", () => {
    expect(() => fromPeftLoraConfig({ peft_type: "LORA", lora_bias: true })).toThrow(/sets "lora_bias" to true, a PEFT LoRA feature @peftjs\/lora does not implement/);
    expect(() => fromPeftLoraConfig({ peft_type: "LORA", layer_replication: [[0, 2]] })).toThrow(/"layer_replication"/);
    expect(() => fromPeftLoraConfig({ peft_type: "IA3" })).toThrow(/reads "LORA" only/);
  });
});

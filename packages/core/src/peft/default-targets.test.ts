/** PEFT's default target_modules table (peft 0.21 utils/constants.py) and its use when none are given. */
import { describe, expect, it } from "vitest";
import { Module } from "../nn/module.js";
import { LORA_TARGET_MODULES_BY_MODEL_TYPE, resolveTargetModules } from "./default-targets.js";

class Untyped extends Module {
  forward(): void {}
}

class Typed extends Module {
  constructor(readonly config: { modelType: string }) {
    super();
  }
}

describe("default target modules", () => {
  it("has PEFT 0.21's entries for the families @peftjs/models loads (none for phi3, as in PEFT)", () => {
    const t = LORA_TARGET_MODULES_BY_MODEL_TYPE;
    expect(t.gpt2).toEqual(["c_attn"]);
    expect(t.bert).toEqual(["query", "value"]);
    for (const k of ["llama", "mistral", "qwen2", "qwen3", "gemma2", "gemma3_text"]) expect(t[k], k).toEqual(["q_proj", "v_proj"]);
    expect(t.gemma4).toBe(String.raw`.*language_model\..*\.(q_proj|v_proj)`);
    expect(t.phi3).toBeUndefined();
    // Checked entry for entry (order included) against json.dumps of the PEFT 0.21 dict: 40 entries.
    expect(Object.keys(t)).toHaveLength(40);
  });

  it("keeps given targets, fills null ones from the model type (a copy), and names the fix otherwise", () => {
    expect(resolveTargetModules(new Typed({ modelType: "qwen2" }), ["o_proj"], "LoRA")).toEqual(["o_proj"]);
    expect(resolveTargetModules(new Typed({ modelType: "qwen2" }), "all-linear", "LoRA")).toBe("all-linear");
    const filled = resolveTargetModules(new Typed({ modelType: "gemma3_text" }), null, "LoRA");
    expect(filled).toEqual(["q_proj", "v_proj"]);
    expect(filled).not.toBe(LORA_TARGET_MODULES_BY_MODEL_TYPE.gemma3_text);
    expect(() => resolveTargetModules(new Typed({ modelType: "phi3" }), null, "LoRA")).toThrow(/LoRA: targetModules is not set and PEFT has no default for model type "phi3".*\["qkv_proj"\]/);
    expect(() => resolveTargetModules(new Untyped(), undefined, "IA3")).toThrow(/IA3: .*\(unknown: the model has no config.modelType\)/);
    expect(() => resolveTargetModules(new Typed({ modelType: "toString" }), null, "LoRA")).toThrow(/no default for model type "toString"/);
  });
});

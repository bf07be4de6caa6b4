/** Bad LoRA configs and inputs (issue 18): each gets an error or a warning that says the fix. */
import { describe, expect, it } from "vitest";
import { Linear, Module, PeftModel, createRegistry, getPeftModel, serializeSafetensors, setSeed, silentLogger, tf, validateAdapterName } from "@peftjs/core";
import type { Logger } from "@peftjs/core";
import { fromPeftLoraConfig, parseLoraConfig } from "./config.js";
import { injectLora } from "./method.js";
import { lora, loraMethod } from "./index.js";

class Tiny extends Module {
  constructor() {
    super();
    this.registerModule("q_proj", new Linear(4, 4));
    this.registerModule("v_proj", new Linear(4, 4));
  }
  forward(x: tf.Tensor): tf.Tensor {
    return (this.getSubmodule("v_proj") as Linear).forward((this.getSubmodule("q_proj") as Linear).forward(x));
  }
}
const base = { peft_type: "LORA", target_modules: ["q_proj"], lora_alpha: 8 };

function recorder(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return { ...silentLogger, warnings, warn: (m: string) => warnings.push(m) };
}

describe("adapter_config.json items", () => {
  it('"r": null is refused naming r and the fix (not the default 8 and a shape error); a missing "r" is PEFT\'s default 8', () => {
    expect(() => fromPeftLoraConfig({ ...base, r: null })).toThrow(/has "r": null \(the LoRA rank\); set it to the rank the adapter was trained with/);
    expect(fromPeftLoraConfig(base).config.r).toBe(8);
    expect(fromPeftLoraConfig({ ...base, r: 4 }).config.r).toBe(4);
  });

  it("a missing \"r\" whose default 8 does not fit the weights: the load error names r, the file's rank and the fix", () => {
    setSeed(2);
    const lA = tf.randomNormal([4, 4]);
    const lB = tf.randomNormal([4, 4]);
    const weights = serializeSafetensors({ "base_model.model.q_proj.lora_A.weight": lA, "base_model.model.q_proj.lora_B.weight": lB });
    lA.dispose();
    lB.dispose();
    const files = { config: JSON.stringify(base), weights };
    const peft = new PeftModel(new Tiny(), { registry: createRegistry(loraMethod), logger: silentLogger });
    expect(() => peft.loadAdapterFromFiles(files, "default")).toThrow(/file's LoRA rank is 4 but the config gives r = 8.*"r" is 8, PEFT's default 8 when the field is missing.*set "r": 4/);
    const ok = new PeftModel(new Tiny(), { registry: createRegistry(loraMethod), logger: silentLogger });
    ok.loadAdapterFromFiles({ config: JSON.stringify({ ...base, r: 4 }), weights }, "default");
    expect(ok.adapterNames()).toEqual(["default"]);
  });

  it("target_modules with Python-only regex syntax is accepted (validated after the Python → JS translation)", () => {
    const { config } = fromPeftLoraConfig({ ...base, r: 2, target_modules: "(?P<proj>q|v)_proj" });
    expect(config.targetModules).toBe("(?P<proj>q|v)_proj");
    setSeed(1);
    const model = new Tiny();
    const injection = injectLora(model, config, "default", { logger: silentLogger });
    expect(injection.targets).toEqual(["q_proj", "v_proj"]);
    expect(() => parseLoraConfig({ targetModules: "(?P<x>q" })).toThrow(/is not a valid regular expression/);
  });

  it("a rank_pattern / alpha_pattern key that matches no target warns, like PEFT", () => {
    setSeed(1);
    const logger = recorder();
    injectLora(new Tiny(), parseLoraConfig({ targetModules: ["q_proj"], rankPattern: { q_proj: 2, k_proj: 3 }, alphaPattern: { nothing: 4 } }), "default", { logger });
    expect(logger.warnings).toHaveLength(2);
    expect(logger.warnings[0]).toMatch(/rankPattern key "k_proj" matches none of the 1 target modules, so it has no effect/);
    expect(logger.warnings[1]).toMatch(/alphaPattern key "nothing"/);
  });

  it("a config built by spreading a parsed one with loraAlpha: NaN (or r: 0) is refused before any layer is made", () => {
    const parsed = parseLoraConfig({ targetModules: ["q_proj"] });
    setSeed(1);
    const model = new Tiny();
    expect(() => injectLora(model, { ...parsed, loraAlpha: NaN }, "default", { logger: silentLogger })).toThrow(/loraAlpha must be a finite number, got NaN/);
    expect(() => injectLora(model, { ...parsed, r: 0 }, "default", { logger: silentLogger })).toThrow(/r must be a positive integer/);
    expect(model.getSubmodule("q_proj")).toBeInstanceOf(Linear); // nothing was injected
  });

  it("an I32 lora_A in adapter_model.safetensors is refused, not cast to float", () => {
    setSeed(1);
    const source = getPeftModel(new Tiny(), lora({ targetModules: ["q_proj"], r: 2 }), "default", { logger: silentLogger });
    const state = source.adapterStateDict("default");
    const ints = new Map([...state].map(([k, v]) => [k, k.includes("lora_A") ? tf.cast(v, "int32") : v]));
    const weights = serializeSafetensors(ints);
    const config = JSON.stringify({ ...base, r: 2 });
    const registry = createRegistry(loraMethod);
    expect(() => PeftModel.fromFiles(new Tiny(), { config, weights }, { registry, logger: silentLogger })).toThrow(/lora_A.weight": the file stores integers .* for a float parameter; re-save it with float weights/);
    for (const [k, v] of ints) if (k.includes("lora_A")) v.dispose();
  });
});

describe("adapter names", () => {
  it("300 characters or a NUL are refused when the adapter is added, not at save", () => {
    expect(() => validateAdapterName("a".repeat(300), [])).toThrow(/\(300 bytes\): at most 255 bytes/);
    expect(() => validateAdapterName("bad\u0000name", [])).toThrow(/may not contain NUL or other control characters/);
    setSeed(1);
    expect(() => getPeftModel(new Tiny(), lora({ targetModules: ["q_proj"] }), "x".repeat(300), { logger: silentLogger })).toThrow(/at most 255 bytes/);
    expect(() => validateAdapterName("é".repeat(127), [])).not.toThrow(); // 254 bytes
  });
});

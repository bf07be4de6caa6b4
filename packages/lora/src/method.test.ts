import { describe, it, expect } from "vitest";
import { Module, Linear, Conv1D, Embedding, LayerNorm, ModuleList, setSeed, NoMatchingTargetsError, silentLogger } from "@peftjs/core";
import type { Logger, Tensor } from "@peftjs/core";
import { parseLoraConfig } from "./config.js";
import { injectLora, loraFileKey, loraParamPath } from "./method.js";
import { LoraEmbedding, LoraLinear } from "./layer.js";

describe("file keys (PEFT get_peft_model_state_dict naming)", () => {
  const none = parseLoraConfig({});
  const all = parseLoraConfig({ bias: "all" });
  const loraOnly = parseLoraConfig({ bias: "lora_only" });

  it.each([
    ["transformer.h.0.attn.c_attn.lora_A.default.weight", "transformer.h.0.attn.c_attn.lora_A.weight"],
    ["transformer.h.0.attn.c_attn.lora_B.default.weight", "transformer.h.0.attn.c_attn.lora_B.weight"],
    ["model.embed_tokens.lora_embedding_A.default", "model.embed_tokens.lora_embedding_A"],
    ["model.embed_tokens.lora_embedding_B.default", "model.embed_tokens.lora_embedding_B"],
    ["model.layers.0.self_attn.q_proj.lora_magnitude_vector.default", "model.layers.0.self_attn.q_proj.lora_magnitude_vector"],
  ])("%s → %s, and back", (path, key) => {
    expect(loraFileKey(path, "default", none)).toBe(key);
    expect(loraParamPath(key, "default")).toBe(path);
  });

  it("leaves out base weights and other adapters' parameters", () => {
    expect(loraFileKey("h.0.attn.c_attn.base_layer.weight", "default", all)).toBeNull();
    expect(loraFileKey("h.0.attn.c_attn.lora_A.other.weight", "default", all)).toBeNull();
    expect(loraFileKey("h.0.attn.c_attn.lora_magnitude_vector.other", "default", none)).toBeNull();
    // A base module whose name starts with "lora_" is not an adapter container.
    expect(loraFileKey("model.lora_proj.weight", "default", none)).toBeNull();
    expect(loraFileKey("model.lora_proj.bias", "default", all)).toBe("model.lora_proj.bias");
  });

  it("an adapter named like a parameter still maps one to one", () => {
    expect(loraFileKey("x.lora_A.weight.weight", "weight", none)).toBe("x.lora_A.weight");
    expect(loraParamPath("x.lora_A.weight", "weight")).toBe("x.lora_A.weight.weight");
  });

  it('saves biases like PEFT: "all" every bias, "lora_only" the wrapped layers\' biases, "none" none', () => {
    expect(loraFileKey("h.0.ln_1.bias", "default", all)).toBe("h.0.ln_1.bias");
    expect(loraFileKey("h.0.attn.c_attn.base_layer.bias", "default", all)).toBe("h.0.attn.c_attn.base_layer.bias");
    expect(loraFileKey("h.0.ln_1.bias", "default", loraOnly)).toBeNull();
    expect(loraFileKey("h.0.attn.c_attn.base_layer.bias", "default", loraOnly)).toBe("h.0.attn.c_attn.base_layer.bias");
    expect(loraFileKey("h.0.attn.c_attn.base_layer.bias", "default", none)).toBeNull();
    // modules_to_save copies are saved by PeftModel under their own keys.
    expect(loraFileKey("score.modules_to_save.default.bias", "default", all)).toBeNull();
    // Keys without a LoRA container (saved biases, PEFT's saved embedding weights) pass through.
    expect(loraParamPath("h.0.attn.c_attn.base_layer.bias", "default")).toBe("h.0.attn.c_attn.base_layer.bias");
    expect(loraParamPath("model.embed_tokens.base_layer.weight", "default")).toBe("model.embed_tokens.base_layer.weight");
  });
});

/** A toy tree with HF-like paths, read through the tree at forward time. */
class Block extends Module {
  constructor() {
    super();
    this.registerModule("ln", new LayerNorm(8));
    this.registerModule("c_attn", new Conv1D(8, 24));
    this.registerModule("q_proj", new Linear(8, 8));
    this.registerModule("v_proj", new Linear(8, 8, { bias: false }));
  }
}
class Inner extends Module {
  constructor(layers: number) {
    super();
    this.registerModule("embed_tokens", new Embedding(20, 8));
    this.registerModule("layers", new ModuleList(Array.from({ length: layers }, () => new Block())));
  }
}
class Toy extends Module {
  readonly config = { modelType: "toy" };
  /** "all-linear" leaves the output head out. */
  readonly outputEmbeddingsPath = "lm_head";
  constructor(layers = 3) {
    super();
    this.registerModule("model", new Inner(layers));
    this.registerModule("lm_head", new Linear(8, 20, { bias: false }));
  }
  forward(x: Tensor): Tensor {
    return x;
  }
}

/** A logger that records info and warn lines apart. */
function recorder(): { logger: Logger; infos: string[]; warnings: string[] } {
  const infos: string[] = [];
  const warnings: string[] = [];
  return { logger: { ...silentLogger, info: (m) => infos.push(m), warn: (m) => warnings.push(m) }, infos, warnings };
}

function inject(options: Parameters<typeof parseLoraConfig>[0], model = new Toy()): { model: Toy; targets: readonly string[]; warnings: string[]; infos: string[] } {
  setSeed(1);
  const rec = recorder();
  const { targets } = injectLora(model, parseLoraConfig(options), "default", { logger: rec.logger });
  return { model, targets, warnings: rec.warnings, infos: rec.infos };
}

describe("injectLora", () => {
  it("wraps list targets by suffix, Linear / Conv1D / Embedding alike", () => {
    const { model, targets } = inject({ targetModules: ["q_proj", "c_attn", "embed_tokens"] });
    expect(targets).toEqual([
      "model.embed_tokens",
      "model.layers.0.c_attn",
      "model.layers.0.q_proj",
      "model.layers.1.c_attn",
      "model.layers.1.q_proj",
      "model.layers.2.c_attn",
      "model.layers.2.q_proj",
    ]);
    expect(model.getSubmodule("model.embed_tokens")).toBeInstanceOf(LoraEmbedding);
    expect(model.getSubmodule("model.layers.1.c_attn")).toBeInstanceOf(LoraLinear);
    expect(model.getSubmodule("model.layers.1.v_proj")).toBeInstanceOf(Linear);
  });

  it("honours layersToTransform, excludeModules and regex targets", () => {
    expect(inject({ targetModules: ["q_proj", "v_proj"], layersToTransform: [0, 2] }).targets).toEqual(["model.layers.0.q_proj", "model.layers.0.v_proj", "model.layers.2.q_proj", "model.layers.2.v_proj"]);
    expect(inject({ targetModules: ["q_proj"], excludeModules: ["model.layers.1.q_proj"] }).targets).toEqual(["model.layers.0.q_proj", "model.layers.2.q_proj"]);
    expect(inject({ targetModules: "model\\.layers\\.[01]\\.(q|v)_proj" }).targets).toEqual(["model.layers.0.q_proj", "model.layers.0.v_proj", "model.layers.1.q_proj", "model.layers.1.v_proj"]);
    expect(inject({ targetModules: "all-linear" }).targets).toHaveLength(9);
  });

  it("sets fanInFanOut from the target's layout like PEFT's dispatch_default, as an info line (not a warning)", () => {
    const conv = inject({ targetModules: ["c_attn"] });
    expect(conv.infos).toEqual(['fanInFanOut is false but the target "model.layers.0.c_attn" is a Conv1D (weight [in, out]); setting fanInFanOut to true.']);
    expect(conv.warnings).toEqual([]);
    const config = parseLoraConfig({ targetModules: ["q_proj"], fanInFanOut: true });
    const rec = recorder();
    const injection = injectLora(new Toy(), config, "default", { logger: rec.logger });
    expect(injection.config.fanInFanOut).toBe(false);
    expect(config.fanInFanOut).toBe(true); // the caller's config is never changed
    expect(rec.infos[0]).toMatch(/fanInFanOut is true but the target "model.layers.0.q_proj" is a Linear/);
  });

  it("adds a second adapter to the tuner layer already there", () => {
    const { model } = inject({ targetModules: ["q_proj"] });
    injectLora(model, parseLoraConfig({ targetModules: ["q_proj"], r: 2 }), "second");
    const layer = model.getSubmodule("model.layers.0.q_proj") as LoraLinear;
    expect(layer.adapterNames()).toEqual(["default", "second"]);
    expect(layer.loraA("second").shape).toEqual([2, 8]);
    expect(layer.activeAdapters()).toEqual(["default"]);
  });

  it("explains what to do when nothing matches or no default targets exist", () => {
    expect(() => inject({ targetModules: ["k_proj"] })).toThrow(NoMatchingTargetsError);
    expect(() => inject({ targetModules: ["k_proj"] })).toThrow(/Target modules \["k_proj"\] not found/);
    expect(() => inject({})).toThrow(/targetModules is not set and PEFT has no default for model type "toy"/);
    expect(() => inject({ targetModules: ["ln"] })).toThrow(/cannot adapt/);
  });
});

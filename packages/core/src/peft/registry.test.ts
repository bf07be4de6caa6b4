import { describe, expect, it } from "vitest";
import { createRegistry, defaultAdapterFileKey, defaultAdapterParamPath, getPeftModel, validateAdapterName } from "../index.js";
import type { Method } from "../index.js";
import { scale, scaleMethod } from "../../test/support/scale-method.js";
import { ia3TestMethod } from "../../test/support/ia3-method.js";
import { TinyModel } from "../../test/support/tiny-model.js";
import { formatFixed4, formatThousands } from "./python-format.js";

const variant = (over: Partial<Method>): Method => ({ ...(scaleMethod as unknown as Method), ...over });

describe("createRegistry", () => {
  it("holds methods by name and peft_type, with no import side effects", () => {
    const reg = createRegistry(scaleMethod, ia3TestMethod);
    expect(reg.methods.map((m) => m.name)).toEqual(["test-scale", "test-ia3"]);
    expect(reg.find("test-ia3")).toBe(ia3TestMethod);
    expect(reg.byPeftType("TEST_SCALE")).toBe(scaleMethod);
    expect(reg.prefixes()).toEqual(["scale_", "ia3_"]);
    expect(() => reg.byPeftType("LORA")).toThrow(/No registered method has peft_type "LORA". Registered: "TEST_SCALE" \(test-scale\), "IA3" \(test-ia3\)/);
    expect(() => createRegistry().byPeftType("LORA")).toThrow(/Registered: none/);
  });

  it("rejects duplicate names, prefixes and peft types, overlapping prefixes and bad methods", () => {
    const a = scaleMethod as unknown as Method;
    expect(() => createRegistry(a, variant({ peftType: "OTHER", prefix: "other_" }))).toThrow(/two methods are named "test-scale"/);
    expect(() => createRegistry(a, variant({ name: "b", peftType: "OTHER" }))).toThrow(/"test-scale" and "b" both use the prefix "scale_"/);
    expect(() => createRegistry(a, variant({ name: "b", prefix: "b_" }))).toThrow(/both have peftType "TEST_SCALE"/);
    expect(() => createRegistry(a, variant({ name: "b", peftType: "B", prefix: "scale_x_" }))).toThrow(/prefixes "scale_" \(test-scale\) and "scale_x_" \(b\) overlap/);
    expect(() => createRegistry(variant({ name: "Scale" }))).toThrow(/method name "Scale" is invalid/);
    expect(() => createRegistry(variant({ prefix: "" }))).toThrow(/invalid prefix/);
    expect(() => createRegistry(variant({ specificationVersion: "v1" as "v2" }))).toThrow(/implements contract v1, this @peftjs\/core implements "v2"; contract v1 was removed/);
    expect(() => createRegistry(variant({ specificationVersion: "v3" as "v2" }))).toThrow(/implements contract v3.*install matching versions/);
  });
});

describe("adapter names", () => {
  it("are refused when empty, dotted, reserved or colliding with a method prefix", () => {
    const prefixes = ["lora_", "scale_"];
    expect(() => validateAdapterName("", prefixes)).toThrow(/non-empty/);
    expect(() => validateAdapterName("a.b", prefixes)).toThrow(/may not contain "."/);
    expect(() => validateAdapterName("a/b", prefixes)).toThrow(/Try "a_b"/);
    expect(() => validateAdapterName("__base__", prefixes)).toThrow(/reserved/);
    expect(() => validateAdapterName("lora", prefixes)).toThrow(/collides with the method prefix "lora_"/);
    expect(() => validateAdapterName("my_lora_1", prefixes)).toThrow(/collides with the method prefix "lora_"/);
    expect(() => validateAdapterName("scale_x", prefixes)).toThrow(/"scale_"/);
    for (const ok of ["default", "a", "task-1", "Lora2"]) expect(() => validateAdapterName(ok, prefixes)).not.toThrow();
  });

  it("getPeftModel refuses a colliding name and leaves the model as it was", () => {
    const model = new TinyModel();
    expect(() => getPeftModel(model, scale({ targetModules: ["fc1"] }), "scale")).toThrow(/collides with the method prefix "scale_"/);
    expect(model.parameters().every((v) => v.trainable)).toBe(true);
    expect(model.getSubmodule("model.layers.0.fc1").constructor.name).toBe("Linear");
    model.dispose();
  });
});

describe("adapter file keys (PEFT _remove_adapter_name_from_state_dict_key)", () => {
  it("drop the adapter name after the prefixed segment, for module dicts and parameter dicts, and invert", () => {
    const cases: [string, string][] = [
      ["transformer.h.0.attn.c_attn.lora_A.default.weight", "transformer.h.0.attn.c_attn.lora_A.weight"],
      ["model.layers.1.mlp.ia3_l.default", "model.layers.1.mlp.ia3_l"],
      // A module named like the adapter elsewhere in the path is left alone.
      ["default.lora_B.default.weight", "default.lora_B.weight"],
    ];
    for (const [path, key] of cases) {
      const prefix = path.includes("ia3_") ? "ia3_" : "lora_";
      expect(defaultAdapterFileKey(path, "default", prefix)).toBe(key);
      expect(defaultAdapterParamPath(key, "default", prefix)).toBe(path);
    }
    expect(defaultAdapterFileKey("h.0.attn.c_attn.lora_A.other.weight", "default", "lora_")).toBeNull();
    expect(defaultAdapterFileKey("h.0.attn.c_attn.base_layer.weight", "default", "lora_")).toBeNull();
    expect(defaultAdapterParamPath("h.0.c_attn.lora_A.weight", "task-2", "lora_")).toBe("h.0.c_attn.lora_A.task-2.weight");
    expect(() => defaultAdapterParamPath("h.0.c_attn.weight", "default", "lora_")).toThrow(/no segment starting with the method prefix "lora_"/);
  });
});

describe("Python number formatting", () => {
  it("f'{n:,d}' and f'{x:.4f}' (half-to-even on exact binary ties)", () => {
    expect(formatThousands(0)).toBe("0");
    expect(formatThousands(999)).toBe("999");
    expect(formatThousands(1234)).toBe("1,234");
    expect(formatThousands(124_439_808)).toBe("124,439,808");
    expect(formatFixed4(21.73249)).toBe("21.7325");
    expect(formatFixed4(100)).toBe("100.0000");
    // Exact ties: Python gives '0.0312', '0.0938', '3.0312' (round half to even); toFixed would round up.
    expect(formatFixed4(1 / 32)).toBe("0.0312");
    expect(formatFixed4(3 / 32)).toBe("0.0938");
    expect(formatFixed4(97 / 32)).toBe("3.0312");
    // Not a tie in binary (0.00015 is stored slightly below): Python prints '0.0001'.
    expect(formatFixed4(0.00015)).toBe("0.0001");
    expect(formatFixed4(Number.NaN)).toBe("nan");
  });
});

/**
 * Against Python PEFT (packages/core/scripts/make_peft_fixtures.py, PEFT 0.21, IA3 on a tiny model):
 * loading PEFT's adapter folder (subfolder for a second adapter), logits (active, second, disabled, merged),
 * print_trainable_parameters' line, and the file keys peftjs writes for the same adapters.
 */
import { afterEach, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { tf, PeftModel, createRegistry, getPeftModel, parseSafetensors, silentLogger } from "../index.js";
import type { Module } from "../index.js";
import { TinyModel } from "../../test/support/tiny-model.js";
import { ia3Test, ia3TestMethod } from "../../test/support/ia3-method.js";
import { expectClose, logitsOf } from "../../test/support/helpers.js";

const FIXTURES = fileURLToPath(new URL("../../test/fixtures/peft/", import.meta.url));
interface Expected {
  input_ids: number[][];
  print_default: string;
  print_two: string;
  keys: { default: string[]; second: string[] };
  logits_default: number[][][];
  logits_second: number[][][];
  logits_disabled: number[][][];
  logits_merged: number[][][];
}
const expected = JSON.parse(readFileSync(join(FIXTURES, "expected.json"), "utf8")) as Expected;
const registry = createRegistry(ia3TestMethod);
const made: Module[] = [];
afterEach(() => {
  for (const m of made.splice(0)) m.dispose();
});

/** The PEFT script's base model (its weights from base/model.safetensors). */
function baseModel(): TinyModel {
  const m = new TinyModel();
  made.push(m);
  const { tensors } = parseSafetensors(readFileSync(join(FIXTURES, "base", "model.safetensors")));
  m.loadStateDict(tensors);
  tf.dispose([...tensors.values()]);
  return m;
}

describe("PEFT-made IA3 adapters", () => {
  it("load with PEFT's logits: active, second (subfolder), disabled, merged", async () => {
    const warnings: string[] = [];
    const peft = await PeftModel.fromPretrained(baseModel(), join(FIXTURES, "ia3"), { registry, logger: { ...silentLogger, warn: (w) => warnings.push(w) } });
    peft.eval();
    expect(warnings).toEqual([]);
    const ids = expected.input_ids;
    expectClose(logitsOf(peft, {}, ids), expected.logits_default);
    await peft.loadAdapter(join(FIXTURES, "ia3"), "second", { subfolder: "second" });
    peft.setAdapter("second");
    expectClose(logitsOf(peft, {}, ids), expected.logits_second);
    peft.setAdapter("default");
    expectClose(
      peft.disableAdapters(() => logitsOf(peft, {}, ids)),
      expected.logits_disabled,
    );
    const merged = peft.mergeAndUnload({ safe: true });
    const input = tf.tensor2d(ids, undefined, "int32");
    const out = merged.forward({ inputIds: input });
    expectClose(out.logits.arraySync() as number[][][], expected.logits_merged);
    tf.dispose([input, out.logits]);
  });

  it("print_trainable_parameters prints PEFT's exact lines", () => {
    const peft = getPeftModel(baseModel(), ia3Test({ targetModules: ["fc1", "fc2"], feedforwardModules: [], modulesToSave: ["lm_head"] }));
    expect(peft.printTrainableParameters(() => undefined)).toBe(expected.print_default);
    peft.addAdapter("second", ia3Test({ targetModules: ["fc2"], feedforwardModules: [], initIa3Weights: false }));
    expect(peft.printTrainableParameters(() => undefined)).toBe(expected.print_two);
  });

  it("peftjs saves the same keys PEFT saved (modules_to_save under the module's path, subfolder for 'second')", async () => {
    const peft = await PeftModel.fromPretrained(baseModel(), join(FIXTURES, "ia3"), { registry });
    await peft.loadAdapter(join(FIXTURES, "ia3"), "second", { subfolder: "second" });
    const files = peft.adapterFiles();
    const keys = (f: string): string[] => {
      const { tensors } = parseSafetensors(files[f] as Uint8Array);
      tf.dispose([...tensors.values()]);
      return [...tensors.keys()].sort();
    };
    expect(keys("adapter_model.safetensors")).toEqual(expected.keys.default);
    expect(keys("second/adapter_model.safetensors")).toEqual(expected.keys.second);
    const config = JSON.parse(files["adapter_config.json"] as string) as Record<string, unknown>;
    const theirs = JSON.parse(readFileSync(join(FIXTURES, "ia3", "adapter_config.json"), "utf8")) as Record<string, unknown>;
    for (const field of ["peft_type", "modules_to_save", "feedforward_modules", "fan_in_fan_out", "inference_mode", "task_type"]) expect(config[field]).toEqual(theirs[field]);
    expect([...(config["target_modules"] as string[])].sort()).toEqual([...(theirs["target_modules"] as string[])].sort());
  });
});

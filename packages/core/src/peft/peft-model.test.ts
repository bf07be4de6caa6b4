import { afterEach, describe, expect, it } from "vitest";
import { tf, Linear, Module, ModulesToSaveWrapper, NoMatchingTargetsError, PeftModel, getPeftModel, setSeed, silentLogger } from "../index.js";
import type { Tensor } from "../index.js";
import { TinyBlock, TinyModel, linear64, rows } from "../../test/support/tiny-model.js";
import type { Matrix } from "../../test/support/tiny-model.js";
import { scale } from "../../test/support/scale-method.js";
import { ScaleLayer } from "../../test/support/scale-layer.js";
import { IDS, expectClose, fingerprint, idsTensor, logitsOf, reference } from "../../test/support/helpers.js";

const made: Module[] = [];
function tiny(seed = 1): TinyModel {
  setSeed(seed);
  const m = new TinyModel();
  made.push(m);
  return m;
}
afterEach(() => {
  for (const m of made.splice(0)) m.dispose();
});

const layer = (peft: Module, path: string): ScaleLayer => peft.getSubmodule(path) as ScaleLayer;
const trainableNames = (peft: Module): string[] => peft.namedParameters().filter(([, v]) => v.trainable).map(([k]) => k);

describe("getPeftModel", () => {
  it("freezes the base, injects a trainable adapter and computes the adapted forward", () => {
    const model = tiny();
    const peft = getPeftModel(model, scale({ targetModules: ["fc1", "fc2"], initScale: "random" }));
    expect(peft.activeAdapters).toEqual(["default"]);
    expect(peft.getSubmodule("model.layers.1.fc2")).toBeInstanceOf(ScaleLayer);
    expect(trainableNames(peft)).toEqual([0, 1].flatMap((i) => [`model.layers.${i}.fc1.scale_vector.default`, `model.layers.${i}.fc2.scale_vector.default`]));
    expect(peft.namedParameters().map(([k]) => k)).toContain("model.layers.0.fc1.base_layer.weight");
    expectClose(logitsOf(peft), reference(peft, ["default"]));
    // The random init is not the identity: the adapter really changes the output.
    expect(Math.abs(logitsOf(peft)[0]![0]![0]! - reference(peft, [])[0]![0]![0]!)).toBeGreaterThan(1e-4);
  });

  it("prints PEFT's trainable-parameters line", () => {
    const peft = getPeftModel(tiny(), scale({ targetModules: ["fc1", "fc2"] }));
    // Base: embed 11·4 + 2 layers·(4·6+6 + 6·4+4) + head 4·11 = 204; adapter: 2·(6+4) = 20.
    expect(peft.getNbTrainableParameters()).toEqual({ trainableParams: 20, allParams: 224 });
    const lines: string[] = [];
    peft.printTrainableParameters((l) => lines.push(l));
    expect(lines).toEqual(["trainable params: 20 || all params: 224 || trainable%: 8.9286"]);
  });

  it("a target list that matches nothing throws the module list and leaves the model as it was", () => {
    const model = tiny();
    const before = fingerprint(model);
    const nTensors = tf.memory().numTensors;
    expect(() => getPeftModel(model, scale({ targetModules: ["q_proj"] }))).toThrow(NoMatchingTargetsError);
    expect(() => getPeftModel(model, scale({ targetModules: ["q_proj"] }))).toThrow(/model.layers.0.fc1, model.layers.0.fc2/);
    expect(fingerprint(model)).toEqual(before);
    expect(tf.memory().numTensors).toBe(nTensors);
  });
});

describe("adapters: add, switch, delete", () => {
  it("switches the active adapter(s); only active adapters train", () => {
    const peft = getPeftModel(tiny(), scale({ targetModules: ["fc1", "fc2"], initScale: "random" }));
    peft.addAdapter("b", scale({ targetModules: ["fc2"], initScale: "random" }));
    expect(peft.adapterNames()).toEqual(["default", "b"]);
    // Added, not active: output unchanged, parameters frozen (PEFT add_adapter).
    expect(peft.activeAdapters).toEqual(["default"]);
    expectClose(logitsOf(peft), reference(peft, ["default"]));
    expect(trainableNames(peft).some((k) => k.endsWith(".b"))).toBe(false);

    peft.setAdapter("b");
    expectClose(logitsOf(peft), reference(peft, ["b"]));
    expect(trainableNames(peft)).toEqual(["model.layers.0.fc2.scale_vector.b", "model.layers.1.fc2.scale_vector.b"]);

    peft.setAdapter(["default", "b"]);
    expect(layer(peft, "model.layers.0.fc2").activeAdapters()).toEqual(["default", "b"]);
    expect(layer(peft, "model.layers.0.fc1").activeAdapters()).toEqual(["default"]);
    expectClose(logitsOf(peft), reference(peft, ["default", "b"]));
    expect(trainableNames(peft)).toHaveLength(6);

    expect(() => peft.setAdapter("nope")).toThrow(/No adapter named "nope". Adapters: "default", "b"/);
    expect(() => peft.addAdapter("b", scale({ targetModules: ["fc1"] }))).toThrow(/already exists/);
  });

  it("a failed addAdapter leaves the PeftModel exactly as before", () => {
    const peft = getPeftModel(tiny(), scale({ targetModules: ["fc1"], initScale: "random" }));
    const before = fingerprint(peft);
    const n = tf.memory().numTensors;
    expect(() => peft.addAdapter("b", scale({ targetModules: ["nothing"] }))).toThrow(/not found/);
    expect(peft.adapterNames()).toEqual(["default"]);
    expect(fingerprint(peft)).toEqual(before);
    expect(tf.memory().numTensors).toBe(n);
  });

  it("deletes an adapter, frees its parameters and unwraps layers left without adapters", () => {
    const model = tiny();
    const nBase = tf.memory().numTensors;
    const warnings: string[] = [];
    const peft = getPeftModel(model, scale({ targetModules: ["fc1", "fc2"], initScale: "random" }), "default", { logger: { ...silentLogger, warn: (m) => warnings.push(m) } });
    peft.addAdapter("b", scale({ targetModules: ["fc2"], initScale: "random" }));
    peft.deleteAdapter("default");
    expect(warnings).toEqual(["Adapter default was active which is now deleted. Setting active adapter to b."]);
    expect(peft.activeAdapters).toEqual(["b"]);
    expect(peft.getSubmodule("model.layers.0.fc1")).toBeInstanceOf(Linear);
    expect(layer(peft, "model.layers.0.fc2").adapterNames()).toEqual(["b"]);
    expectClose(logitsOf(peft), reference(peft, ["b"]));
    peft.deleteAdapter("b");
    expect(peft.adapterNames()).toEqual([]);
    expect(fingerprint(model).modules.every(([, c]) => c !== "ScaleLayer")).toBe(true);
    expect(tf.memory().numTensors).toBe(nBase);
    expect(() => peft.deleteAdapter("b")).toThrow(/No adapter named "b"/);
  });
});

describe("disabled-adapters scope", () => {
  it("runs the base model, then restores; also for async functions and on errors", async () => {
    const peft = getPeftModel(tiny(), scale({ targetModules: ["fc1", "fc2"], initScale: "random" }));
    const inside = peft.disableAdapters(() => logitsOf(peft));
    expectClose(inside, reference(peft, []));
    expectClose(logitsOf(peft), reference(peft, ["default"]));

    const asyncInside = await peft.disableAdapters(async () => {
      await Promise.resolve();
      return logitsOf(peft);
    });
    expectClose(asyncInside, reference(peft, []));
    expectClose(logitsOf(peft), reference(peft, ["default"]));

    expect(() =>
      peft.disableAdapters(() => {
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect(layer(peft, "model.layers.0.fc1").disabled).toBe(false);
  });
});

describe("mixed batch (per-row adapter names)", () => {
  it("equals running each row alone with its adapter; __base__ equals the disabled forward", () => {
    const peft = getPeftModel(tiny(), scale({ targetModules: ["fc1", "fc2"], initScale: "random" }));
    peft.addAdapter("b", scale({ targetModules: ["fc2"], initScale: "random" }));
    peft.eval();
    const names = ["b", "__base__", "default"];
    const mixed = logitsOf(peft, { adapterNames: names });
    const alone = names.map((n, i) => {
      const row = [IDS[i]!];
      if (n === "__base__") return peft.disableAdapters(() => logitsOf(peft, {}, row))[0]!;
      peft.setAdapter(n);
      return logitsOf(peft, {}, row)[0]!;
    });
    expectClose(mixed, alone, 1e-6);
    // And against the float64 reference, row by row.
    expectClose(mixed, [reference(peft, ["b"])[0]!, reference(peft, [])[1]!, reference(peft, ["default"])[2]!]);
    // Tuner layers are back to the active adapters afterwards.
    peft.setAdapter("default");
    expectClose(logitsOf(peft), reference(peft, ["default"]));
  });

  it("refuses a wrong length, unknown names, training mode and merged adapters", () => {
    const peft = getPeftModel(tiny(), scale({ targetModules: ["fc1"], initScale: "random" }));
    expect(() => logitsOf(peft, { adapterNames: ["default", "default", "default"] })).toThrow(/training mode; call eval\(\)/);
    peft.eval();
    expect(() => logitsOf(peft, { adapterNames: ["default"] })).toThrow(/should be the same as the number of inputs, but got 1 and 3/);
    expect(() => logitsOf(peft, { adapterNames: ["default", "x", "__base__"] })).toThrow(/non-existing adapter\(s\): x/);
    peft.merge();
    expect(() => logitsOf(peft, { adapterNames: ["default", "default", "__base__"] })).toThrow(/merged adapters; call unmerge\(\) first/);
  });
});

/** The merged weight of a torch-layout Linear: diag(s)·W. */
function mergedWeight64(w: Matrix, s: number[]): Matrix {
  return w.map((row, o) => row.map((v) => v * s[o]!));
}

describe("merge / unmerge / unload", () => {
  it("merge folds the adapter into the weights (same outputs), unmerge takes it back out", () => {
    const peft = getPeftModel(tiny(), scale({ targetModules: ["fc1", "fc2"], initScale: "random" }));
    const expected = reference(peft, ["default"]);
    const l = layer(peft, "model.layers.1.fc1");
    const w0 = rows(l.baseLayer.weight);
    const s = (l.vector("default").arraySync() as number[]).map((v) => 1 + v);
    peft.merge();
    expect(l.mergedAdapters()).toEqual(["default"]);
    expectClose([rows(l.baseLayer.weight)], [mergedWeight64(w0, s)], 1e-6);
    expectClose(logitsOf(peft), expected);
    peft.unmerge();
    expect(l.mergedAdapters()).toEqual([]);
    expectClose([rows(l.baseLayer.weight)], [w0], 1e-6);
    expectClose(logitsOf(peft), expected);
  });

  it("mergeAndUnload returns the plain base model with merged weights; unload returns the original", () => {
    const model = tiny();
    const nBase = tf.memory().numTensors;
    const peft = getPeftModel(model, scale({ targetModules: ["fc1", "fc2"], initScale: "random" }));
    peft.addAdapter("b", scale({ targetModules: ["fc1"], initScale: "random" }));
    const expected = reference(peft, ["default"]);
    const plain = peft.mergeAndUnload({ safe: true });
    // Every adapter vector ("default" and "b") was disposed with its layer; the merged weights replace the old.
    expect(tf.memory().numTensors).toBe(nBase);
    expect(plain).toBe(model);
    expect(model.getSubmodule("model.layers.0.fc1")).toBeInstanceOf(Linear);
    expect(fingerprint(model).params.map(([k]) => k)).toEqual(tiny(2).namedParameters().map(([k]) => k));
    expect(peft.adapterNames()).toEqual([]);
    const ids = idsTensor();
    const out = model.forward({ inputIds: ids });
    expectClose(out.logits.arraySync() as number[][][], expected);
    tf.dispose([out.logits, ids]);
  });

  it("unload (after a merge) gives back the base weights", () => {
    const model = tiny();
    const w0 = rows(model.getSubmodule("model.layers.0.fc2").getParameter("weight")!);
    const peft = getPeftModel(model, scale({ targetModules: ["fc2"], initScale: "random" }));
    peft.merge();
    peft.unload();
    expect(model.getSubmodule("model.layers.0.fc2")).toBeInstanceOf(Linear);
    expectClose([rows(model.getSubmodule("model.layers.0.fc2").getParameter("weight")!)], [w0], 1e-6);
  });
});

describe("safe merge", () => {
  const poison = (peft: Module, path: string, name: string, value: number): void => {
    const v = layer(peft, path).vector(name);
    const bad = tf.tidy(() => tf.where(tf.equal(tf.range(0, v.size), 2), tf.fill([v.size], value), v));
    v.assign(bad);
    bad.dispose();
  };

  for (const [what, value] of [
    ["NaN", Number.NaN],
    ["Inf", Number.POSITIVE_INFINITY],
  ] as const) {
    it(`refuses a merge that would write ${what} and changes no weight (also in layers merged before the bad one)`, () => {
      const peft = getPeftModel(tiny(), scale({ targetModules: ["fc1", "fc2"], initScale: "random" }));
      poison(peft, "model.layers.1.fc2", "default", value);
      const before = fingerprint(peft);
      const n = tf.memory().numTensors;
      expect(() => peft.merge({ safe: true })).toThrow(/Safe merge refused at "model.layers.1.fc2".*NaNs or Infs.*No weight was changed/);
      expect(fingerprint(peft)).toEqual(before);
      expect(peft.tunerLayers().every(([, l]) => l.mergedAdapters().length === 0)).toBe(true);
      expect(tf.memory().numTensors).toBe(n);
      // Without safe mode the merge goes through (PEFT does the same) and the weights hold non-finite values.
      peft.merge();
      expect(tf.all(tf.isFinite(layer(peft, "model.layers.1.fc2").baseLayer.weight)).dataSync()[0]).toBe(0);
    });
  }

  it("keeps adapters merged earlier merged when a later safe merge is refused", () => {
    const peft = getPeftModel(tiny(), scale({ targetModules: ["fc1", "fc2"], initScale: "random" }));
    peft.addAdapter("bad", scale({ targetModules: ["fc1", "fc2"], initScale: "random" }));
    poison(peft, "model.layers.1.fc1", "bad", Number.NaN);
    peft.merge({ safe: true });
    const before = fingerprint(peft);
    expect(() => peft.merge({ adapterNames: ["bad"], safe: true })).toThrow(/Safe merge refused at "model.layers.1.fc1"/);
    expect(fingerprint(peft)).toEqual(before);
    expect(peft.tunerLayers().map(([, l]) => l.mergedAdapters())).toEqual([["default"], ["default"], ["default"], ["default"]]);
  });
});

describe("modules_to_save", () => {
  it("trains and uses a copy of the module for the adapter; the original stays frozen", () => {
    const peft = getPeftModel(tiny(), scale({ targetModules: ["fc1"], modulesToSave: ["lm_head"], initScale: "random" }));
    const wrapper = peft.getSubmodule("lm_head");
    expect(wrapper).toBeInstanceOf(ModulesToSaveWrapper);
    expect(trainableNames(peft)).toEqual(["model.layers.0.fc1.scale_vector.default", "model.layers.1.fc1.scale_vector.default", "lm_head.modules_to_save.default.weight"]);
    const copy = peft.getSubmodule("lm_head.modules_to_save.default").getParameter("weight")!;
    const original = peft.getSubmodule("lm_head.original_module").getParameter("weight")!;
    expect(copy).not.toBe(original);
    expect(copy.arraySync()).toEqual(original.arraySync());
    // Train the copy (here: shift it); the forward uses it, the disabled forward the original.
    const shifted = tf.add(copy, 0.25);
    copy.assign(shifted);
    shifted.dispose();
    expectClose(logitsOf(peft), reference(peft, ["default"], rows(copy)));
    expectClose(
      peft.disableAdapters(() => logitsOf(peft)),
      reference(peft, [], rows(original)),
    );
    // PEFT's count: base 204 + vectors 2·6 + the copy 4·11.
    expect(peft.printTrainableParameters(() => undefined)).toBe("trainable params: 56 || all params: 260 || trainable%: 21.5385");
    // File keys: the copy under the module's own path (PEFT >= 0.16), no adapter name.
    expect([...peft.adapterStateDict("default").keys()].sort()).toEqual([
      "base_model.model.lm_head.weight",
      "base_model.model.model.layers.0.fc1.scale_vector",
      "base_model.model.model.layers.1.fc1.scale_vector",
    ]);
    // Adapters never target modules_to_save modules.
    expect(() => peft.addAdapter("c", scale({ targetModules: ["lm_head"], modulesToSave: ["lm_head"] }))).toThrow(/matched nothing that excludeModules \/ modulesToSave left/);
  });

  it("per adapter copies: one active at a time, mixed batch rows use their own, mergeAndUnload keeps the active copy", () => {
    const peft = getPeftModel(tiny(), scale({ targetModules: ["fc1"], modulesToSave: ["lm_head"], initScale: "random" }));
    peft.addAdapter("b", scale({ targetModules: ["fc2"], modulesToSave: ["lm_head"], initScale: "random" }));
    const copyB = peft.getSubmodule("lm_head.modules_to_save.b").getParameter("weight")!;
    const shifted = tf.mul(copyB, -1);
    copyB.assign(shifted);
    shifted.dispose();
    expect(() => peft.setAdapter(["default", "b"])).toThrow(/each train their own copy of "lm_head"/);
    peft.eval();
    const headOf = (n: string): Matrix => rows(peft.getSubmodule(`lm_head.modules_to_save.${n}`).getParameter("weight")!);
    const original = rows(peft.getSubmodule("lm_head.original_module").getParameter("weight")!);
    const mixed = logitsOf(peft, { adapterNames: ["b", "default", "__base__"] });
    expectClose(mixed, [reference(peft, ["b"], headOf("b"))[0]!, reference(peft, ["default"], headOf("default"))[1]!, reference(peft, [], original)[2]!]);
    peft.setAdapter("b");
    expect(trainableNames(peft)).toEqual(["model.layers.0.fc2.scale_vector.b", "model.layers.1.fc2.scale_vector.b", "lm_head.modules_to_save.b.weight"]);
    const expected = reference(peft, ["b"], headOf("b"));
    const model = peft.mergeAndUnload();
    expect(model.getSubmodule("lm_head")).toBeInstanceOf(Linear);
    const out = model.forward({ inputIds: idsTensor() });
    expectClose(out.logits.arraySync() as number[][][], expected);
    out.logits.dispose();
  });

  it("SEQ_CLS adds the classification head like PEFT, on any module with a forward", () => {
    class Classifier extends Module {
      constructor() {
        super();
        this.registerModule("body", new TinyBlock(4, 6));
        this.registerModule("classifier", new Linear(4, 3));
      }
      forward(x: Tensor): Tensor {
        return (this.getSubmodule("classifier") as Linear).forward((this.getSubmodule("body") as TinyBlock).forward(x));
      }
    }
    setSeed(3);
    const model = new Classifier();
    made.push(model);
    const warnings: string[] = [];
    const peft = getPeftModel(model, scale({ targetModules: ["fc1"], taskType: "SEQ_CLS", initScale: "random" }), "default", { logger: { ...silentLogger, warn: (w) => warnings.push(w) } });
    expect(peft.peftConfig.get("default")!.modulesToSave).toEqual(["classifier", "score"]);
    expect(peft.getSubmodule("classifier")).toBeInstanceOf(ModulesToSaveWrapper);
    expect(warnings).toEqual([]);
    const x = tf.tensor2d([[0.5, -1, 2, 0.25]]);
    const y = peft.forward(x);
    // float64: x + fc2(relu(s ⊙ fc1(x))), then the classifier.
    const p = (k: string): Matrix => rows(peft.getSubmodule(k).getParameter("weight")!);
    const b = (k: string): number[] => peft.getSubmodule(k).getParameter("bias")!.arraySync() as number[];
    const s = (layer(peft, "body.fc1").vector("default").arraySync() as number[]).map((v) => 1 + v);
    const x64 = [[0.5, -1, 2, 0.25]];
    const a = linear64(x64, p("body.fc1.base_layer"), b("body.fc1.base_layer")).map((r) => r.map((v, o) => Math.max(0, v * s[o]!)));
    const h = linear64(a, p("body.fc2"), b("body.fc2")).map((r, t) => r.map((v, d) => v + x64[t]![d]!));
    expectClose([y.arraySync() as number[][]], [linear64(h, p("classifier.modules_to_save.default"), b("classifier.modules_to_save.default"))]);
    x.dispose();
    y.dispose();
  });
});

describe("PeftModel as a Module", () => {
  it("shows the base model's tree and parameters, and train/eval reach every module", () => {
    const model = tiny();
    const peft = getPeftModel(model, scale({ targetModules: ["fc1"] }));
    expect(peft.namedParameters().map(([k]) => k)).toEqual(model.namedParameters().map(([k]) => k));
    expect(peft.trainableParameters()).toHaveLength(2);
    peft.eval();
    expect([...model.namedModules()].every(([, m]) => !m.training)).toBe(true);
    expect(peft.training).toBe(false);
    expect(() => new PeftModel(peft as unknown as TinyModel)).toThrow(/already a PeftModel/);
  });
});

import { afterEach, describe, expect, it } from "vitest";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tf, AdapterLoadError, PeftModel, createRegistry, getPeftModel, parseSafetensors, readFileList, serializeSafetensors, setSeed, silentLogger } from "../index.js";
import type { AdapterFiles, Module, Tensor } from "../index.js";
import { TinyModel } from "../../test/support/tiny-model.js";
import type { TinyOptions } from "../../test/support/tiny-model.js";
import { scale, scaleMethod } from "../../test/support/scale-method.js";
import { expectClose, fingerprint, logitsOf } from "../../test/support/helpers.js";

const registry = createRegistry(scaleMethod);
const made: Module[] = [];
const dirs: string[] = [];
function tiny(seed = 1, options: TinyOptions = {}): TinyModel {
  setSeed(seed);
  const m = new TinyModel(options);
  made.push(m);
  return m;
}
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "peftjs-peft-"));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  for (const m of made.splice(0)) m.dispose();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

/** A trained-looking PeftModel: "default" on fc1+fc2 with lm_head saved in full, "task2" on fc2. */
function trained(): PeftModel<TinyModel> {
  const peft = getPeftModel(tiny(1), scale({ targetModules: ["fc1", "fc2"], modulesToSave: ["lm_head"], initScale: "random" }));
  const head = peft.getSubmodule("lm_head.modules_to_save.default").getParameter("weight")!;
  const shifted = tf.add(head, 0.3);
  head.assign(shifted);
  shifted.dispose();
  peft.addAdapter("task2", scale({ targetModules: ["fc2"], initScale: "random" }));
  return peft;
}

const trainableNames = (m: Module): string[] => m.namedParameters().filter(([, v]) => v.trainable).map(([k]) => k);

describe("save: PEFT's adapter folder layout", () => {
  it("writes adapter_config.json + adapter_model.safetensors, non-default adapters in a subfolder", async () => {
    const peft = trained();
    const dir = await tempDir();
    await peft.save(dir);
    expect((await readdir(dir)).sort()).toEqual(["adapter_config.json", "adapter_model.safetensors", "task2"]);
    expect((await readdir(join(dir, "task2"))).sort()).toEqual(["adapter_config.json", "adapter_model.safetensors"]);

    const text = await readFile(join(dir, "adapter_config.json"), "utf8");
    const config = JSON.parse(text) as Record<string, unknown>;
    // json.dumps(indent=2, sort_keys=True)
    expect(Object.keys(config)).toEqual(Object.keys(config).sort());
    expect(text.split("\n")[1]).toMatch(/^ {2}"/);
    expect(config).toMatchObject({
      peft_type: "TEST_SCALE",
      task_type: null,
      target_modules: ["fc1", "fc2"],
      modules_to_save: ["lm_head"],
      inference_mode: true,
      peft_version: "0.21.0",
      base_model_name_or_path: "peftjs/tiny-test",
      init_scale: "random",
    });

    const file = parseSafetensors(await readFile(join(dir, "adapter_model.safetensors")));
    expect(file.metadata).toEqual({ format: "pt" });
    expect([...file.tensors.keys()].sort()).toEqual([
      "base_model.model.lm_head.weight",
      "base_model.model.model.layers.0.fc1.scale_vector",
      "base_model.model.model.layers.0.fc2.scale_vector",
      "base_model.model.model.layers.1.fc1.scale_vector",
      "base_model.model.model.layers.1.fc2.scale_vector",
    ]);
    expect(file.tensors.get("base_model.model.model.layers.1.fc2.scale_vector")!.arraySync()).toEqual(
      peft.getSubmodule("model.layers.1.fc2.scale_vector").getParameter("default")!.arraySync(),
    );
    const task2 = parseSafetensors(await readFile(join(dir, "task2", "adapter_model.safetensors")));
    expect([...task2.tensors.keys()].sort()).toEqual(["base_model.model.model.layers.0.fc2.scale_vector", "base_model.model.model.layers.1.fc2.scale_vector"]);
    tf.dispose([...file.tensors.values(), ...task2.tensors.values()]);
  });
});

describe("load", () => {
  it("round trip: the loaded model computes what the saved one did, under any adapter name", async () => {
    const peft = trained();
    peft.eval();
    const dir = await tempDir();
    await peft.save(dir);
    const expectedDefault = logitsOf(peft);
    peft.setAdapter("task2");
    const expectedTask2 = logitsOf(peft);

    const loaded = await PeftModel.fromPretrained(tiny(1), dir, { registry });
    loaded.eval();
    expect(loaded.activeAdapters).toEqual(["default"]);
    expectClose(logitsOf(loaded), expectedDefault, 0);
    // Loaded for inference by default: nothing trains.
    expect(trainableNames(loaded)).toEqual([]);
    await loaded.loadAdapter(dir, "task2", { subfolder: "task2", isTrainable: true });
    expect(loaded.activeAdapters).toEqual(["default"]);
    loaded.setAdapter("task2");
    expectClose(logitsOf(loaded), expectedTask2, 0);
    expect(trainableNames(loaded)).toEqual(["model.layers.0.fc2.scale_vector.task2", "model.layers.1.fc2.scale_vector.task2"]);

    // The adapter name is not in the file: load "default" as "mine", trainable.
    const renamed = await PeftModel.fromPretrained(tiny(1), dir, { registry, adapterName: "mine", isTrainable: true });
    renamed.eval();
    expectClose(logitsOf(renamed), expectedDefault, 0);
    expect(trainableNames(renamed)).toContain("lm_head.modules_to_save.mine.weight");
  });

  it("in memory (browsers): fromFiles / loadAdapterFromFiles, also with an F16 file", () => {
    const peft = trained();
    peft.eval();
    const files = peft.adapterFiles({ selectedAdapters: ["default"] });
    expect(Object.keys(files).sort()).toEqual(["adapter_config.json", "adapter_model.safetensors"]);
    const expected = logitsOf(peft);
    const adapter: AdapterFiles = { config: files["adapter_config.json"] as string, weights: files["adapter_model.safetensors"] as Uint8Array };
    const loaded = PeftModel.fromFiles(tiny(1), adapter, { registry });
    loaded.eval();
    expectClose(logitsOf(loaded), expected, 0);

    const tensors = parseSafetensors(adapter.weights).tensors;
    const f16 = serializeSafetensors(tensors, { floatDtype: "F16", metadata: { format: "pt" } });
    tf.dispose([...tensors.values()]);
    loaded.loadAdapterFromFiles({ config: adapter.config, weights: f16 }, "half");
    loaded.setAdapter("half");
    expectClose(logitsOf(loaded), expected, 2e-3);
  });

  it("in memory from a map of files: adapterFiles() round trip, a subfolder adapter, readFileList of File objects", async () => {
    const peft = trained();
    peft.eval();
    const files = peft.adapterFiles();
    const expectedDefault = logitsOf(peft);
    peft.setAdapter("task2");
    const expectedTask2 = logitsOf(peft);

    const loaded = PeftModel.fromFiles(tiny(1), files, { registry });
    loaded.eval();
    expectClose(logitsOf(loaded), expectedDefault, 0);
    loaded.loadAdapterFromFiles(new Map(Object.entries(files)), "t2", { subfolder: "task2" });
    loaded.setAdapter("t2");
    expectClose(logitsOf(loaded), expectedTask2, 0);

    // Dropped files (File objects); a picked folder's files carry webkitRelativePath "<folder>/<name>".
    const dropped = [new File([files["adapter_config.json"] as string], "adapter_config.json"), new File([(files["adapter_model.safetensors"] as Uint8Array).slice()], "adapter_model.safetensors")];
    const fromDrop = PeftModel.fromFiles(tiny(1), await readFileList(dropped), { registry });
    fromDrop.eval();
    expectClose(logitsOf(fromDrop), expectedDefault, 0);
    const picked = Object.entries(files).map(([name, content]) => {
      const bytes = typeof content === "string" ? new TextEncoder().encode(content) : content;
      return { name: name.split("/").pop()!, webkitRelativePath: `my-adapter/${name}`, arrayBuffer: () => Promise.resolve(bytes.slice().buffer) };
    });
    const pickedMap = await readFileList(picked);
    expect([...pickedMap.keys()].sort()).toEqual(Object.keys(files).sort());
    const fromPick = PeftModel.fromFiles(tiny(1), pickedMap, { registry, subfolder: "task2" });
    fromPick.eval();
    expectClose(logitsOf(fromPick), expectedTask2, 0);
    // One adapter one folder down (a parent folder picked) is found without naming the subfolder.
    const nested = new Map([...pickedMap].filter(([n]) => n.startsWith("task2/")));
    const fromNested = PeftModel.fromFiles(tiny(1), nested, { registry });
    fromNested.eval();
    expectClose(logitsOf(fromNested), expectedTask2, 0);
  });

  it("a map of files without the adapter's two files says what it has", async () => {
    const model = tiny(1);
    expect(() => PeftModel.fromFiles(model, { "config.json": "{}" }, { registry })).toThrow(/No adapter_config.json among the given files \("config.json"\)/);
    expect(() => PeftModel.fromFiles(model, { "adapter_config.json": "{}", "adapter_model.bin": new Uint8Array(1) }, { registry })).toThrow(/adapter_model.bin \(a pickled torch file\)/);
    expect(() => PeftModel.fromFiles(model, new Map([["adapter_config.json", "{}"]]), { registry })).toThrow(/No adapter_model.safetensors among the given files/);
    await expect(readFileList([new File(["a"], "x.json"), new File(["b"], "x.json")])).rejects.toThrow(/two files are named "x.json"/);
  });

  it("ignores unknown config fields with a warning, like PEFT; an unknown peft_type lists the registered ones", () => {
    const peft = trained();
    const files = peft.adapterFiles({ selectedAdapters: ["default"] });
    const json = JSON.parse(files["adapter_config.json"] as string) as Record<string, unknown>;
    const weights = files["adapter_model.safetensors"] as Uint8Array;
    const warnings: string[] = [];
    const loaded = PeftModel.fromFiles(tiny(1), { config: { ...json, future_option: 3, auto_mapping: { base_model_class: "TinyModel" } }, weights }, { registry, logger: { ...silentLogger, warn: (w) => warnings.push(w) } });
    expect(warnings).toEqual([expect.stringMatching(/^Unexpected keyword arguments \["future_option"\] for TEST_SCALE config, these are ignored/)]);
    expect(loaded.adapterNames()).toEqual(["default"]);

    const model = tiny(1);
    const before = fingerprint(model);
    expect(() => PeftModel.fromFiles(model, { config: { ...json, peft_type: "LORA" }, weights }, { registry })).toThrow(/No registered method has peft_type "LORA". Registered: "TEST_SCALE" \(test-scale\)/);
    expect(() => PeftModel.fromFiles(model, { config: "{not json", weights }, { registry })).toThrow(/adapter_config.json in the adapter files is not valid JSON/);
    expect(() => PeftModel.fromFiles(model, { config: { target_modules: ["fc1"] }, weights }, { registry })).toThrow(/has no "peft_type"/);
    expect(fingerprint(model)).toEqual(before);
  });

  it("a mismatched base fails cleanly, naming the key and both shapes, and leaves the model exactly as before", async () => {
    const dir = await tempDir();
    await trained().save(dir, { selectedAdapters: ["default"] });

    // Wider hidden layer: the fc1 vectors are [8] in this model, [6] in the file.
    const wide = tiny(5, { hidden: 8 });
    const before = fingerprint(wide);
    const n = tf.memory().numTensors;
    let error: Error | undefined;
    try {
      await PeftModel.fromPretrained(wide, dir, { registry });
    } catch (e) {
      error = e as Error;
    }
    expect(error).toBeInstanceOf(AdapterLoadError);
    expect(error!.message).toContain('shape mismatch for "base_model.model.model.layers.0.fc1.scale_vector": the file has [6], the model expects [8]');
    expect(error!.message).toMatch(/The model was left unchanged/);
    expect(fingerprint(wide)).toEqual(before);
    expect(tf.memory().numTensors).toBe(n);

    // One layer fewer: the file's layer-1 keys are unexpected.
    const short = tiny(5, { layers: 1 });
    const shortBefore = fingerprint(short);
    await expect(PeftModel.fromPretrained(short, dir, { registry })).rejects.toThrow(
      /unexpected keys \(in the file, not in the model\): base_model.model.model.layers.1.fc1.scale_vector, base_model.model.model.layers.1.fc2.scale_vector/,
    );
    expect(fingerprint(short)).toEqual(shortBefore);

    // Onto a PeftModel that already has an adapter: that adapter and everything else stay as they were.
    const peft = getPeftModel(tiny(5, { hidden: 8 }), scale({ targetModules: ["fc1"], modulesToSave: ["lm_head"], initScale: "random" }));
    const peftBefore = fingerprint(peft);
    const n2 = tf.memory().numTensors;
    await expect(peft.loadAdapter(dir, "other", { isTrainable: true })).rejects.toThrow(AdapterLoadError);
    expect(peft.adapterNames()).toEqual(["default"]);
    expect(fingerprint(peft)).toEqual(peftBefore);
    expect(tf.memory().numTensors).toBe(n2);
  });

  it("missing and unexpected keys in the file are named", () => {
    const files = trained().adapterFiles({ selectedAdapters: ["default"] });
    const config = files["adapter_config.json"] as string;
    const tensors = parseSafetensors(files["adapter_model.safetensors"] as Uint8Array).tensors;
    const edit = (f: (m: Map<string, Tensor>) => void): Uint8Array => {
      const copy = new Map(tensors);
      f(copy);
      return serializeSafetensors(copy);
    };
    const missing = edit((m) => m.delete("base_model.model.model.layers.1.fc2.scale_vector"));
    const extra = tf.zeros([6]);
    const unexpected = edit((m) => m.set("base_model.model.model.layers.0.fc1.scale_other", extra));
    const model = tiny(1);
    const before = fingerprint(model);
    expect(() => PeftModel.fromFiles(model, { config, weights: missing }, { registry })).toThrow(
      /missing keys \(the model has them, the file does not\): base_model.model.model.layers.1.fc2.scale_vector/,
    );
    expect(() => PeftModel.fromFiles(model, { config, weights: unexpected }, { registry })).toThrow(/unexpected keys .*: base_model.model.model.layers.0.fc1.scale_other/);
    expect(fingerprint(model)).toEqual(before);
    tf.dispose([...tensors.values(), extra]);
  });

  it("a base weight in the file (PEFT's save_embedding_layers: <path>.base_layer.weight) loads into the base model", () => {
    const files = trained().adapterFiles({ selectedAdapters: ["default"] });
    const config = files["adapter_config.json"] as string;
    const tensors = parseSafetensors(files["adapter_model.safetensors"] as Uint8Array).tensors;
    // Independent values: fc1 of layer 0 is [6, 4] (out, in), the embedding [11, 4].
    const fc1 = Array.from({ length: 6 }, (_, o) => Array.from({ length: 4 }, (_, i) => 0.1 * (o + 1) - 0.05 * i));
    const embed = Array.from({ length: 11 }, (_, t) => Array.from({ length: 4 }, (_, d) => Math.sin(t + 0.3 * d)));
    const withBase = (wrongShape = false): Uint8Array => {
      const w = wrongShape ? tf.zeros([6, 5]) : tf.tensor2d(fc1);
      const e = tf.tensor2d(embed);
      // Through a tuner layer (fc1 is wrapped: base_layer), and a plain base parameter (the embedding).
      const bytes = serializeSafetensors(new Map([...tensors, ["base_model.model.model.layers.0.fc1.base_layer.weight", w], ["base_model.model.model.embed_tokens.weight", e]]));
      tf.dispose([w, e]);
      return bytes;
    };

    const model = tiny(1);
    const fc1Before = model.getSubmodule("model.layers.0.fc1").getParameter("weight")!.arraySync();
    const loaded = PeftModel.fromFiles(model, { config, weights: withBase() }, { registry });
    const fc1Base = loaded.getSubmodule("model.layers.0.fc1.base_layer").getParameter("weight")!;
    expect(fc1Base.arraySync()).not.toEqual(fc1Before);
    expectClose([fc1Base.arraySync() as number[][]], [fc1], 1e-7);
    expectClose([loaded.getSubmodule("model.embed_tokens").getParameter("weight")!.arraySync() as number[][]], [embed], 1e-7);
    // Still a base weight: frozen, and not saved with the adapter.
    expect(fc1Base.trainable).toBe(false);
    expect(loaded.adapterStateDict("default").has("base_model.model.model.layers.0.fc1.base_layer.weight")).toBe(false);

    // A wrong shape on a base key refuses the whole load and changes nothing, base weights included.
    const other = tiny(1);
    const before = fingerprint(other);
    const n = tf.memory().numTensors;
    expect(() => PeftModel.fromFiles(other, { config, weights: withBase(true) }, { registry })).toThrow(
      /shape mismatch for "base_model.model.model.layers.0.fc1.base_layer.weight": the file has \[6, 5\], the model expects \[6, 4\]/,
    );
    expect(fingerprint(other)).toEqual(before);
    expect(tf.memory().numTensors).toBe(n);
    tf.dispose([...tensors.values()]);
  });

  it("says what is missing in a folder", async () => {
    const dir = await tempDir();
    await expect(PeftModel.fromPretrained(tiny(1), dir, { registry })).rejects.toThrow(/No adapter_config.json in ".*peftjs-peft-/);
    await writeFile(join(dir, "adapter_config.json"), JSON.stringify({ peft_type: "TEST_SCALE", target_modules: ["fc1"] }));
    await writeFile(join(dir, "adapter_model.bin"), "pickle");
    await expect(PeftModel.fromPretrained(tiny(1), dir, { registry })).rejects.toThrow(/adapter_model.bin \(a pickled torch file\)/);
  });
});

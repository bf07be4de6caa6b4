/**
 * PeftModel on a backend without sync reads (like tfjs WebGPU in Node): save and mergeAsync work there, the sync
 * safe merge says to use mergeAsync. Checked on `withoutSyncReads` (cpu kernels, dataSync blocked).
 */
import { afterEach, describe, expect, it } from "vitest";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Module} from "../index.js";
import { tf, PeftModel, SyncReadError, createRegistry, getPeftModel, serializeSafetensors, serializeSafetensorsAsync, setSeed, withoutSyncReads, NO_SYNC_BACKEND } from "../index.js";
import { TinyModel } from "../../test/support/tiny-model.js";
import { scale, scaleMethod } from "../../test/support/scale-method.js";
import { ScaleLayer } from "../../test/support/scale-layer.js";
import { expectClose, fingerprint, logitsOf, reference } from "../../test/support/helpers.js";

const made: Module[] = [];
const dirs: string[] = [];
function tiny(seed = 1): TinyModel {
  setSeed(seed);
  const m = new TinyModel();
  made.push(m);
  return m;
}
afterEach(async () => {
  expect(tf.getBackend()).toBe("cpu");
  for (const m of made.splice(0)) m.dispose();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

function poison(peft: Module, path: string, value: number): void {
  const v = (peft.getSubmodule(path) as ScaleLayer).vector("default");
  const bad = tf.tidy(() => tf.where(tf.equal(tf.range(0, v.size), 2), tf.fill([v.size], value), v));
  v.assign(bad);
  bad.dispose();
}

describe("withoutSyncReads", () => {
  it("blocks dataSync/arraySync (not data()), runs cpu kernels, and always switches back", async () => {
    const sum = await withoutSyncReads(async () => {
      expect(tf.getBackend()).toBe(NO_SYNC_BACKEND);
      const t = tf.add(tf.tensor1d([1, 2, 3]), 1);
      expect(() => t.dataSync()).toThrow(/readSync is not available/);
      expect(() => t.arraySync()).toThrow(/readSync is not available/);
      const values = Array.from(await t.data());
      t.dispose();
      return values;
    });
    expect(sum).toEqual([2, 3, 4]);
    expect(tf.getBackend()).toBe("cpu");
    await expect(withoutSyncReads(() => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(tf.getBackend()).toBe("cpu");
  });
});

describe("save without sync reads", () => {
  it("save() streams tensor data with async reads; the files load back to the same model", async () => {
    const dir = await mkdtemp(join(tmpdir(), "peftjs-nosync-"));
    dirs.push(dir);
    // Made on the backend, so its tensors live there (as on a GPU).
    const [peft, bytes] = await withoutSyncReads(async () => {
      const p = getPeftModel(tiny(), scale({ targetModules: ["fc1", "fc2"], modulesToSave: ["lm_head"], initScale: "random" }));
      expect(() => p.adapterFiles()).toThrow(/readSync is not available/);
      await p.save(dir);
      return [p, (await p.adapterFilesAsync())["adapter_model.safetensors"]] as const;
    });
    peft.eval();
    const expected = reference(peft, ["default"]);
    // The async bytes are the sync writer's bytes (the latter read on cpu).
    expect(bytes).toEqual(peft.adapterFiles()["adapter_model.safetensors"]);
    const loaded = await PeftModel.fromPretrained(tiny(), dir, { registry: createRegistry(scaleMethod) });
    loaded.eval();
    expectClose(logitsOf(loaded), expected, 1e-5);
  });

  it("serializeSafetensorsAsync writes what serializeSafetensors does", async () => {
    const t = { b: tf.tensor2d([[1.5, -2], [3, 4]]), a: tf.tensor1d([7, 8], "int32") };
    const sync = serializeSafetensors(t, { floatDtype: "BF16" });
    expect(await withoutSyncReads(() => serializeSafetensorsAsync(t, { floatDtype: "BF16" }))).toEqual(sync);
    tf.dispose(Object.values(t));
  });
});

describe("mergeAsync", () => {
  it("merges like merge(): merged logits are the unmerged float64 reference", async () => {
    const peft = getPeftModel(tiny(), scale({ targetModules: ["fc1", "fc2"], initScale: "random" }));
    peft.eval();
    const expected = reference(peft, ["default"]);
    await withoutSyncReads(() => peft.mergeAsync({ safe: true }));
    expect(peft.tunerLayers().every(([, l]) => l.mergedAdapters().includes("default"))).toBe(true);
    expectClose(logitsOf(peft), expected, 1e-5);
    const plain = await withoutSyncReads(() => peft.mergeAndUnloadAsync({ safe: true }));
    expect(plain.getSubmodule("model.layers.0.fc1")).not.toBeInstanceOf(ScaleLayer);
  });

  for (const [what, value] of [
    ["NaN", Number.NaN],
    ["Inf", Number.POSITIVE_INFINITY],
  ] as const) {
    for (const backend of ["cpu", "no sync reads"]) {
      it(`safe: refuses ${what}, every weight unchanged (${backend})`, async () => {
        const make = (): PeftModel<TinyModel> => {
          const p = getPeftModel(tiny(), scale({ targetModules: ["fc1", "fc2"], initScale: "random" }));
          poison(p, "model.layers.1.fc1", value);
          return p;
        };
        const peft = backend === "cpu" ? make() : await withoutSyncReads(make);
        const before = fingerprint(peft);
        const n = tf.memory().numTensors;
        const run = (): Promise<void> => peft.mergeAsync({ safe: true });
        await expect(backend === "cpu" ? run() : withoutSyncReads(run)).rejects.toThrow(/Safe merge refused at "model.layers.1.fc1".*NaN or Inf.*No weight was changed/);
        expect(fingerprint(peft)).toEqual(before);
        expect(peft.tunerLayers().every(([, l]) => l.mergedAdapters().length === 0)).toBe(true);
        expect(tf.memory().numTensors).toBe(n);
      });
    }
  }

  it("the sync safe merge, where sync reads are missing, says to use mergeAsync and changes nothing", async () => {
    const peft = getPeftModel(tiny(), scale({ targetModules: ["fc1", "fc2"], initScale: "random" }));
    const before = fingerprint(peft);
    const n = tf.memory().numTensors;
    const error = await withoutSyncReads(() => {
      try {
        peft.merge({ safe: true });
      } catch (e) {
        return e as Error;
      }
      return undefined;
    });
    expect(error).toBeInstanceOf(SyncReadError);
    expect(error!.message).toMatch(/cannot read tensors synchronously.*mergeAsync\(\{ safe: true \}\)/);
    expect(fingerprint(peft)).toEqual(before);
    expect(peft.tunerLayers().every(([, l]) => l.mergedAdapters().length === 0)).toBe(true);
    expect(tf.memory().numTensors).toBe(n);
  });
});

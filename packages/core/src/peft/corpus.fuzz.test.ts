/**
 * The bounded, seeded hostile-file run of CI (issue 18): 2,200 corrupted safetensors files through the reader
 * and 300 corrupted adapter folders (config or weights) through PeftModel.fromPretrained. Every read either
 * refuses with a clear error or gives exactly what an independent reading gives; refusals the reference reader
 * makes are made; a failed load leaves the model exactly as it was; no tensor leaks. The long run is
 * `node --import tsx packages/core/scripts/fuzz.ts --cases 100000 --seed <n>`.
 */
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { tf, PeftModel, createRegistry, getPeftModel, setSeed, silentLogger } from "../index.js";
import { checkCase, corpus, mutateConfig, seededRandom, MUTATIONS } from "../io/__tests__/corpus.js";
import type { Corrupted } from "../io/__tests__/corpus.js";
import { TinyModel } from "../../test/support/tiny-model.js";
import { scale, scaleMethod } from "../../test/support/scale-method.js";
import { fingerprint } from "../../test/support/helpers.js";

const SAFETENSORS_CASES = 2200;
const ADAPTER_CASES = 300;
const SEED = 18;

const fixture = (name: string): Uint8Array =>
  new Uint8Array(readFileSync(fileURLToPath(new URL(`../../test/fixtures/${name}`, import.meta.url))));

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "peftjs-corpus-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe(`hostile-file corpus (seed ${SEED})`, () => {
  it(`${SAFETENSORS_CASES} corrupted safetensors files: refused cleanly or read exactly`, () => {
    const bases = [fixture("safetensors/python_written.safetensors"), fixture("peft/base/model.safetensors"), fixture("peft/ia3/adapter_model.safetensors")];
    const before = tf.memory().numTensors;
    const seen = new Map<string, { refused: number; read: number }>();
    for (const c of corpus(SEED, SAFETENSORS_CASES, bases)) {
      const outcome = checkCase(c);
      const kind = c.label.replace(/^#\d+ /, "").replace(/ \+ .*/, "").replace(/header length \d+/, "header length");
      const s = seen.get(kind) ?? { refused: 0, read: 0 };
      s[outcome]++;
      seen.set(kind, s);
    }
    expect(tf.memory().numTensors).toBe(before);
    // Every mutation kind was exercised.
    expect(seen.size).toBeGreaterThanOrEqual(MUTATIONS.length - 1);
    const refused = [...seen.values()].reduce((n, s) => n + s.refused, 0);
    expect(refused).toBeGreaterThan(SAFETENSORS_CASES / 2);
    expect(refused).toBeLessThan(SAFETENSORS_CASES);
  }, 60_000);

  it(`${ADAPTER_CASES} corrupted adapter folders: a failed load leaves the model unchanged, no leak`, async () => {
    const registry = createRegistry(scaleMethod);
    setSeed(3);
    const source = new TinyModel();
    const saved = getPeftModel(source, scale({ targetModules: ["fc1", "fc2"], modulesToSave: ["lm_head"], initScale: "random" }), "default", { registry, logger: silentLogger });
    const good = join(root, "good");
    await saved.save(good);
    source.dispose();
    const config = await readFile(join(good, "adapter_config.json"), "utf8");
    const weights = await readFile(join(good, "adapter_model.safetensors"));

    setSeed(4);
    let target = new TinyModel();
    const pristine = fingerprint(target);
    const random = seededRandom(SEED + 1);
    const weightCases = corpus(SEED + 2, ADAPTER_CASES, [new Uint8Array(weights)]);
    let loaded = 0;
    const before = tf.memory().numTensors;
    for (let i = 0; i < ADAPTER_CASES; i++) {
      const dir = join(root, `case${i}`);
      let label: string;
      if (i % 2 === 0) {
        const m = mutateConfig(config, random);
        label = `config: ${m.label}`;
        await mkdir(dir);
        await writeFile(join(dir, "adapter_config.json"), m.text);
        await writeFile(join(dir, "adapter_model.safetensors"), weights);
      } else {
        const c = weightCases.next().value as Corrupted;
        label = `weights: ${c.label}`;
        await mkdir(dir);
        await writeFile(join(dir, "adapter_config.json"), config);
        await writeFile(join(dir, "adapter_model.safetensors"), c.bytes);
      }
      let peft: PeftModel<TinyModel> | undefined;
      try {
        peft = await PeftModel.fromPretrained(target, dir, { registry, logger: silentLogger });
      } catch (error) {
        expect(error, label).toBeInstanceOf(Error);
        expect(["TypeError", "RangeError", "ReferenceError", "SyntaxError"], `${label}: ${String(error)}`).not.toContain((error as Error).name);
        expect((error as Error).message.length, label).toBeGreaterThan(20);
        expect(fingerprint(target), `${label}: the failed load changed the model`).toEqual(pristine);
      }
      if (peft !== undefined) {
        // Loaded: a fresh base model for the next case (unload would keep the adapter's lm_head copy, as PEFT does).
        loaded++;
        peft.unload();
        target.dispose();
        setSeed(4);
        target = new TinyModel();
        expect(fingerprint(target)).toEqual(pristine);
      }
      await rm(dir, { recursive: true, force: true });
    }
    expect(tf.memory().numTensors).toBe(before);
    expect(loaded).toBeGreaterThan(0);
    target.dispose();
  }, 60_000);
});

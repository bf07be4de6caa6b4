/**
 * Model merging against mergekit. mergekit cannot be installed here, so its results are re-derived in float64
 * from its source by scripts/make_mergekit_fixtures.py (expected/*.safetensors); the configs are mergekit's
 * own examples, adapted as each file says. Bound: 1e-5 relative per tensor (max |ours − ref| / max |ref|),
 * whole-tensor and block-by-block.
 */
import { afterAll, describe, expect, it } from "vitest";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { tf, getPeftModel, readSafetensors, readSafetensorsHeader, saveSafetensors, setSeed, silentLogger } from "@peftjs/core";
import type { Tensor } from "@peftjs/core";
import { loadPretrained } from "@peftjs/models";
import { lora } from "@peftjs/lora";
import { mergeFromConfigFile, parseMergeConfig, mergeModels } from "../src/node.js";
import { main } from "../src/cli.js";

const DIR = fileURLToPath(new URL("./fixtures/mergekit/", import.meta.url));
const maxErrors: Record<string, number> = {};
afterAll(() => {
  console.log(`max relative error vs mergekit (float64 re-derivation):\n${Object.entries(maxErrors).map(([k, v]) => `  ${k}: ${v.toExponential(2)}`).join("\n")}`);
});

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 0;
  let err = 0;
  for (let i = 0; i < b.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]!));
    err = Math.max(err, Math.abs(a[i]! - b[i]!));
  }
  return scale === 0 ? err : err / scale;
}

async function tmp(): Promise<string> {
  return mkdtemp(join(tmpdir(), "peftjs-merge-"));
}

async function readAll(dir: string): Promise<Map<string, Tensor>> {
  const files = readdirSync(dir).filter((f) => f.endsWith(".safetensors"));
  const out = new Map<string, Tensor>();
  for (const f of files) for (const [k, v] of (await readSafetensors(join(dir, f))).tensors) out.set(k, v);
  return out;
}

async function compare(outDir: string, expectedFile: string, label: string, bound: number): Promise<void> {
  const ours = await readAll(outDir);
  const { tensors: want } = await readSafetensors(expectedFile);
  expect(new Set(ours.keys())).toEqual(new Set(want.keys()));
  for (const [k, w] of want) {
    const err = relErr(ours.get(k)!.dataSync(), w.dataSync());
    maxErrors[label] = Math.max(maxErrors[label] ?? 0, err);
    expect(err, `${label} ${k}`).toBeLessThan(bound);
  }
  for (const t of [...ours.values(), ...want.values()]) t.dispose();
}

const REFERENCES = ["ties", "dare_ties", "slerp", "model_stock"];

describe("mergekit's results on three tiny checkpoints", () => {
  it.each(REFERENCES)("%s, whole tensors and block by block", async (name) => {
    const out = await tmp();
    try {
      const config = join(DIR, `reference_${name}.yaml`);
      await mergeFromConfigFile(config, join(out, "whole"));
      await compare(join(out, "whole"), join(DIR, "expected", `reference_${name}.safetensors`), name, 1e-5);
      // 64-entry blocks: every tensor goes through the blockwise path (first-pass statistics)
      const lines: string[] = [];
      await mergeFromConfigFile(config, join(out, "blocks"), { chunkElements: 64, onProgress: (p) => lines.push(`${p.name} ${p.blockwise}`) });
      expect(lines.some((l) => l.endsWith("true"))).toBe(true);
      await compare(join(out, "blocks"), join(DIR, "expected", `reference_${name}.safetensors`), `${name} (blockwise)`, 1e-5);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});

describe("mergekit's example configs run unchanged", () => {
  it.each([
    ["examples_ties", "reference_ties"],
    ["examples_gradient_slerp", "reference_slerp"],
  ])("%s (dtype float16: F16 output within half precision of the reference)", async (example, reference) => {
    const out = await tmp();
    try {
      await mergeFromConfigFile(join(DIR, `${example}.yaml`), out);
      const header = await readSafetensorsHeader(join(out, "model.safetensors"));
      expect([...header.tensors.values()].every((t) => t.dtype === "F16")).toBe(true);
      await compare(out, join(DIR, "expected", `${reference}.safetensors`), example, 2e-3);
      const cfg = JSON.parse(await readFile(join(out, "config.json"), "utf8")) as Record<string, unknown>;
      expect(cfg.torch_dtype).toBe("float16");
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });

  it("examples_dare_ties (densities 0.6 / 0.8): seeded and reproducible", async () => {
    const out = await tmp();
    try {
      await mergeFromConfigFile(join(DIR, "examples_dare_ties.yaml"), join(out, "a"), { seed: 3 });
      await mergeFromConfigFile(join(DIR, "examples_dare_ties.yaml"), join(out, "b"), { seed: 3 });
      const a = await readAll(join(out, "a"));
      const b = await readAll(join(out, "b"));
      for (const [k, t] of a) expect(Array.from(t.dataSync())).toEqual(Array.from(b.get(k)!.dataSync()));
      for (const t of [...a.values(), ...b.values()]) t.dispose();
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});

describe("output folder, errors", () => {
  it("writes shards with an index that @peftjs/models loads; the merged model runs", async () => {
    const out = await tmp();
    try {
      await mergeFromConfigFile(join(DIR, "reference_model_stock.yaml"), join(out, "m"), { maxShardBytes: 8000 });
      const index = JSON.parse(await readFile(join(out, "m", "model.safetensors.index.json"), "utf8")) as { metadata: { total_size: number }; weight_map: Record<string, string> };
      const shards = new Set(Object.values(index.weight_map));
      expect(shards.size).toBeGreaterThan(1);
      let total = 0;
      for (const s of shards) for (const t of (await readSafetensorsHeader(join(out, "m", s))).tensors.values()) total += t.dataOffsets[1] - t.dataOffsets[0];
      expect(total).toBe(index.metadata.total_size);
      const model = await loadPretrained(join(out, "m"));
      const logits = tf.tidy(() => (model.forward({ inputIds: tf.tensor2d([[1, 2, 3]], undefined, "int32") }) as { logits: Tensor }).logits.dataSync());
      expect(Array.from(logits).every(Number.isFinite)).toBe(true);
      model.dispose();
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });

  it("names the tensor on a shape mismatch, a missing tensor or another architecture; writes nothing", async () => {
    const out = await tmp();
    try {
      await cp(join(DIR, "ft_a"), join(out, "bad"), { recursive: true });
      const { tensors } = await readSafetensors(join(out, "bad", "model.safetensors"));
      const wpe = tensors.get("transformer.wpe.weight")!;
      tensors.set("transformer.wpe.weight", tf.slice(wpe, [0, 0], [16, -1]));
      await saveSafetensors(join(out, "bad", "model.safetensors"), tensors);
      const cfg = (models: string[]) => parseMergeConfig(`merge_method: ties\nbase_model: base\nmodels:\n${models.map((m) => `  - model: ${m}\n    parameters: { weight: 1, density: 0.5 }`).join("\n")}\n`);
      await cp(join(DIR, "base"), join(out, "base"), { recursive: true });
      await cp(join(DIR, "ft_b"), join(out, "ft_b"), { recursive: true });
      await expect(mergeModels(cfg(["bad", "ft_b"]), join(out, "o"), { root: out })).rejects.toThrow(/tensor "transformer\.wpe\.weight": shape \[16, 16\] in "bad" but \[32, 16\]/);
      tensors.delete("transformer.wpe.weight");
      await saveSafetensors(join(out, "bad", "model.safetensors"), tensors);
      await expect(mergeModels(cfg(["bad", "ft_b"]), join(out, "o"), { root: out })).rejects.toThrow(/model "bad" has no tensor "transformer\.wpe\.weight"/);
      const config = JSON.parse(await readFile(join(out, "ft_b", "config.json"), "utf8")) as Record<string, unknown>;
      await writeFile(join(out, "ft_b", "config.json"), JSON.stringify({ ...config, architectures: ["LlamaForCausalLM"] }));
      await expect(mergeModels(cfg(["ft_b"]), join(out, "o"), { root: out })).rejects.toThrow(/architecture \["LlamaForCausalLM"\]/);
      expect(existsSync(join(out, "o"))).toBe(false);
      expect(readdirSync(out).some((f) => f.includes("partial"))).toBe(false);
      wpe.dispose();
      for (const t of tensors.values()) t.dispose();
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });

  it("refuses configs it cannot honour, naming the field", () => {
    expect(() => parseMergeConfig("merge_method: frankenmerge\nmodels: [{model: a}]")).toThrow(/merge_method "frankenmerge" is not supported/);
    expect(() => parseMergeConfig("merge_method: slerp\nslices: []\n")).toThrow(/"slices" is a mergekit feature/);
    expect(() => parseMergeConfig("merge_method: ties\nmodels: [{model: a, paramters: {}}]")).toThrow(/unknown field "paramters"/);
    expect(() => parseMergeConfig("merge_method: ties\nmodels: [{model: a}]\ndtype: int4")).toThrow(/dtype: "int4" is not supported/);
    expect(() => parseMergeConfig("merge_method: [")).toThrow(/not valid YAML/);
  });

  it("refuses an output folder that is not empty", async () => {
    const out = await tmp();
    try {
      await writeFile(join(out, "keep.txt"), "x");
      await expect(mergeFromConfigFile(join(DIR, "reference_slerp.yaml"), out)).rejects.toThrow(/not an empty folder/);
      expect(readdirSync(out)).toEqual(["keep.txt"]);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });

  it("CLI: progress line per tensor, exit code", async () => {
    const out = await tmp();
    const lines: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => {
      lines.push(String(s));
      return true;
    });
    try {
      expect(await main([join(DIR, "reference_slerp.yaml"), join(out, "o")])).toBe(0);
    } finally {
      process.stderr.write = write;
      await rm(out, { recursive: true, force: true });
    }
    const progress = lines.filter((l) => /^\[\s*\d+\/\d+\] /.test(l));
    const n = (await readSafetensorsHeader(join(DIR, "base", "model.safetensors"))).tensors.size;
    expect(progress.length).toBe(n);
    expect(progress[0]).toMatch(/^\[\s*1\/\d+\] \S+ \[\d+(, \d+)*\] \d+\.\d\d s/);
  });
});

describe("base + LoRA adapter merged on the fly (mergekit's base+adapter syntax)", () => {
  it("a linear merge of `base+adapter` alone with weight 1 equals PeftModel.mergeAndUnload()", async () => {
    const out = await tmp();
    try {
      setSeed(5);
      const model = await loadPretrained(join(DIR, "base"));
      const peft = getPeftModel(model, lora({ r: 2, loraAlpha: 4, targetModules: ["c_attn", "c_fc", "wte"], initLoraWeights: false }), "default", { logger: silentLogger });
      await peft.save(join(out, "adapter"));
      await cp(join(DIR, "base"), join(out, "base"), { recursive: true });
      const merged = peft.mergeAndUnload();
      await writeFile(join(out, "c.yaml"), "merge_method: linear\nmodels:\n  - model: base+adapter\n    parameters: { weight: 1.0 }\n");
      await mergeFromConfigFile(join(out, "c.yaml"), join(out, "o"), { chunkElements: 100 });
      const ours = await readAll(join(out, "o"));
      const state = merged.stateDict();
      let checked = 0;
      for (const [k, t] of ours) {
        const want = state.get(k);
        if (want === undefined) continue;
        expect(relErr(t.dataSync(), want.dataSync()), k).toBeLessThan(1e-5);
        checked++;
      }
      expect(checked).toBe(ours.size);
      for (const t of ours.values()) t.dispose();
      merged.dispose();
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});

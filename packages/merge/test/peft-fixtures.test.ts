/**
 * `addWeightedAdapter` against Python PEFT 0.21's `add_weighted_adapter` (fixtures: scripts/make_fixtures.py,
 * made with the CPU venv — no GPU this session — same library versions as the GPU host).
 *
 * Bounds:
 * - every deterministic combination (and the DARE types at density 1): each saved tensor within 1e-4
 *   relative (max |ours − PEFT| / max |PEFT|) — for the `*_svd` types on the product B·A (singular vectors
 *   are defined up to sign) and on A, B after aligning each component's sign;
 * - DARE at density 0.5 (PEFT's masks come from torch's generator, ours from a seeded tfjs one): both draws
 *   are unbiased around the density-1 result, so for each tensor the mean squared z-score
 *   (x − mean)²/Var over its entries must lie in [0.6, 1.4] for ours AND for PEFT's, with Var the per-entry
 *   Bernoulli variance Σ (wᵢxᵢ)²(1 − d)/d (the A/B-separate types) — a ±40% band on a chi-square mean over
 *   ≥ 128 entries; the TIES-election types compare the kept fraction (within 0.1 of PEFT's) and the RMS
 *   (within 30% of PEFT's).
 */
import { afterAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { tf, PeftModel, createRegistry, readSafetensors, silentLogger } from "@peftjs/core";
import type { Tensor } from "@peftjs/core";
import { loadPretrained } from "@peftjs/models";
import { loraMethod } from "@peftjs/lora";
import { addWeightedAdapter } from "../src/index.js";
import type { CombinationType } from "../src/index.js";

const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));
const BASES = fileURLToPath(new URL("../../lora/test/fixtures/", import.meta.url));
const registry = createRegistry(loraMethod);

interface Expected {
  base: string;
  adapters: string[];
  combined: Record<string, { combination_type: CombinationType; adapters: string[]; weights: number[]; options: Record<string, unknown> }>;
}

const maxErrors: Record<string, number> = {};
afterAll(() => {
  // The figures the README quotes: max relative error per combination type against PEFT.
  console.log(`max relative error vs PEFT 0.21:\n${Object.entries(maxErrors).map(([k, v]) => `  ${k}: ${v.toExponential(2)}`).join("\n")}`);
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

async function setup(caseName: string): Promise<{ peft: PeftModel; expected: Expected }> {
  const dir = join(FIXTURES, caseName);
  const expected = JSON.parse(readFileSync(join(dir, "expected.json"), "utf8")) as Expected;
  const base = await loadPretrained(join(BASES, expected.base));
  const [first, ...rest] = expected.adapters;
  const peft = await PeftModel.fromPretrained(base, join(dir, "adapters", first!), { registry, adapterName: first!, logger: silentLogger });
  for (const name of rest) await peft.loadAdapter(join(dir, "adapters", name), name);
  return { peft, expected };
}

async function peftResult(caseName: string, label: string): Promise<{ tensors: Map<string, Tensor>; config: Record<string, unknown> }> {
  const dir = join(FIXTURES, caseName, "combined", label);
  const { tensors } = await readSafetensors(join(dir, "adapter_model.safetensors"));
  return { tensors, config: JSON.parse(readFileSync(join(dir, "adapter_config.json"), "utf8")) as Record<string, unknown> };
}

function options(o: Record<string, unknown>) {
  return {
    density: (o.density as number | undefined) ?? null,
    svdRank: (o.svd_rank as number | undefined) ?? null,
    svdClamp: (o.svd_clamp as number | undefined) ?? null,
    majoritySignMethod: (o.majority_sign_method as "total" | "frequency" | undefined) ?? "total",
  };
}

/** Module paths (file key without .lora_A.weight) of an adapter's factors. */
function modules(tensors: Map<string, Tensor>): string[] {
  return [...tensors.keys()].filter((k) => /\.lora_(embedding_)?A(\.weight)?$/.test(k)).map((k) => k.replace(/\.lora_(embedding_)?A(\.weight)?$/, ""));
}

function factor(tensors: Map<string, Tensor>, module: string, which: "A" | "B"): Tensor {
  for (const key of [`${module}.lora_${which}.weight`, `${module}.lora_embedding_${which}`]) {
    const t = tensors.get(key);
    if (t !== undefined) return t;
  }
  throw new Error(`no lora_${which} for ${module}`);
}

function product(tensors: Map<string, Tensor>, module: string): Float32Array {
  return tf.tidy(() => tf.matMul(factor(tensors, module, "B"), factor(tensors, module, "A")).dataSync() as Float32Array);
}

/** A, B of ours with each rank component's sign flipped to agree with PEFT's (SVD sign freedom). */
function signAligned(ours: Map<string, Tensor>, peft: Map<string, Tensor>, module: string): { a: Float32Array; b: Float32Array } {
  return tf.tidy(() => {
    const a = factor(ours, module, "A");
    const b = factor(ours, module, "B");
    const pa = factor(peft, module, "A");
    const dots = tf.sum(tf.mul(a, pa), 1); // [r]
    const signs = tf.where(tf.less(dots, 0), tf.fill(dots.shape, -1), tf.fill(dots.shape, 1));
    return {
      a: tf.mul(a, tf.reshape(signs, [-1, 1])).dataSync() as Float32Array,
      b: tf.mul(b, tf.reshape(signs, [1, -1])).dataSync() as Float32Array,
    };
  });
}

function record(label: string, err: number): void {
  maxErrors[label] = Math.max(maxErrors[label] ?? 0, err);
}

const DETERMINISTIC = ["svd", "linear", "cat", "ties", "ties_svd", "magnitude_prune", "magnitude_prune_svd", "ties_frequency", "svd_rank2", "single", "dare_linear_d1", "dare_ties_d1", "dare_linear_svd_d1", "dare_ties_svd_d1"];

describe("addWeightedAdapter reproduces PEFT's add_weighted_adapter (gpt2: Conv1D, three adapters, a negative weight)", () => {
  it.each(DETERMINISTIC)("%s", async (label) => {
    const { peft, expected } = await setup("gpt2");
    const spec = expected.combined[label]!;
    const before = tf.memory().numTensors;
    await addWeightedAdapter(peft, spec.adapters, spec.weights, label, spec.combination_type, options(spec.options));
    // only the new adapter's variables are new
    const ours = peft.adapterStateDict(label);
    expect(tf.memory().numTensors - before).toBe(ours.size);
    const theirs = await peftResult("gpt2", label);
    expect(new Set(ours.keys())).toEqual(new Set(theirs.tensors.keys()));
    expect(modules(ours).length).toBeGreaterThan(0);
    const cfg = peft.peftConfig.get(label) as unknown as { r: number; loraAlpha: number };
    expect(cfg.r).toBe(theirs.config.r);
    expect(cfg.loraAlpha).toBe(theirs.config.lora_alpha);
    const svd = spec.combination_type.endsWith("svd");
    for (const m of modules(ours)) {
      const err = relErr(product(ours, m), product(theirs.tensors, m));
      record(label, err);
      expect(err, `${label} ${m} B·A`).toBeLessThan(1e-4);
      if (svd) {
        const { a, b } = signAligned(ours, theirs.tensors, m);
        expect(relErr(a, factor(theirs.tensors, m, "A").dataSync())).toBeLessThan(1e-4);
        expect(relErr(b, factor(theirs.tensors, m, "B").dataSync())).toBeLessThan(1e-4);
      } else {
        for (const w of ["A", "B"] as const) {
          const e = relErr(factor(ours, m, w).dataSync(), factor(theirs.tensors, m, w).dataSync());
          record(label, e);
          expect(e, `${label} ${m} ${w}`).toBeLessThan(1e-4);
        }
      }
    }
    for (const t of theirs.tensors.values()) t.dispose();
    peft.dispose();
  });

  it("`cat` is exact in ΔW: B·A = Σ wᵢsᵢBᵢAᵢ; `linear` is not (PEFT's cross terms) unless { exact: true }", async () => {
    const { peft, expected } = await setup("gpt2");
    const names = expected.adapters;
    const weights = expected.combined.cat!.weights;
    await addWeightedAdapter(peft, names, weights, "cat", "cat");
    await addWeightedAdapter(peft, names, weights, "lin", "linear");
    await addWeightedAdapter(peft, names, weights, "linx", "linear", { exact: true });
    await addWeightedAdapter(peft, names, weights, "tiesx", "ties", { exact: true, density: 1 });
    const sd = (n: string) => peft.adapterStateDict(n);
    for (const m of modules(sd("a"))) {
      const exact = new Float64Array(product(sd("a"), m).length);
      names.forEach((n, i) => {
        const s = 8 / 4; // lora_alpha / r of every input
        product(sd(n), m).forEach((v, j) => (exact[j]! += weights[i]! * s * v));
      });
      expect(relErr(product(sd("cat"), m), exact)).toBeLessThan(1e-5);
      expect(relErr(product(sd("linx"), m), exact)).toBeLessThan(1e-5);
      expect(relErr(product(sd("lin"), m), exact)).toBeGreaterThan(0.1);
      // TIES at density 1 in ΔW space keeps, per entry, the ΔW entries agreeing with the elected sign
      const deltas = names.map((n, i) => product(sd(n), m).map((v) => 2 * v * weights[i]!));
      const unweighted = names.map((n) => product(sd(n), m).map((v) => 2 * v));
      const tiesRef = exact.map((_, j) => {
        const sign = unweighted.reduce((s, d) => s + d[j]!, 0) >= 0 ? 1 : -1;
        let sum = 0;
        let count = 0;
        unweighted.forEach((d, i) => {
          if (Math.sign(d[j]!) === sign) {
            sum += deltas[i]![j]!;
            count++;
          }
        });
        return sum / Math.max(count, 1);
      });
      expect(relErr(product(sd("tiesx"), m), tiesRef)).toBeLessThan(1e-5);
    }
    peft.dispose();
  });
});

describe("DARE at density 0.5: PEFT's draw and ours are both consistent with the expected value (bounds in the file comment)", () => {
  it.each(["dare_linear", "dare_ties", "dare_linear_svd", "dare_ties_svd"])("%s", async (label) => {
    const { peft, expected } = await setup("gpt2");
    const spec = expected.combined[label]!;
    await addWeightedAdapter(peft, spec.adapters, spec.weights, label, spec.combination_type, { ...options(spec.options), seed: 11 });
    const ours = peft.adapterStateDict(label);
    const theirs = (await peftResult("gpt2", label)).tensors;
    const d = 0.5;
    if (label === "dare_linear") {
      // per entry of A (resp. B): x = Σ wᵢ·xᵢ·maskᵢ/d, mean Σ wᵢxᵢ, variance Σ (wᵢxᵢ)²(1−d)/d
      const inputs = spec.adapters.map((n) => peft.adapterStateDict(n));
      const scaled = spec.weights.map((w) => w * 2);
      for (const m of modules(ours)) {
        for (const which of ["A", "B"] as const) {
          const ws = scaled.map((ws2) => (which === "A" ? Math.sign(ws2) * Math.sqrt(Math.abs(ws2)) : Math.sqrt(Math.abs(ws2))));
          const xs = inputs.map((sd) => factor(sd, m, which).dataSync());
          const z2 = (draw: ArrayLike<number>): number => {
            let acc = 0;
            for (let j = 0; j < draw.length; j++) {
              const mean = xs.reduce((s, x, i) => s + ws[i]! * x[j]!, 0);
              const variance = xs.reduce((s, x, i) => s + (ws[i]! * x[j]!) ** 2, 0) * ((1 - d) / d);
              acc += (draw[j]! - mean) ** 2 / variance;
            }
            return acc / draw.length;
          };
          for (const [who, sd] of [["ours", ours], ["PEFT", theirs]] as const) {
            const v = z2(factor(sd, m, which).dataSync());
            expect(v, `${who} ${m} ${which}: mean z² ${v}`).toBeGreaterThan(0.6);
            expect(v, `${who} ${m} ${which}: mean z² ${v}`).toBeLessThan(1.4);
          }
        }
      }
    } else {
      for (const m of modules(ours)) {
        const a = label.endsWith("svd") ? product(ours, m) : factor(ours, m, "A").dataSync();
        const b = label.endsWith("svd") ? product(theirs, m) : factor(theirs, m, "A").dataSync();
        const rms = (v: ArrayLike<number>): number => Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0) / v.length);
        expect(Math.abs(rms(a) / rms(b) - 1), `${label} ${m} RMS ours ${rms(a)} PEFT ${rms(b)}`).toBeLessThan(0.3);
        if (!label.endsWith("svd")) {
          const kept = (v: ArrayLike<number>): number => Array.from(v).filter((x) => x !== 0).length / v.length;
          expect(Math.abs(kept(a) - kept(b))).toBeLessThan(0.1);
        }
      }
    }
    for (const t of theirs.values()) t.dispose();
    peft.dispose();
  });
});

describe("different ranks, rank_pattern, rsLoRA and an Embedding target (llama)", () => {
  it.each(["svd", "svd_rank3", "cat", "single_rslora"])("%s", async (label) => {
    const { peft, expected } = await setup("llama");
    const spec = expected.combined[label]!;
    await addWeightedAdapter(peft, spec.adapters, spec.weights, label, spec.combination_type, options(spec.options));
    const ours = peft.adapterStateDict(label);
    const theirs = await peftResult("llama", label);
    // PEFT's save also writes the embedding's base weight (save_embedding_layers="auto"); not part of the adapter
    const adapterKeys = [...theirs.tensors.keys()].filter((k) => !k.endsWith(".base_layer.weight"));
    expect(new Set(ours.keys())).toEqual(new Set(adapterKeys));
    // PEFT keeps use_rslora from the first adapter (rsLoRA here), so ITS new adapter is scaled by
    // lora_alpha/√r = √r; ours is scaled by 1 (useRslora false). The factors are the same.
    expect(theirs.config.use_rslora).toBe(true);
    expect((peft.peftConfig.get(label) as unknown as { useRslora: boolean }).useRslora).toBe(false);
    for (const m of modules(ours)) {
      const err = relErr(product(ours, m), product(theirs.tensors, m));
      record(`llama ${label}`, err);
      expect(err, `${label} ${m}`).toBeLessThan(1e-4);
    }
    if (label === "single_rslora") {
      // one adapter with weight 1 reproduces it: ΔW_new (scaling 1) = s_a·B_a·A_a with s_a = 4/√2
      const a = peft.adapterStateDict("a");
      for (const m of modules(a)) {
        const want = product(a, m).map((v) => (4 / Math.SQRT2) * v);
        expect(relErr(product(ours, m), want)).toBeLessThan(1e-5);
      }
    }
    for (const t of theirs.tensors.values()) t.dispose();
    peft.dispose();
  });

  it("svd_clamp reproduces PEFT once the SVD's sign freedom is fixed: our factors, signs aligned to PEFT's unclamped `svd`, clamped at the 0.9 quantile of their joint entries, equal PEFT's clamped factors", async () => {
    const { peft, expected } = await setup("llama");
    const spec = expected.combined.svd_clamp!;
    await addWeightedAdapter(peft, spec.adapters, spec.weights, "clamped", "svd", { svdClamp: 0.9 });
    await addWeightedAdapter(peft, spec.adapters, spec.weights, "plain", "svd");
    const clamped = peft.adapterStateDict("clamped");
    const plain = peft.adapterStateDict("plain");
    const theirsPlain = (await peftResult("llama", "svd")).tensors;
    const theirs = (await peftResult("llama", "svd_clamp")).tensors;
    const clampAt = (a: ArrayLike<number>, b: ArrayLike<number>) => {
      const all = Float64Array.from([...Array.from(b), ...Array.from(a)]).sort();
      const pos = 0.9 * (all.length - 1);
      const lo = Math.floor(pos);
      const hi = all[lo]! + (pos - lo) * (all[Math.min(lo + 1, all.length - 1)]! - all[lo]!);
      const clip = (v: ArrayLike<number>) => Array.from(v, (x) => Math.min(hi, Math.max(-hi, x)));
      return { a: clip(a), b: clip(b) };
    };
    for (const m of modules(plain)) {
      // 1. our clamp is the formula applied to our own factors
      const own = clampAt(factor(plain, m, "A").dataSync(), factor(plain, m, "B").dataSync());
      expect(relErr(factor(clamped, m, "A").dataSync(), own.a)).toBeLessThan(1e-6);
      expect(relErr(factor(clamped, m, "B").dataSync(), own.b)).toBeLessThan(1e-6);
      // 2. with PEFT's signs, the same formula gives PEFT's clamped result
      const { a, b } = signAligned(plain, theirsPlain, m);
      const aligned = clampAt(a, b);
      const errA = relErr(aligned.a, factor(theirs, m, "A").dataSync());
      const errB = relErr(aligned.b, factor(theirs, m, "B").dataSync());
      record("llama svd_clamp (sign-aligned)", Math.max(errA, errB));
      expect(errA, m).toBeLessThan(1e-4);
      expect(errB, m).toBeLessThan(1e-4);
    }
    for (const t of [...theirs.values(), ...theirsPlain.values()]) t.dispose();
    peft.dispose();
  });
});

describe("DoRA: what PEFT does, and the exact alternative", () => {
  it.each(["svd", "linear"])("%s: PEFT keeps use_dora and gives the new adapter the magnitude ‖W‖ (its init), dropping the inputs'", async (label) => {
    const { peft, expected } = await setup("dora");
    const spec = expected.combined[label]!;
    await addWeightedAdapter(peft, spec.adapters, spec.weights, label, spec.combination_type);
    const ours = peft.adapterStateDict(label);
    const theirs = (await peftResult("dora", label)).tensors;
    expect(new Set(ours.keys())).toEqual(new Set(theirs.keys()));
    for (const [k, t] of theirs) {
      if (!k.includes("magnitude")) continue;
      const err = relErr(ours.get(k)!.dataSync(), t.dataSync());
      record(`dora ${label} magnitude`, err);
      expect(err, k).toBeLessThan(1e-4);
    }
    for (const m of modules(ours)) {
      const err = relErr(product(ours, m), product(theirs, m));
      record(`dora ${label}`, err);
      expect(err).toBeLessThan(1e-4);
    }
    for (const t of theirs.values()) t.dispose();
    peft.dispose();
  });

  it("{ exact: true } folds each DoRA adapter's effective update into a plain LoRA adapter: the merged model equals Σ wᵢ(W'ᵢ − W) + W", async () => {
    const { peft, expected } = await setup("dora");
    const w = [0.6, 0.8];
    await addWeightedAdapter(peft, expected.adapters, w, "x", "linear", { exact: true });
    expect((peft.peftConfig.get("x") as unknown as { useDora: boolean }).useDora).toBe(false);
    const inputs = tf.tensor2d([[5, 17, 42, 3, 88, 61, 9]], undefined, "int32");
    const logits = (names: string[] | null): Float32Array => {
      if (names === null) return peft.disableAdapters(() => (peft.forward({ inputIds: inputs }) as { logits: Tensor }).logits.dataSync() as Float32Array);
      peft.setAdapter(names);
      return (peft.forward({ inputIds: inputs }) as { logits: Tensor }).logits.dataSync() as Float32Array;
    };
    // Reference: merge each DoRA adapter alone, read its merged weight, combine by hand.
    const layerPaths = peft.tunerLayers().map(([p]) => p);
    const weightOf = (p: string): Float32Array => (peft.getSubmodule(`${p}.base_layer`) as unknown as { weight: Tensor }).weight.dataSync() as Float32Array;
    const base = new Map(layerPaths.map((p) => [p, weightOf(p)]));
    const want = new Map(layerPaths.map((p) => [p, Float64Array.from(base.get(p)!)]));
    expected.adapters.forEach((n, i) => {
      peft.setAdapter(n);
      peft.merge();
      for (const p of layerPaths) {
        const merged = weightOf(p);
        const acc = want.get(p)!;
        for (let j = 0; j < acc.length; j++) acc[j]! += w[i]! * (merged[j]! - base.get(p)![j]!);
      }
      peft.unmerge();
    });
    peft.setAdapter("x");
    peft.merge();
    for (const p of layerPaths) expect(relErr(weightOf(p), want.get(p)!)).toBeLessThan(1e-5);
    peft.unmerge();
    expect(logits(["x"]).every(Number.isFinite)).toBe(true);
    inputs.dispose();
    peft.dispose();
  });
});

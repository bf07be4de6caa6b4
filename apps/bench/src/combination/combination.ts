/**
 * The bench's combination section: on the timing model of a preset, two LoRA adapters with the bench's LoRA
 * configuration (random non-zero factors, as if trained) are combined by every PEFT combination type with
 * @peftjs/merge's `addWeightedAdapter`; each is timed and checked:
 * - `cat`: B·A = Σ wᵢsᵢBᵢAᵢ exactly (max relative error);
 * - one adapter with weight 1 (`single`): reproduces it;
 * - every type: finite, and its relative distance from the exact Σ wᵢΔWᵢ (how far PEFT's arithmetic is);
 * - with the peer: PEFT's `add_weighted_adapter` on the same adapter files (peer/combination.py), its time
 *   and the max relative error of ours against it on B·A (DARE types at density 1, so that both are exact).
 */
import { spawnSync } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { getPeftModel, readSafetensors, silentLogger, tf } from "@peftjs/core";
import type { PeftModel, Tensor } from "@peftjs/core";
import { lora } from "@peftjs/lora";
import { COMBINATION_TYPES, addWeightedAdapter } from "@peftjs/merge";
import type { CombinationType } from "@peftjs/merge";
import { gpt2ConfigFor, instantiate } from "../engine/model.js";
import type { ConcreteShape } from "../engine/model.js";

export interface CombinationRow {
  label: string;
  combinationType: CombinationType;
  density: number | null;
  ms: number;
  rank: number;
  finite: boolean;
  /** max |B·A − Σ wᵢΔWᵢ| / max |Σ wᵢΔWᵢ| over the layers. */
  relDistanceFromExact: number;
  peerMs: number | null;
  /** max relative error of ours against PEFT's B·A. */
  peerRelError: number | null;
}

export interface CombinationSection {
  model: ConcreteShape;
  adapters: string;
  weights: number[];
  rows: CombinationRow[];
  peer: { status: "ok"; versions: Record<string, string> } | { status: "unavailable" | "failed"; reason: string } | null;
}

const WEIGHTS = [0.7, -0.4];
const TARGETS = ["c_attn", "c_proj", "c_fc"];

function cases(): { label: string; type: CombinationType; density: number | null; adapters: string[] }[] {
  const out: { label: string; type: CombinationType; density: number | null; adapters: string[] }[] = [];
  for (const type of COMBINATION_TYPES) {
    const needs = !["svd", "linear", "cat"].includes(type);
    // DARE at density 1: deterministic, so PEFT's result can be compared entry for entry.
    out.push({ label: type, type, density: needs ? (type.startsWith("dare") ? 1 : 0.5) : null, adapters: ["a", "b"] });
  }
  out.push({ label: "single", type: "linear", density: null, adapters: ["a"] });
  return out;
}

function products(peft: PeftModel, name: string): Map<string, Float32Array> {
  const sd = peft.adapterStateDict(name);
  const out = new Map<string, Float32Array>();
  for (const [k, a] of sd) {
    if (!k.endsWith(".lora_A.weight")) continue;
    const b = sd.get(k.replace(".lora_A.", ".lora_B."))!;
    out.set(k.replace(".lora_A.weight", ""), tf.tidy(() => tf.matMul(b, a).dataSync() as Float32Array));
  }
  return out;
}

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 0;
  let err = 0;
  for (let i = 0; i < b.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]!));
    err = Math.max(err, Math.abs(a[i]! - b[i]!));
  }
  return scale === 0 ? err : err / scale;
}

export async function runCombination(shape: ConcreteShape, outDir: string, options: { seed: number; peer: boolean; python: string; peerScript: string; log: (line: string) => void }): Promise<CombinationSection> {
  const dir = join(outDir, "combination");
  await mkdir(dir, { recursive: true });
  const model = instantiate(gpt2ConfigFor(shape), options.seed);
  const spec = { r: 8, loraAlpha: 16, loraDropout: 0, targetModules: TARGETS, fanInFanOut: true, initLoraWeights: false as const };
  const peft = getPeftModel(model, lora(spec), "a", { logger: silentLogger });
  peft.addAdapter("b", lora(spec));
  await peft.save(join(dir, "adapters"), { selectedAdapters: ["a", "b"] });
  const inputs = ["a", "b"].map((n) => products(peft, n));
  const s = 16 / 8;
  const exactOf = (adapters: string[], weights: number[]): Map<string, Float64Array> => {
    const out = new Map<string, Float64Array>();
    for (const key of inputs[0]!.keys()) {
      const acc = new Float64Array(inputs[0]!.get(key)!.length);
      adapters.forEach((n, i) => inputs[n === "a" ? 0 : 1]!.get(key)!.forEach((v, j) => (acc[j]! += weights[i]! * s * v)));
      out.set(key, acc);
    }
    return out;
  };
  const rows: CombinationRow[] = [];
  for (const c of cases()) {
    const weights = WEIGHTS.slice(0, c.adapters.length);
    const started = performance.now();
    await addWeightedAdapter(peft, c.adapters, weights, c.label, c.type, { density: c.density, seed: options.seed });
    const ms = performance.now() - started;
    const ours = products(peft, c.label);
    const exact = exactOf(c.adapters, weights);
    let dist = 0;
    let finite = true;
    for (const [k, p] of ours) {
      if (!p.every(Number.isFinite)) finite = false;
      dist = Math.max(dist, relErr(p, exact.get(k)!));
    }
    rows.push({ label: c.label, combinationType: c.type, density: c.density, ms, rank: (peft.peftConfig.get(c.label) as unknown as { r: number }).r, finite, relDistanceFromExact: dist, peerMs: null, peerRelError: null });
    options.log(`combination · ${c.label}: ${ms.toFixed(1)} ms, rank ${rows.at(-1)!.rank}, distance from Σ wᵢΔWᵢ ${dist.toExponential(2)}`);
  }

  let peer: CombinationSection["peer"] = null;
  if (options.peer) {
    const config = { model: shape, adapters: join(dir, "adapters"), weights: WEIGHTS, cases: cases().map((c) => ({ label: c.label, combination_type: c.type, density: c.density, adapters: c.adapters })), out: join(dir, "peer") };
    await writeFile(join(dir, "peer-config.json"), JSON.stringify(config, null, 2));
    const res = spawnSync(options.python, [options.peerScript, "--config", join(dir, "peer-config.json")], { encoding: "utf8" });
    if (res.status === 3) peer = { status: "unavailable", reason: res.stderr.trim().split("\n").at(-1) ?? "no torch/peft" };
    else if (res.status !== 0) peer = { status: "failed", reason: (res.stderr || String(res.error)).trim().split("\n").slice(-3).join(" ") };
    else {
      const results = JSON.parse(await readFile(join(dir, "peer", "results.json"), "utf8")) as { versions: Record<string, string>; ms: Record<string, number> };
      peer = { status: "ok", versions: results.versions };
      for (const row of rows) {
        row.peerMs = results.ms[row.label] ?? null;
        const { tensors } = await readSafetensors(join(dir, "peer", row.label, "adapter_model.safetensors"));
        const ours = products(peft, row.label);
        let err = 0;
        for (const [k, p] of ours) {
          const a = tensors.get(`${k}.lora_A.weight`) as Tensor;
          const b = tensors.get(`${k}.lora_B.weight`) as Tensor;
          const theirs = tf.tidy(() => tf.matMul(b, a).dataSync());
          err = Math.max(err, relErr(p, theirs));
        }
        for (const t of tensors.values()) t.dispose();
        row.peerRelError = err;
      }
    }
  }
  peft.dispose();
  const section: CombinationSection = { model: shape, adapters: `two LoRA adapters r=8, α=16 on ${TARGETS.join(", ")} (random factors), weights ${WEIGHTS.join(", ")}`, weights: WEIGHTS, rows, peer };
  await writeFile(join(dir, "combination.json"), JSON.stringify(section, null, 2) + "\n");
  await writeFile(join(dir, "combination.md"), combinationMarkdown(section));
  return section;
}

export function combinationMarkdown(s: CombinationSection): string {
  const peerOk = s.peer?.status === "ok";
  const lines = [
    "## Combining adapters (`addWeightedAdapter`)",
    "",
    `Timing model GPT-2 ${s.model.nLayer} layers × ${s.model.nEmbd}, vocab ${s.model.vocabSize}; ${s.adapters}. Density 0.5 for ties / magnitude_prune, 1 for the DARE types (deterministic, comparable with PEFT). "distance" is max |B·A − Σ wᵢΔWᵢ| / max |Σ wᵢΔWᵢ| (0 for exact types; PEFT's A/B-separate arithmetic is not Σ wᵢΔWᵢ).`,
    s.peer === null ? "" : peerOk ? `Peer: PyTorch + PEFT ${(s.peer as { versions: Record<string, string> }).versions.peft ?? "?"} \`add_weighted_adapter\` on the same adapter files.` : `Peer ${s.peer.status}: ${(s.peer as { reason: string }).reason}`,
    "",
    `| combination | density | rank | ms | finite | distance from Σ wᵢΔWᵢ |${peerOk ? " PEFT ms | rel. error vs PEFT |" : ""}`,
    `| --- | --- | --- | --- | --- | --- |${peerOk ? " --- | --- |" : ""}`,
    ...s.rows.map(
      (r) =>
        `| ${r.label} | ${r.density ?? "–"} | ${r.rank} | ${r.ms.toFixed(1)} | ${r.finite ? "yes" : "NO"} | ${r.relDistanceFromExact.toExponential(2)} |${peerOk ? ` ${r.peerMs === null ? "–" : r.peerMs.toFixed(1)} | ${r.peerRelError === null ? "–" : r.peerRelError.toExponential(2)} |` : ""}`,
    ),
    "",
  ];
  return lines.join("\n");
}

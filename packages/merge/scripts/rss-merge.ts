/**
 * Peak-memory check of a model merge (the "three GPT-2-small-shaped checkpoints"): writes a random
 * base and two random fine-tunes of GPT-2 small's shape (124M parameters, float32, ~498 MB each) into a temp
 * folder, then runs `peftjs-merge` on them in a child process under `/usr/bin/time -v` and reports its
 * maximum resident set size against one checkpoint's size. Nothing is committed; the temp folder is removed.
 *
 *   node --conditions=@peftjs/source --import tsx packages/merge/scripts/rss-merge.ts [ties|linear|slerp|model_stock ...]
 */
import { spawnSync } from "node:child_process";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeShardedFolder } from "../src/model-merge/writer.js";
import type { PlannedTensor } from "../src/model-merge/writer.js";

const HERE = dirname(fileURLToPath(import.meta.url));

function gpt2SmallTensors(): PlannedTensor[] {
  const d = 768;
  const t: PlannedTensor[] = [
    { name: "transformer.wte.weight", shape: [50257, d], dtype: "float32" },
    { name: "transformer.wpe.weight", shape: [1024, d], dtype: "float32" },
  ];
  for (let i = 0; i < 12; i++) {
    const p = `transformer.h.${i}.`;
    t.push(
      { name: `${p}ln_1.weight`, shape: [d], dtype: "float32" },
      { name: `${p}ln_1.bias`, shape: [d], dtype: "float32" },
      { name: `${p}attn.c_attn.weight`, shape: [d, 3 * d], dtype: "float32" },
      { name: `${p}attn.c_attn.bias`, shape: [3 * d], dtype: "float32" },
      { name: `${p}attn.c_proj.weight`, shape: [d, d], dtype: "float32" },
      { name: `${p}attn.c_proj.bias`, shape: [d], dtype: "float32" },
      { name: `${p}ln_2.weight`, shape: [d], dtype: "float32" },
      { name: `${p}ln_2.bias`, shape: [d], dtype: "float32" },
      { name: `${p}mlp.c_fc.weight`, shape: [d, 4 * d], dtype: "float32" },
      { name: `${p}mlp.c_fc.bias`, shape: [4 * d], dtype: "float32" },
      { name: `${p}mlp.c_proj.weight`, shape: [4 * d, d], dtype: "float32" },
      { name: `${p}mlp.c_proj.bias`, shape: [d], dtype: "float32" },
    );
  }
  t.push({ name: "transformer.ln_f.weight", shape: [d], dtype: "float32" }, { name: "transformer.ln_f.bias", shape: [d], dtype: "float32" });
  return t;
}

/** Deterministic uniform noise (mulberry32), written 1M values at a time. */
async function writeRandomCheckpoint(dir: string, seed: number, base: number | null): Promise<void> {
  const tensors = gpt2SmallTensors();
  let s = seed >>> 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  };
  // fine-tunes = base noise (same seed stream) + small noise: regenerate the base stream alongside
  let sb = (base ?? 0) >>> 0;
  const nextBase = (): number => {
    sb = (sb + 0x6d2b79f5) >>> 0;
    let t = sb;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  };
  await writeShardedFolder(dir, tensors, 1e12, async (t, write) => {
    let left = t.shape.reduce((a, b) => a * b, 1);
    while (left > 0) {
      const n = Math.min(left, 1 << 20);
      const chunk = new Float32Array(n);
      for (let i = 0; i < n; i++) chunk[i] = base === null ? 0.04 * next() : 0.04 * nextBase() + 0.004 * next();
      await write(chunk);
      left -= n;
    }
  }, { "config.json": JSON.stringify({ architectures: ["GPT2LMHeadModel"], model_type: "gpt2", n_layer: 12, n_embd: 768, n_head: 12, vocab_size: 50257, n_positions: 1024 }) });
}

const CONFIGS: Record<string, string> = {
  ties: "merge_method: ties\nbase_model: base\nmodels:\n  - model: ft_a\n    parameters: { weight: 0.6, density: 0.5 }\n  - model: ft_b\n    parameters: { weight: 0.4, density: 0.5 }\n",
  linear: "merge_method: linear\nmodels:\n  - model: base\n    parameters: { weight: 0.2 }\n  - model: ft_a\n    parameters: { weight: 0.4 }\n  - model: ft_b\n    parameters: { weight: 0.4 }\n",
  slerp: "merge_method: slerp\nbase_model: base\nmodels:\n  - model: base\n  - model: ft_a\nparameters: { t: 0.4 }\n",
  model_stock: "merge_method: model_stock\nbase_model: base\nmodels:\n  - model: ft_a\n  - model: ft_b\n",
};

async function main(): Promise<void> {
  const methods = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ["ties", "linear"];
  const dir = await mkdtemp(join(tmpdir(), "peftjs-rss-"));
  try {
    process.stderr.write(`writing three GPT-2-small-shaped checkpoints into ${dir} …\n`);
    await writeRandomCheckpoint(join(dir, "base"), 1, null);
    await writeRandomCheckpoint(join(dir, "ft_a"), 2, 1);
    await writeRandomCheckpoint(join(dir, "ft_b"), 3, 1);
    const size = (await stat(join(dir, "base", "model.safetensors"))).size;
    const cli = join(HERE, "..", "src", "cli.ts");
    for (const method of methods) {
      const config = CONFIGS[method];
      if (config === undefined) throw new Error(`no config for ${method}; use one of ${Object.keys(CONFIGS).join(", ")}`);
      await writeFile(join(dir, `${method}.yaml`), config);
      const out = join(dir, `out-${method}`);
      const started = performance.now();
      const res = spawnSync("/usr/bin/time", ["-v", process.execPath, "--conditions=@peftjs/source", "--import", "tsx", cli, join(dir, `${method}.yaml`), out, "--quiet"], { encoding: "utf8" });
      if (res.status !== 0) throw new Error(`peftjs-merge failed (${res.status}):\n${res.stderr}`);
      const seconds = (performance.now() - started) / 1000;
      const kb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(res.stderr)?.[1]);
      const peak = kb * 1024;
      const outSize = (await stat(join(out, "model.safetensors"))).size;
      console.log(
        `${method}: peak RSS ${(peak / 1e6).toFixed(0)} MB = ${(peak / size).toFixed(2)}× one checkpoint (${(size / 1e6).toFixed(0)} MB); output ${(outSize / 1e6).toFixed(0)} MB; ${seconds.toFixed(0)} s`,
      );
      await rm(out, { recursive: true, force: true });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();

#!/usr/bin/env node
/**
 * peftjs-merge config.yaml OUT [--max-shard-size 2GB] [--seed N] [--quiet]
 *
 * Merges the checkpoints a mergekit-style YAML config names into the HF folder OUT, streaming tensor by
 * tensor, with one progress line per tensor on stderr.
 */
import { mergeFromConfigFile } from "./model-merge/merge-models.js";

const USAGE = "usage: peftjs-merge config.yaml OUT [--max-shard-size 2GB] [--seed N] [--quiet]";

function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB)?$/i.exec(s.trim());
  if (m === null) throw new Error(`--max-shard-size ${JSON.stringify(s)}: expected a size like 500MB or 2GB.`);
  const unit = { B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12 }[(m[2] ?? "B").toUpperCase() as "B"];
  return Number(m[1]) * unit;
}

export async function main(argv: string[]): Promise<number> {
  const positional: string[] = [];
  let maxShardBytes: number | undefined;
  let seed: number | undefined;
  let quiet = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--max-shard-size") maxShardBytes = parseSize(argv[++i] ?? "");
    else if (a === "--seed") seed = Number(argv[++i]);
    else if (a === "--quiet") quiet = true;
    else if (a === "-h" || a === "--help") {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    } else if (a.startsWith("--")) throw new Error(`unknown option ${a}\n${USAGE}`);
    else positional.push(a);
  }
  if (positional.length !== 2) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const [config, out] = positional as [string, string];
  const started = performance.now();
  await mergeFromConfigFile(config, out, {
    ...(maxShardBytes !== undefined ? { maxShardBytes } : {}),
    ...(seed !== undefined ? { seed } : {}),
    onProgress: (p) => {
      if (quiet) return;
      const width = String(p.total).length;
      process.stderr.write(`[${String(p.index).padStart(width)}/${p.total}] ${p.name} [${p.shape.join(", ")}] ${p.seconds.toFixed(2)} s${p.blockwise ? " (blockwise)" : ""}\n`);
    },
  });
  if (!quiet) process.stderr.write(`merged into ${out} in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  return 0;
}

const invoked = process.argv[1] ?? "";
if (invoked.endsWith("cli.ts") || invoked.endsWith("cli.js") || invoked.endsWith("peftjs-merge")) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`peftjs-merge: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}

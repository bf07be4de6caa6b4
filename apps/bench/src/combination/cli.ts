/**
 * `pnpm --filter @peftjs/bench combination [--preset smoke|tiny|small] [--peer] [--python python3] [--seed n] [--out dir]`
 *
 * Runs the combination section alone (cpu backend; the section is SVD- and read-bound, not kernel-bound) and
 * writes <out>/combination/combination.{json,md}; with --peer also PEFT's add_weighted_adapter on the same
 * adapters (peer/combination.py).
 */
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { tf } from "@peftjs/core";
import { defaultOutDir, userPath } from "../paths.js";
import { PRESETS } from "../presets.js";
import type { PresetName } from "../args.js";
import { runCombination } from "./combination.js";

async function main(argv: string[]): Promise<void> {
  let preset: PresetName = "tiny";
  let peer = false;
  let python = "python3";
  let seed = 0;
  let out = defaultOutDir();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--preset") preset = argv[++i] as PresetName;
    else if (a === "--peer") peer = true;
    else if (a === "--python") python = argv[++i]!;
    else if (a === "--seed") seed = Number(argv[++i]);
    else if (a === "--out") out = userPath(argv[++i]!);
    else throw new Error(`unknown option ${a}; options: --preset smoke|tiny|small, --peer, --python path, --seed n, --out dir`);
  }
  const p = PRESETS[preset];
  if (p === undefined) throw new Error(`--preset must be one of ${Object.keys(PRESETS).join(", ")}`);
  await tf.setBackend("cpu");
  const shape = { ...p.timing.model, vocabSize: p.timing.model.vocabSize ?? 64 };
  const here = dirname(fileURLToPath(import.meta.url));
  const section = await runCombination(shape, out, { seed, peer, python, peerScript: resolve(here, "..", "..", "peer", "combination.py"), log: (l) => process.stderr.write(`${l}\n`) });
  process.stderr.write(`wrote ${resolve(out, "combination", "combination.md")}\n`);
  if (section.rows.some((r) => !r.finite)) process.exitCode = 1;
}

main(process.argv.slice(2)).catch((e: unknown) => {
  process.stderr.write(`combination: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(2);
});

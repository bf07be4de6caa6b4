/**
 * The long hostile-file run (the CI run is src/peft/corpus.fuzz.test.ts, 2,500 cases):
 *   node --import tsx packages/core/scripts/fuzz.ts [--cases 100000] [--seed 1]
 * reads `--cases` corrupted safetensors files from the seeded corpus generator (src/io/__tests__/corpus.ts,
 * bases: the committed fixtures and random valid files) and checks each with the same oracle as CI. Prints
 * counts per mutation kind; exits 1 at the first case that breaks the oracle, printing its label and seed
 * (rerun with the same seed to reproduce it), and checks that no tensor leaked.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { tf } from "../src/tf.js";
import { checkCase, corpus } from "../src/io/__tests__/corpus.js";

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
};
const cases = arg("cases", 100_000);
const seed = arg("seed", 1);
const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(fileURLToPath(new URL(`../test/fixtures/${name}`, import.meta.url))));
const bases = [fixture("safetensors/python_written.safetensors"), fixture("peft/base/model.safetensors"), fixture("peft/ia3/adapter_model.safetensors")];

await tf.ready();
const before = tf.memory().numTensors;
const started = Date.now();
const counts = new Map<string, { refused: number; read: number }>();
for (const c of corpus(seed, cases, bases)) {
  let outcome: "refused" | "read";
  try {
    outcome = checkCase(c);
  } catch (error) {
    console.error(`FAILED (seed ${seed}): ${(error as Error).message}`);
    process.exit(1);
  }
  const kind = c.label.replace(/^#\d+ /, "").replace(/ \+ .*/, " + …").replace(/header length \d+/, "header length");
  const s = counts.get(kind) ?? { refused: 0, read: 0 };
  s[outcome]++;
  counts.set(kind, s);
}
if (tf.memory().numTensors !== before) {
  console.error(`FAILED: ${tf.memory().numTensors - before} tensors leaked`);
  process.exit(1);
}
for (const [kind, s] of [...counts].sort()) console.log(`${kind.padEnd(44)} refused ${String(s.refused).padStart(7)}  read ${String(s.read).padStart(7)}`);
console.log(`${cases} cases (seed ${seed}) in ${((Date.now() - started) / 1000).toFixed(1)} s: no crash, no wrong value, every must-refuse refused, no leak.`);

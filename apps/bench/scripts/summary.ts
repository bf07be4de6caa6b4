/**
 * Prints the summary table of a results.json (for quoting in a README):
 *   node --conditions=@peftjs/source --import tsx apps/bench/scripts/summary.ts apps/bench/results/<run>/results.json
 */
import { readFileSync } from "node:fs";
import { assertValidResults } from "../src/schema.js";
import { renderSummary } from "../src/report/summary.js";
import type { BenchResults } from "../src/results.js";

const path = process.argv[2];
if (path === undefined) {
  process.stderr.write("usage: summary.ts <results.json>\n");
  process.exit(2);
}
const value: unknown = JSON.parse(readFileSync(path, "utf8"));
assertValidResults(value);
process.stdout.write(renderSummary(value as BenchResults));

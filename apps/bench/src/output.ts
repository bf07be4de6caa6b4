/** Writes results.json (validated first), results.schema.json, report.md and report.html, each atomically. */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "@peftjs/core";
import type { BenchResults } from "./results.js";
import { RESULTS_SCHEMA, assertValidResults } from "./schema.js";
import { renderMarkdown } from "./report/markdown.js";
import { renderHtml } from "./report/html.js";

export async function writeReports(outDir: string, results: BenchResults): Promise<string[]> {
  assertValidResults(results);
  await mkdir(outDir, { recursive: true });
  const files: [string, string][] = [
    ["results.json", JSON.stringify(results, null, 2) + "\n"],
    ["results.schema.json", JSON.stringify(RESULTS_SCHEMA, null, 2) + "\n"],
    ["report.md", renderMarkdown(results)],
    ["report.html", renderHtml(results)],
  ];
  for (const [name, text] of files) await writeFileAtomic(join(outDir, name), text);
  return files.map(([name]) => join(outDir, name));
}

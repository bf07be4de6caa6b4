/** report.md: the provenance, then every table as GitHub Markdown. */
import type { BenchResults } from "../results.js";
import { allTables, COMBINATION_PLACEHOLDER } from "./tables.js";
import { markdownTable } from "./markdown-table.js";
import { renderSummary } from "./summary.js";
import { provenanceLines } from "./provenance-text.js";

export { markdownTable };

export function renderMarkdown(r: BenchResults): string {
  const out: string[] = ["# peftjs benchmark", ""];
  for (const [k, v] of provenanceLines(r)) out.push(`- **${k}**: ${v}`);
  out.push("", "## Summary", "", renderSummary(r));
  for (const t of allTables(r)) out.push(`## ${t.title}`, "", t.caption, "", markdownTable(t), "");
  if (r.peer?.status === "unavailable") out.push("## PyTorch + PEFT peer", "", `Peer unavailable: ${r.peer.reason}`, "");
  if (r.peer === null) out.push("## PyTorch + PEFT peer", "", "Not run (pass `--peer` on a host with python3, torch, transformers and peft).", "");
  out.push("## Adapter combination", "", r.combination?.note ?? COMBINATION_PLACEHOLDER, "");
  const failed = r.methods.filter((m) => m.error !== null);
  if (failed.length > 0) {
    out.push("## Errors", "");
    for (const m of failed) out.push(`- **${m.label}** (⚠): ${m.error ?? ""}`);
    out.push("");
  }
  if (r.notes.length > 0) {
    out.push("## Notes", "");
    for (const n of r.notes) out.push(`- ${n}`);
    out.push("");
  }
  return out.join("\n");
}

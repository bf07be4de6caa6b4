/** report.md: the provenance, then every table as GitHub Markdown. */
import type { BenchResults } from "../results.js";
import { allTables, COMBINATION_PLACEHOLDER } from "./tables.js";
import type { Table } from "./tables.js";
import { provenanceLines } from "./provenance-text.js";

/** Escapes the characters that break a Markdown table cell. */
function cell(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\|/g, "\\|").replace(/\n/g, " ");
}

export function markdownTable(t: Table): string {
  const head = `| ${t.headers.map(cell).join(" | ")} |`;
  const sep = `|${t.align.map((a) => (a === "r" ? " ---: " : " --- ")).join("|")}|`;
  const body = t.rows.map((r) => `| ${r.map(cell).join(" | ")} |`);
  return [head, sep, ...body].join("\n");
}

export function renderMarkdown(r: BenchResults): string {
  const out: string[] = ["# peftjs benchmark", ""];
  for (const [k, v] of provenanceLines(r)) out.push(`- **${k}**: ${v}`);
  out.push("");
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

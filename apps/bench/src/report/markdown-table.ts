/** One report table as GitHub Markdown. */
import type { Table } from "./tables.js";

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

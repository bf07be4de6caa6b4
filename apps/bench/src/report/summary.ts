/**
 * The short table a README quotes: one row per method with the headline figures, titled with the card
 * (or backend) and date. `scripts/summary.ts results.json` prints it; report.md starts with it.
 */
import type { BenchResults } from "../results.js";
import { formatBytes, formatDuration, formatPercent, formatRatio } from "../format.js";
import { markdownTable } from "./markdown-table.js";

export function summaryTitle(r: BenchResults): string {
  const p = r.provenance;
  const device = p.gpu?.name ?? (p.adapter === null ? null : [p.adapter.vendor, p.adapter.architecture].filter((s) => s !== "").join(" ")) ?? `${p.cpu.count} × ${p.cpu.model}`;
  const t = r.config.timing;
  return `${device}, ${p.backend} backend, ${r.createdAt.slice(0, 10)} — timing: GPT-2 ${t.model.nLayer}×${t.model.nEmbd} (vocab ${t.model.vocabSize}), batch ${t.batch} × ${t.seq}; git ${p.gitSha?.slice(0, 10) ?? "unknown"}`;
}

export function renderSummary(r: BenchResults): string {
  const peer = r.peer?.status === "ok" ? r.peer.results : null;
  const headers = ["method", "trainable", "step (median)", "tokens/s", "peak memory", "held-out loss", "held-out acc."];
  const align: ("l" | "r")[] = ["l", "r", "r", "r", "r", "r", "r"];
  if (peer !== null) {
    headers.splice(3, 0, "step vs PEFT");
    align.splice(3, 0, "r");
  }
  const rows = r.methods.map((m) => {
    const tr = m.training;
    const cells = [
      m.error === null ? m.label : `${m.label} ⚠`,
      formatPercent(m.trainable?.percent),
      tr === null ? "–" : formatDuration(tr.stepMs.median),
      tr === null ? "–" : tr.tokensPerSecond.toFixed(0),
      formatBytes(tr?.peakBytes),
      m.quality === null ? "–" : m.quality.heldOutLoss.toFixed(3),
      m.quality === null ? "–" : formatPercent(100 * m.quality.heldOutAccuracy),
    ];
    if (peer !== null) {
      const p = peer.methods.find((x) => x.name === m.name && x.error === null);
      cells.splice(3, 0, formatRatio(tr?.stepMs.median, p?.training.stepMs.median));
    }
    return cells;
  });
  return `**${summaryTitle(r)}**\n\n${markdownTable({ id: "summary", title: "", caption: "", headers, align, rows })}\n`;
}

/** The summary table printed on stdout at the end of a run. */
import type { BenchResults } from "../results.js";
import { formatBytes, formatFixed, formatMs, formatPercent, formatRatio, formatTokensPerSecond } from "../format.js";

export function textTable(headers: string[], rows: string[][], align: ("l" | "r")[]): string {
  const widths = headers.map((h, i) => Math.max([...h].length, ...rows.map((r) => [...(r[i] ?? "")].length)));
  const pad = (s: string, i: number): string => {
    const w = widths[i]!;
    const n = w - [...s].length;
    return align[i] === "r" ? " ".repeat(n) + s : s + " ".repeat(n);
  };
  const line = (cells: string[]): string => cells.map(pad).join("  ").trimEnd();
  return [line(headers), widths.map((w) => "─".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

export function renderConsole(r: BenchResults): string {
  const peer = r.peer?.status === "ok" ? r.peer.results : null;
  const headers = ["method", "trainable", "step ms (p10–p90)", "tokens/s", "peak mem", "drift", "held-out loss", "accuracy"];
  const align: ("l" | "r")[] = ["l", "r", "r", "r", "r", "r", "r", "r"];
  if (peer !== null) {
    headers.push("step vs PEFT");
    align.push("r");
  }
  const rows = r.methods.map((m) => {
    const tr = m.training;
    const cells = [
      m.error === null ? m.label : `${m.label} (error)`,
      formatPercent(m.trainable?.percent),
      tr === null ? "–" : `${formatMs(tr.stepMs.median)} (${formatMs(tr.stepMs.p10)}–${formatMs(tr.stepMs.p90)})`,
      formatTokensPerSecond(tr?.tokensPerSecond),
      formatBytes(tr?.peakBytes),
      tr === null ? "–" : String(tr.numTensors.drift),
      formatFixed(m.quality?.heldOutLoss, 4),
      m.quality === null ? "–" : formatPercent(100 * m.quality.heldOutAccuracy),
    ];
    if (peer !== null) {
      const p = peer.methods.find((x) => x.name === m.name && x.error === null);
      cells.push(formatRatio(tr?.stepMs.median, p?.training.stepMs.median));
    }
    return cells;
  });
  const gpu = r.provenance.gpu?.name ?? r.provenance.adapter?.description ?? "";
  const title = `peftjs bench — ${r.provenance.backend}${gpu === "" ? "" : ` (${gpu})`}, preset ${r.config.preset}, ${r.totalSeconds.toFixed(0)} s`;
  return `${title}\n${textTable(headers, rows, align)}\n`;
}

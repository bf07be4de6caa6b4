/** report.html: one self-contained file (inline CSS and SVG, no script, no external resource). */
import type { BenchResults } from "../results.js";
import { formatBytes, formatMs, formatPercent } from "../format.js";
import { allTables, COMBINATION_PLACEHOLDER } from "./tables.js";
import type { Table } from "./tables.js";
import { provenanceLines } from "./provenance-text.js";
import { barChart, escapeXml, scatterChart } from "./svg.js";
import type { BarSeries } from "./svg.js";

const CSS = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #222; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .5rem 0 1rem; }
th, td { padding: .25rem .6rem; border-bottom: 1px solid #eee; }
th { background: #f5f5f7; text-align: left; } td.r, th.r { text-align: right; font-variant-numeric: tabular-nums; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .1rem 1rem; } dt { font-weight: 600; } dd { margin: 0; }
.caption { color: #555; max-width: 70rem; } .charts { display: flex; flex-wrap: wrap; gap: 1.5rem; }
`;

function htmlTable(t: Table): string {
  const th = t.headers.map((h, i) => `<th class="${t.align[i] ?? "l"}">${escapeXml(h)}</th>`).join("");
  const rows = t.rows.map((r) => `<tr>${r.map((c, i) => `<td class="${t.align[i] ?? "l"}">${escapeXml(c)}</td>`).join("")}</tr>`).join("\n");
  return `<h2 id="${t.id}">${escapeXml(t.title)}</h2>\n<p class="caption">${escapeXml(t.caption)}</p>\n<table><thead><tr>${th}</tr></thead><tbody>\n${rows}\n</tbody></table>`;
}

export function charts(r: BenchResults): string[] {
  const methods = r.methods;
  const categories = methods.map((m) => m.label);
  const peer = r.peer?.status === "ok" ? r.peer.results : null;
  const peerOf = (name: string) => peer?.methods.find((p) => p.name === name && p.error === null);

  const stepSeries: BarSeries[] = [
    {
      name: "peftjs",
      values: methods.map((m) => m.training?.stepMs.median ?? null),
      ranges: methods.map((m) => (m.training === null ? null : [m.training.stepMs.p10, m.training.stepMs.p90])),
    },
  ];
  const memSeries: BarSeries[] = [{ name: "peftjs", values: methods.map((m) => m.training?.peakBytes ?? null) }];
  if (peer !== null) {
    stepSeries.push({
      name: peer.tool,
      values: methods.map((m) => peerOf(m.name)?.training.stepMs.median ?? null),
      ranges: methods.map((m) => {
        const p = peerOf(m.name);
        return p === undefined ? null : [p.training.stepMs.p10, p.training.stepMs.p90];
      }),
    });
    memSeries.push({ name: peer.tool, values: methods.map((m) => peerOf(m.name)?.training.peakBytes ?? null) });
  }
  const t = r.config.timing;
  const out = [
    barChart({ title: `Training step, batch ${t.batch} × ${t.seq} (median, p10–p90)`, unit: "ms", categories, series: stepSeries, format: formatMs }),
    barChart({ title: "Peak live-tensor memory of a training step", unit: "bytes", categories, series: memSeries, format: formatBytes }),
  ];
  const points = methods
    .filter((m) => m.quality !== null)
    .map((m) => ({ label: m.label, x: m.quality!.trainable.percent, y: 100 * m.quality!.heldOutAccuracy }));
  if (points.length > 0) {
    out.push(
      scatterChart({
        title: "Held-out accuracy vs trainable parameters",
        xLabel: "trainable parameters (% of the model, log scale)",
        yLabel: "held-out accuracy (%)",
        logX: true,
        points,
        formatX: (v) => formatPercent(v),
        formatY: (v) => `${v.toFixed(1)}%`,
      }),
    );
  }
  return out;
}

export function renderHtml(r: BenchResults): string {
  const prov = provenanceLines(r)
    .map(([k, v]) => `<dt>${escapeXml(k)}</dt><dd>${escapeXml(v)}</dd>`)
    .join("\n");
  const sections: string[] = [
    "<!doctype html>",
    '<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>peftjs benchmark — ${escapeXml(r.provenance.backend)} — ${escapeXml(r.createdAt)}</title>`,
    `<style>${CSS}</style></head><body>`,
    "<h1>peftjs benchmark</h1>",
    `<dl>${prov}</dl>`,
    `<h2>Charts</h2><div class="charts">${charts(r).join("\n")}</div>`,
    ...allTables(r).map(htmlTable),
  ];
  if (r.peer?.status === "unavailable") sections.push(`<h2>PyTorch + PEFT peer</h2><p>Peer unavailable: ${escapeXml(r.peer.reason)}</p>`);
  if (r.peer === null) sections.push("<h2>PyTorch + PEFT peer</h2><p>Not run (pass <code>--peer</code> on a host with python3, torch, transformers and peft).</p>");
  sections.push(`<h2>Adapter combination</h2><p>${escapeXml(r.combination?.note ?? COMBINATION_PLACEHOLDER)}</p>`);
  const failed = r.methods.filter((m) => m.error !== null);
  if (failed.length > 0) sections.push(`<h2>Errors</h2><ul>${failed.map((m) => `<li><b>${escapeXml(m.label)}</b>: ${escapeXml(m.error ?? "")}</li>`).join("")}</ul>`);
  if (r.notes.length > 0) sections.push(`<h2>Notes</h2><ul>${r.notes.map((n) => `<li>${escapeXml(n)}</li>`).join("")}</ul>`);
  sections.push("</body></html>", "");
  return sections.join("\n");
}

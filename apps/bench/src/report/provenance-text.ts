/** The "where and what ran" lines at the top of every report. */
import type { BenchResults } from "../results.js";
import { shapeText } from "./tables.js";

export function provenanceLines(r: BenchResults): [string, string][] {
  const p = r.provenance;
  const lines: [string, string][] = [
    ["date", r.createdAt],
    ["git", p.gitSha === null ? "unknown" : `${p.gitSha} (${p.gitShaSource})`],
    ["backend", p.backend],
  ];
  if (p.adapter !== null) {
    lines.push(["adapter", [p.adapter.vendor, p.adapter.architecture, p.adapter.device, p.adapter.description].filter((s) => s !== "").join(" / ")]);
  }
  if (p.gpu !== null) lines.push(["card", `${p.gpu.name}${p.gpu.driver === null ? "" : `, driver ${p.gpu.driver}`}${p.gpu.memoryMiB === null ? "" : `, ${p.gpu.memoryMiB} MiB`}`]);
  lines.push(
    ["host", `${p.cpu.count} × ${p.cpu.model}, ${p.platform}-${p.arch}, Node ${p.node}${p.bundled ? " (bundle)" : ""}`],
    ["packages", Object.entries(p.packages).map(([k, v]) => `${k} ${v}`).join(", ")],
    ["preset", `${r.config.preset}, seed ${r.config.seed}`],
    ["timing model", shapeText(r.config.timing.model)],
    ["quality model", shapeText(r.config.quality.model)],
    ["command", p.command.join(" ")],
    ["total time", `${r.totalSeconds.toFixed(1)} s`],
  );
  return lines;
}

/** Inline SVG charts for report.html: grouped horizontal bars (with optional p10–p90 whiskers) and a labelled scatter. No dependency. */

export function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

export const PALETTE = ["#3b6fd4", "#e0892b", "#3a9e6e", "#b5475a", "#7c5cc4", "#8a8a8a"];

export interface BarSeries {
  name: string;
  /** One value per category; null = no bar. */
  values: (number | null)[];
  /** Optional [low, high] per category, drawn as a whisker. */
  ranges?: ([number, number] | null)[];
}

export interface BarChartSpec {
  title: string;
  unit: string;
  categories: string[];
  series: BarSeries[];
  format: (v: number) => string;
}

const FONT = 'font-family="system-ui, sans-serif" font-size="12"';

export function barChart(spec: BarChartSpec): string {
  const labelW = 150;
  const plotW = 420;
  const valueW = 90;
  const barH = 14;
  const groupGap = 10;
  const top = 30;
  const legendH = spec.series.length > 1 ? 20 : 0;
  const groupH = spec.series.length * barH + groupGap;
  const height = top + legendH + spec.categories.length * groupH + 10;
  const width = labelW + plotW + valueW;
  const all = spec.series.flatMap((s) => [...s.values, ...(s.ranges ?? []).map((r) => (r === null ? null : r[1]))]).filter((v): v is number => v !== null && Number.isFinite(v));
  const max = all.length === 0 ? 1 : Math.max(...all) || 1;
  const x = (v: number): number => labelW + (Math.max(0, v) / max) * plotW;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeXml(spec.title)}">`,
    `<text x="0" y="16" ${FONT} font-weight="bold">${escapeXml(spec.title)} (${escapeXml(spec.unit)})</text>`,
  ];
  if (legendH > 0) {
    let lx = labelW;
    spec.series.forEach((s, i) => {
      parts.push(`<rect x="${lx}" y="${top - 2}" width="10" height="10" fill="${PALETTE[i % PALETTE.length]}"/>`);
      parts.push(`<text x="${lx + 14}" y="${top + 7}" ${FONT}>${escapeXml(s.name)}</text>`);
      lx += 20 + s.name.length * 7;
    });
  }
  spec.categories.forEach((cat, c) => {
    const gy = top + legendH + c * groupH;
    parts.push(`<text x="${labelW - 6}" y="${gy + (spec.series.length * barH) / 2 + 4}" ${FONT} text-anchor="end">${escapeXml(cat)}</text>`);
    spec.series.forEach((s, i) => {
      const v = s.values[c] ?? null;
      const y = gy + i * barH;
      if (v === null || !Number.isFinite(v)) {
        parts.push(`<text x="${labelW + 4}" y="${y + barH - 3}" ${FONT} fill="#888">n/a</text>`);
        return;
      }
      const color = PALETTE[i % PALETTE.length]!;
      parts.push(`<rect x="${labelW}" y="${y + 1}" width="${(x(v) - labelW).toFixed(1)}" height="${barH - 2}" fill="${color}"><title>${escapeXml(`${s.name} ${cat}: ${spec.format(v)} ${spec.unit}`)}</title></rect>`);
      const range = s.ranges?.[c] ?? null;
      if (range !== null) {
        const cy = y + barH / 2;
        parts.push(`<path d="M${x(range[0]).toFixed(1)} ${cy}H${x(range[1]).toFixed(1)}M${x(range[0]).toFixed(1)} ${cy - 4}v8M${x(range[1]).toFixed(1)} ${cy - 4}v8" stroke="#222" stroke-width="1"/>`);
      }
      const labelX = Math.max(x(v), range === null ? 0 : x(range[1])) + 4;
      parts.push(`<text x="${labelX.toFixed(1)}" y="${y + barH - 3}" ${FONT}>${escapeXml(spec.format(v))}</text>`);
    });
  });
  parts.push("</svg>");
  return parts.join("\n");
}

export interface ScatterPoint {
  label: string;
  x: number;
  y: number;
}

export interface ScatterSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Log-scale x (trainable % spans several decades). */
  logX: boolean;
  points: ScatterPoint[];
  formatX: (v: number) => string;
  formatY: (v: number) => string;
}

/** log10 positions of 1·10ᵏ, 2·10ᵏ, 5·10ᵏ inside [lo, hi] (log10 units); at most about eight. */
export function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let k = Math.floor(lo); k <= Math.ceil(hi); k++) {
    for (const m of [1, 2, 5]) {
      const v = k + Math.log10(m);
      if (v >= lo && v <= hi) out.push(v);
    }
  }
  return out.length > 8 ? out.filter((v) => Number.isInteger(Math.round(v * 1e9) / 1e9)) : out;
}

export function scatterChart(spec: ScatterSpec): string {
  const width = 660;
  const height = 320;
  const left = 60;
  const right = 20;
  const top = 30;
  const bottom = 45;
  const pts = spec.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y) && (!spec.logX || p.x > 0));
  const tx = (v: number): number => (spec.logX ? Math.log10(v) : v);
  const xs = pts.map((p) => tx(p.x));
  const ys = pts.map((p) => p.y);
  let [x0, x1] = xs.length === 0 ? [0, 1] : [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = ys.length === 0 ? [0, 1] : [Math.min(...ys), Math.max(...ys)];
  if (x1 - x0 < 1e-9) [x0, x1] = [x0 - 0.5, x1 + 0.5];
  if (y1 - y0 < 1e-9) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const padX = (x1 - x0) * 0.1;
  const padY = (y1 - y0) * 0.1;
  [x0, x1, y0, y1] = [x0 - padX, x1 + padX, y0 - padY, y1 + padY];
  const px = (v: number): number => left + ((tx(v) - x0) / (x1 - x0)) * (width - left - right);
  const py = (v: number): number => top + (1 - (v - y0) / (y1 - y0)) * (height - top - bottom);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeXml(spec.title)}">`,
    `<text x="0" y="16" ${FONT} font-weight="bold">${escapeXml(spec.title)}</text>`,
    `<rect x="${left}" y="${top}" width="${width - left - right}" height="${height - top - bottom}" fill="none" stroke="#bbb"/>`,
    `<text x="${(left + width - right) / 2}" y="${height - 8}" ${FONT} text-anchor="middle">${escapeXml(spec.xLabel)}</text>`,
    `<text x="14" y="${(top + height - bottom) / 2}" ${FONT} text-anchor="middle" transform="rotate(-90 14 ${(top + height - bottom) / 2})">${escapeXml(spec.yLabel)}</text>`,
  ];
  // x ticks: 1-2-5 steps on a log axis (0.1%, 0.2%, 0.5%, 1%, …), else five even ones.
  const xTicks = spec.logX ? logTicks(x0, x1) : Array.from({ length: 5 }, (_, i) => x0 + ((x1 - x0) * i) / 4);
  for (const xv of xTicks) {
    const xval = spec.logX ? Math.pow(10, xv) : xv;
    const X = left + ((xv - x0) / (x1 - x0)) * (width - left - right);
    parts.push(`<text x="${X.toFixed(1)}" y="${height - bottom + 15}" ${FONT} text-anchor="middle" fill="#555">${escapeXml(spec.formatX(xval))}</text>`);
    parts.push(`<path d="M${X.toFixed(1)} ${top}V${height - bottom}" stroke="#eee"/>`);
  }
  for (let i = 0; i <= 4; i++) {
    const yv = y0 + ((y1 - y0) * i) / 4;
    const Y = py(yv);
    parts.push(`<text x="${left - 4}" y="${(Y + 4).toFixed(1)}" ${FONT} text-anchor="end" fill="#555">${escapeXml(spec.formatY(yv))}</text>`);
    parts.push(`<path d="M${left} ${Y.toFixed(1)}H${width - right}" stroke="#eee"/>`);
  }
  const centres = pts.map((p) => ({ x: px(p.x), y: py(p.y) }));
  const labels = placeLabels(
    centres.map((c, i) => ({ ...c, text: pts[i]!.label })),
    { left, top, right: width - right, bottom: height - bottom },
  );
  pts.forEach((p, i) => {
    const color = PALETTE[i % PALETTE.length]!;
    const { x: X, y: Y } = centres[i]!;
    parts.push(`<circle cx="${X.toFixed(1)}" cy="${Y.toFixed(1)}" r="5" fill="${color}"><title>${escapeXml(`${p.label}: ${spec.formatX(p.x)}, ${spec.formatY(p.y)}`)}</title></circle>`);
  });
  labels.forEach((b, i) => {
    const { x: X, y: Y } = centres[i]!;
    // A label pushed away from its point gets a leader line, so it still reads as that point's.
    if (b.leader) parts.push(`<path d="M${X.toFixed(1)} ${Y.toFixed(1)}L${b.anchorX.toFixed(1)} ${(b.y + b.h / 2).toFixed(1)}" stroke="#888" stroke-width="0.75"/>`);
    parts.push(`<text x="${b.textX.toFixed(1)}" y="${(b.y + b.h - 3).toFixed(1)}" ${FONT} text-anchor="${b.anchor}">${escapeXml(pts[i]!.label)}</text>`);
  });
  parts.push("</svg>");
  return parts.join("\n");
}

/** A label's box in SVG units (y down), where its text is drawn, and whether it needs a leader line. */
export interface LabelBox {
  x: number;
  y: number;
  w: number;
  h: number;
  anchor: "start" | "end";
  textX: number;
  /** Where a leader line meets the box (its edge nearest the point). */
  anchorX: number;
  leader: boolean;
}

/** Width of `text` at the charts' 12px system-ui, a slight overestimate (so estimated boxes never undercount). */
export function textWidth(text: string): number {
  return 7.2 * [...text].length + 2;
}

const LABEL_H = 15;
const DOT_R = 5;

function overlaps(a: { x: number; y: number; w: number; h: number }, b: { x: number; y: number; w: number; h: number }): boolean {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

/**
 * Places one label per point so that no two labels overlap each other or any point's dot, inside `plot`:
 * greedy, in the points' order, trying the usual spots around the point first (right/left, above/below),
 * then the same spots stepped further up and down; a label that had to move away gets a leader line.
 */
export function placeLabels(points: readonly { x: number; y: number; text: string }[], plot: { left: number; top: number; right: number; bottom: number }): LabelBox[] {
  const dots = points.map((p) => ({ x: p.x - DOT_R - 1, y: p.y - DOT_R - 1, w: 2 * DOT_R + 2, h: 2 * DOT_R + 2 }));
  const placed: LabelBox[] = [];
  for (const p of points) {
    const w = textWidth(p.text);
    const candidates: LabelBox[] = [];
    for (let step = 0; step < 40; step++) {
      for (const dir of [-1, 1]) {
        // Above: the box ends just over the point; below: it starts just under it; each step one line further.
        const dy = dir < 0 ? -LABEL_H - 1 - step * (LABEL_H + 1) : 1 + step * (LABEL_H + 1);
        for (const side of ["start", "end"] as const) {
          const x = side === "start" ? p.x + 8 : p.x - 8 - w;
          const y = p.y + dy;
          candidates.push({ x, y, w, h: LABEL_H, anchor: side, textX: side === "start" ? x : x + w, anchorX: side === "start" ? x : x + w, leader: step > 0 });
        }
      }
    }
    const inside = (b: LabelBox): boolean => b.x >= plot.left + 2 && b.x + b.w <= plot.right - 2 && b.y >= plot.top + 1 && b.y + b.h <= plot.bottom - 1;
    const free = (b: LabelBox): boolean => !placed.some((o) => overlaps(b, o)) && !dots.some((d) => overlaps(b, d));
    const best = candidates.find((b) => inside(b) && free(b)) ?? candidates.find(free) ?? candidates[0]!;
    placed.push(best);
  }
  return placed;
}

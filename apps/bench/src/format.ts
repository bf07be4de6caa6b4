/** Number formatting shared by the console, Markdown and HTML reports. */

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[u]}`;
}

/** Milliseconds with about three significant digits. */
/** A duration with its unit: "139 ms", "2.52 s". */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "–";
  return ms >= 1000 ? formatMs(ms) : `${formatMs(ms)} ms`;
}

export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "–";
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  if (ms >= 1) return ms.toFixed(2);
  return ms.toFixed(3);
}

/** 124439808 → "124.4M", 294912 → "294.9K". */
export function formatCount(n: number | null | undefined): string {
  if (n === null || n === undefined) return "–";
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}

export function formatPercent(p: number | null | undefined): string {
  if (p === null || p === undefined) return "–";
  if (p >= 10) return `${p.toFixed(1)}%`;
  if (p >= 0.1) return `${p.toFixed(2)}%`;
  return `${p.toFixed(3)}%`;
}

export function formatFixed(v: number | null | undefined, digits: number): string {
  return v === null || v === undefined ? "–" : v.toFixed(digits);
}

/** ours / theirs as "1.23×"; "–" when either is missing. */
export function formatRatio(ours: number | null | undefined, theirs: number | null | undefined): string {
  if (ours === null || ours === undefined || theirs === null || theirs === undefined || theirs === 0) return "–";
  return `${(ours / theirs).toFixed(2)}×`;
}

export function formatTokensPerSecond(v: number | null | undefined): string {
  if (v === null || v === undefined) return "–";
  return v >= 1e4 ? `${(v / 1e3).toFixed(1)}K` : v.toFixed(0);
}

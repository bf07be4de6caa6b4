/**
 * Progress on stderr: a line per phase always. Inside a long phase, `"bars"` redraws a `\r` bar (the
 * default on a TTY); `"lines"` (the default when stderr is not a terminal: CI logs, `2> file`) writes a
 * plain progress line at most every `intervalMs` (10 s), so a slow phase is never silent for long;
 * `"off"` writes phase lines only.
 */
export type ProgressMode = "bars" | "lines" | "off";
export interface ProgressSink {
  write(s: string): void;
}

export class Progress {
  private barLabel: string | null = null;
  private total = 0;
  private done = 0;
  private lastDraw = 0;
  private readonly start: number;

  private readonly bars: boolean;
  private lastLine: number;

  constructor(
    private readonly mode: ProgressMode,
    private readonly out: ProgressSink = process.stderr,
    private readonly now: () => number = () => Date.now(),
    private readonly intervalMs = 10_000,
  ) {
    this.bars = mode === "bars";
    this.start = now();
    this.lastLine = this.start;
  }

  /** A phase line: "[  12.3s] quality · lora". */
  phase(text: string): void {
    this.clearBar();
    this.line(text);
  }

  private line(text: string): void {
    this.lastLine = this.now();
    this.out.write(`[${((this.lastLine - this.start) / 1000).toFixed(1).padStart(6)}s] ${text}\n`);
  }

  /** Starts a bar of `total` ticks (no output when bars are off). */
  begin(label: string, total: number): void {
    this.barLabel = label;
    this.total = Math.max(1, total);
    this.done = 0;
    this.lastDraw = 0;
    this.draw(true);
  }

  tick(n = 1, detail = ""): void {
    if (this.barLabel === null) return;
    this.done = Math.min(this.total, this.done + n);
    if (this.mode === "lines" && this.now() - this.lastLine >= this.intervalMs) {
      this.line(`  ${this.barLabel}: ${this.done}/${this.total}${detail === "" ? "" : ` ${detail}`}`);
    }
    this.draw(this.done === this.total, detail);
  }

  end(): void {
    this.clearBar();
    this.barLabel = null;
  }

  private draw(force: boolean, detail = ""): void {
    if (!this.bars || this.barLabel === null) return;
    const t = this.now();
    if (!force && t - this.lastDraw < 100) return;
    this.lastDraw = t;
    this.out.write(`\r${renderBar(this.barLabel, this.done, this.total, detail)}\x1b[K`);
  }

  private clearBar(): void {
    if (this.bars && this.barLabel !== null) this.out.write("\r\x1b[K");
  }
}

/** "label [██████░░░░░░] 12/40 detail". */
export function renderBar(label: string, done: number, total: number, detail = "", width = 24): string {
  const filled = Math.round((done / Math.max(1, total)) * width);
  return `${label} [${"█".repeat(filled)}${"░".repeat(width - filled)}] ${done}/${total}${detail === "" ? "" : ` ${detail}`}`;
}

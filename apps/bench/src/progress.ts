/**
 * Progress on stderr: a line per phase always; a redrawn `\r` bar for long phases only when bars are
 * enabled (by default when stderr is a TTY), so logs and CI output stay one line per phase.
 */
export interface ProgressSink {
  write(s: string): void;
}

export class Progress {
  private barLabel: string | null = null;
  private total = 0;
  private done = 0;
  private lastDraw = 0;
  private readonly start: number;

  constructor(
    private readonly bars: boolean,
    private readonly out: ProgressSink = process.stderr,
    private readonly now: () => number = () => Date.now(),
  ) {
    this.start = now();
  }

  /** A phase line: "[  12.3s] quality · lora". */
  phase(text: string): void {
    this.clearBar();
    this.out.write(`[${((this.now() - this.start) / 1000).toFixed(1).padStart(6)}s] ${text}\n`);
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

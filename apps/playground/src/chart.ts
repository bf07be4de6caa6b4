/** The live loss chart: a canvas line of loss per step, redrawn after every step (no chart library). */
export class LossChart {
  private readonly ctx: CanvasRenderingContext2D;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private totalSteps: number,
  ) {
    const ctx = canvas.getContext("2d");
    if (ctx === null) throw new Error("This browser cannot draw on a 2D canvas.");
    this.ctx = ctx;
    this.draw([]);
  }

  reset(totalSteps: number): void {
    this.totalSteps = totalSteps;
    this.draw([]);
  }

  draw(losses: readonly number[]): void {
    const { ctx, canvas } = this;
    const w = canvas.width;
    const h = canvas.height;
    const pad = { left: 44, right: 12, top: 12, bottom: 26 };
    ctx.clearRect(0, 0, w, h);
    ctx.fillStyle = "#fbfbfd";
    ctx.fillRect(0, 0, w, h);
    ctx.strokeStyle = "#c8c8d0";
    ctx.strokeRect(pad.left, pad.top, w - pad.left - pad.right, h - pad.top - pad.bottom);
    ctx.fillStyle = "#555";
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillText("step", w - pad.right - 24, h - 8);
    if (losses.length === 0) {
      ctx.fillText("loss (per step) appears here while training", pad.left + 8, pad.top + 18);
      return;
    }
    const lo = Math.min(...losses);
    const hi = Math.max(...losses);
    const span = hi - lo || 1;
    const x = (i: number): number => pad.left + ((w - pad.left - pad.right) * i) / Math.max(1, this.totalSteps - 1);
    const y = (v: number): number => pad.top + ((h - pad.top - pad.bottom) * (hi - v)) / span;
    ctx.fillText(hi.toFixed(2), 4, pad.top + 8);
    ctx.fillText(lo.toFixed(2), 4, h - pad.bottom);
    ctx.fillText(`0`, pad.left, h - 8);
    ctx.fillText(`${this.totalSteps}`, w - pad.right - 56, h - 8);
    ctx.strokeStyle = "#3b5bdb";
    ctx.lineWidth = 2;
    ctx.beginPath();
    losses.forEach((v, i) => (i === 0 ? ctx.moveTo(x(i), y(v)) : ctx.lineTo(x(i), y(v))));
    ctx.stroke();
    ctx.fillStyle = "#3b5bdb";
    for (let i = 0; i < losses.length; i++) ctx.fillRect(x(i) - 1.5, y(losses[i]!) - 1.5, 3, 3);
  }
}

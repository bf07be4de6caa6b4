import { describe, it, expect } from "vitest";
import { Progress, renderBar } from "./progress.js";

function sink() {
  const chunks: string[] = [];
  return { chunks, write: (s: string) => void chunks.push(s) };
}

describe("progress", () => {
  it("renders a bar proportional to the work done", () => {
    expect(renderBar("x", 1, 4, "", 8)).toBe("x [██░░░░░░] 1/4");
    expect(renderBar("x", 4, 4, "done", 4)).toBe("x [████] 4/4 done");
  });

  it("off (--no-progress) writes phase lines only", () => {
    const out = sink();
    let t = 0;
    const p = new Progress("off", out, () => t);
    p.begin("train", 3);
    p.tick();
    t = 1500;
    p.phase("quality · LoRA");
    p.end();
    expect(out.chunks).toEqual(["[   1.5s] quality · LoRA\n"]);
  });

  it("with bars redraws in place and clears before a phase line", () => {
    const out = sink();
    let t = 0;
    const p = new Progress("bars", out, () => t);
    p.begin("train", 2);
    t = 200;
    p.tick(1, "loss 1.0");
    p.phase("next");
    expect(out.chunks[0]).toMatch(/^\rtrain \[░+\] 0\/2/);
    expect(out.chunks[1]).toMatch(/^\rtrain \[█+░+\] 1\/2 loss 1\.0/);
    expect(out.chunks[2]).toBe("\r\x1b[K");
    expect(out.chunks[3]).toMatch(/next\n$/);
  });

  it("lines (stderr not a TTY) adds a progress line at most every interval inside a long phase", () => {
    const out = sink();
    let t = 0;
    const p = new Progress("lines", out, () => t, 10_000);
    p.phase("quality · LoRA");
    p.begin("quality · LoRA", 100);
    for (let i = 1; i <= 100; i++) {
      t = i * 350; // 35 s in all
      p.tick(1, `loss ${(2 - i / 100).toFixed(2)}`);
    }
    p.end();
    expect(out.chunks).toEqual([
      "[   0.0s] quality · LoRA\n",
      // 29 × 0.35 s is the first tick 10 s after the phase line; then 10 s after each progress line.
      "[  10.2s]   quality · LoRA: 29/100 loss 1.71\n",
      "[  20.3s]   quality · LoRA: 58/100 loss 1.42\n",
      "[  30.4s]   quality · LoRA: 87/100 loss 1.13\n",
    ]);
    expect(out.chunks.join("")).not.toMatch(/\r/);
  });
});

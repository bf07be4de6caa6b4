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

  it("without bars (no TTY) writes phase lines only", () => {
    const out = sink();
    let t = 0;
    const p = new Progress(false, out, () => t);
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
    const p = new Progress(true, out, () => t);
    p.begin("train", 2);
    t = 200;
    p.tick(1, "loss 1.0");
    p.phase("next");
    expect(out.chunks[0]).toMatch(/^\rtrain \[░+\] 0\/2/);
    expect(out.chunks[1]).toMatch(/^\rtrain \[█+░+\] 1\/2 loss 1\.0/);
    expect(out.chunks[2]).toBe("\r\x1b[K");
    expect(out.chunks[3]).toMatch(/next\n$/);
  });
});

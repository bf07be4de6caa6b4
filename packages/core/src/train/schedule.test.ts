import { describe, expect, it } from "vitest";
import { constantScheduleWithWarmup, cosineScheduleWithWarmup, linearScheduleWithWarmup, lrSchedule } from "./schedule.js";

// Values worked out by hand from transformers' optimization.py (warm-up 4, 20 steps in all).
describe("learning-rate schedules", () => {
  it("linear: up over the warm-up from 0, then down to 0 at the last step", () => {
    const f = linearScheduleWithWarmup(4, 20);
    const expected: [number, number][] = [
      [0, 0], [1, 0.25], [2, 0.5], [3, 0.75], [4, 1], [5, 15 / 16], [12, 0.5], [19, 1 / 16], [20, 0], [25, 0],
    ];
    for (const [step, factor] of expected) expect(f(step)).toBeCloseTo(factor, 12);
    expect(lrSchedule("linear", { warmupSteps: 4, totalSteps: 20 })(12)).toBeCloseTo(0.5, 12);
  });

  it("linear without warm-up starts at the full rate", () => {
    const f = linearScheduleWithWarmup(0, 10);
    expect(f(0)).toBe(1);
    expect(f(3)).toBeCloseTo(0.7, 12);
    expect(f(10)).toBe(0);
  });

  it("cosine: half a wave from the peak to 0 by default, numCycles waves otherwise", () => {
    const f = cosineScheduleWithWarmup(4, 20);
    expect(f(0)).toBe(0);
    expect(f(2)).toBeCloseTo(0.5, 12);
    expect(f(4)).toBeCloseTo(1, 12);
    expect(f(8)).toBeCloseTo(0.5 * (1 + Math.cos(Math.PI * 0.25)), 12); // progress 1/4
    expect(f(12)).toBeCloseTo(0.5, 12); // progress 1/2
    expect(f(20)).toBeCloseTo(0, 12);
    const two = cosineScheduleWithWarmup(0, 8, 1); // one full wave: back to the peak at the end
    expect(two(4)).toBeCloseTo(0, 12);
    expect(two(8)).toBeCloseTo(1, 12);
    expect(two(2)).toBeCloseTo(0.5, 12);
    expect(lrSchedule("cosine", { totalSteps: 8, numCycles: 1 })(2)).toBeCloseTo(0.5, 12);
  });

  it("constant: warm-up then 1", () => {
    const f = constantScheduleWithWarmup(4);
    expect([0, 1, 3, 4, 100].map(f)).toEqual([0, 0.25, 0.75, 1, 1]);
    expect(constantScheduleWithWarmup()(0)).toBe(1);
    expect(lrSchedule("constant", { totalSteps: 5 })(0)).toBe(1);
  });

  it("rejects bad step counts and kinds", () => {
    expect(() => linearScheduleWithWarmup(-1, 10)).toThrow(/warmupSteps must be an integer >= 0/);
    expect(() => linearScheduleWithWarmup(2, 0)).toThrow(/totalSteps must be an integer > 0/);
    expect(() => cosineScheduleWithWarmup(0, 10, Number.NaN)).toThrow(/numCycles/);
    expect(() => lrSchedule("step" as never, { totalSteps: 3 })).toThrow(/unknown schedule "step"/);
  });
});

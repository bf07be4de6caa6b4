import { describe, it, expect } from "vitest";
import type { TASK_NAMES} from "./synthetic.js";
import { BOS, EOS, SEP, encodeExample, makeSyntheticDataset, symbolToken, syntheticVocabSize, taskToken } from "./synthetic.js";
import { IGNORE_INDEX, scoredPositions } from "./example.js";

const options = {
  numSymbols: 10,
  length: 6,
  sourceTasks: ["copy", "shift", "sort"] as ("copy" | "shift" | "sort")[],
  targetTask: "reverse" as const,
  sourceSize: 60,
  trainSize: 40,
  heldOutSize: 20,
  seed: 7,
};

function decodeSymbols(ids: Int32Array, from: number, n: number): number[] {
  return Array.from(ids.slice(from, from + n), (t) => t - symbolToken(0));
}

describe("synthetic task", () => {
  it("encodes BOS TASK x SEP f(x) EOS with labels on the answer only", () => {
    const ex = encodeExample("reverse", [3, 1, 4], 10);
    expect(Array.from(ex.inputIds)).toEqual([BOS, taskToken("reverse"), symbolToken(3), symbolToken(1), symbolToken(4), SEP, symbolToken(4), symbolToken(1), symbolToken(3), EOS]);
    expect(Array.from(ex.labels)).toEqual([-100, -100, -100, -100, -100, -100, symbolToken(4), symbolToken(1), symbolToken(3), EOS]);
    expect(scoredPositions(ex)).toBe(4);
  });

  it("computes each task's answer (checked by an independent rule)", () => {
    const x = [7, 2, 9, 2];
    const answer = (task: (typeof TASK_NAMES)[number]) => decodeSymbols(encodeExample(task, x, 10).inputIds, x.length + 3, x.length);
    expect(answer("copy")).toEqual([7, 2, 9, 2]);
    expect(answer("reverse")).toEqual([2, 9, 2, 7]);
    expect(answer("shift")).toEqual([8, 3, 0, 3]);
    expect(answer("sort")).toEqual([2, 2, 7, 9]);
    expect(answer("reverse-shift")).toEqual([3, 0, 3, 8]);
  });

  it("makes deterministic splits of the right sizes, target held-out disjoint from train", () => {
    const a = makeSyntheticDataset(options);
    const b = makeSyntheticDataset(options);
    expect(a.train.map((e) => Array.from(e.inputIds))).toEqual(b.train.map((e) => Array.from(e.inputIds)));
    expect([a.source.length, a.train.length, a.heldOut.length]).toEqual([60, 40, 20]);
    expect(a.seqLen).toBe(2 * 6 + 4);
    expect(a.vocabSize).toBe(syntheticVocabSize(10));
    const key = (e: { inputIds: Int32Array }) => Array.from(e.inputIds.slice(2, 8)).join(",");
    const trainKeys = new Set(a.train.map(key));
    expect(a.heldOut.some((e) => trainKeys.has(key(e)))).toBe(false);
    expect(new Set(a.heldOut.map(key)).size).toBe(20);
    // Every target example uses the target's task token; the source never does.
    expect(a.train.every((e) => e.inputIds[1] === taskToken("reverse"))).toBe(true);
    expect(a.source.some((e) => e.inputIds[1] === taskToken("reverse"))).toBe(false);
    // All ids inside the vocabulary, labels either ignored or equal to the id.
    for (const e of [...a.source, ...a.train, ...a.heldOut]) {
      for (let t = 0; t < e.inputIds.length; t++) {
        expect(e.inputIds[t]).toBeLessThan(a.vocabSize);
        expect([IGNORE_INDEX, e.inputIds[t]]).toContain(e.labels[t]);
      }
    }
    const other = makeSyntheticDataset({ ...options, seed: 8 });
    expect(other.train.map(key)).not.toEqual(a.train.map(key));
  });

  it("rejects a target that is also a source task, unknown tasks and impossible sizes", () => {
    expect(() => makeSyntheticDataset({ ...options, sourceTasks: ["copy", "reverse"] as never })).toThrow(/must not be a source task/);
    expect(() => makeSyntheticDataset({ ...options, targetTask: "nope" as never })).toThrow(/unknown task "nope"/);
    expect(() => makeSyntheticDataset({ ...options, numSymbols: 2, length: 3, trainSize: 10 })).toThrow(/distinct inputs/);
  });
});

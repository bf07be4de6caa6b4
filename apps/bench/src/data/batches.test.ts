import { describe, it, expect } from "vitest";
import { batchStream, evalBatches, randomTokenBatch, stack } from "./batches.js";
import type { Example } from "./example.js";

const ex = (v: number, len = 3): Example => ({ inputIds: new Int32Array(len).fill(v), labels: new Int32Array(len).fill(-100) });

describe("batches", () => {
  it("stacks examples row-major", () => {
    const b = stack([ex(1), ex(2)]);
    expect([b.batch, b.seq]).toEqual([2, 3]);
    expect(Array.from(b.inputIds)).toEqual([1, 1, 1, 2, 2, 2]);
    expect(() => stack([ex(1), ex(2, 4)])).toThrow(/length 4, expected 3/);
  });

  it("streams every example once per epoch, same order for the same seed", () => {
    const data = [0, 1, 2, 3, 4, 5].map((v) => ex(v));
    const next = batchStream(data, 3, 11);
    const firstEpoch = [...next().inputIds, ...next().inputIds].filter((_, i) => i % 3 === 0).sort();
    expect(firstEpoch).toEqual([0, 1, 2, 3, 4, 5]);
    const a = batchStream(data, 4, 5);
    const b = batchStream(data, 4, 5);
    for (let i = 0; i < 5; i++) expect(Array.from(a().inputIds)).toEqual(Array.from(b().inputIds));
  });

  it("evaluation batches cover every example once, last batch smaller", () => {
    const batches = evalBatches([0, 1, 2, 3, 4].map((v) => ex(v)), 2);
    expect(batches.map((b) => b.batch)).toEqual([2, 2, 1]);
  });

  it("random token batches stay inside the vocabulary and score every position", () => {
    const b = randomTokenBatch(7, 2, 5, 1);
    expect(b.inputIds.every((t) => t >= 0 && t < 7)).toBe(true);
    expect(Array.from(b.labels)).toEqual(Array.from(b.inputIds));
  });
});

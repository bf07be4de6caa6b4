import { describe, it, expect } from "vitest";
import { byteTokenizer, localDatasetFromText, parseLocalRecords, recordsToExamples } from "./local.js";

describe("local dataset", () => {
  it("packs text into windows of seqLen byte tokens, EOS between documents", () => {
    const tok = byteTokenizer();
    const ex = recordsToExamples([{ text: "abc" }, { text: "de" }], tok, 3);
    // stream: a b c EOS d e EOS → two full windows
    expect(ex.map((e) => Array.from(e.inputIds))).toEqual([
      [97, 98, 99],
      [256, 100, 101],
    ]);
    expect(Array.from(ex[0]!.labels)).toEqual([97, 98, 99]);
  });

  it("prompt/completion pairs score the completion and EOS only", () => {
    const tok = byteTokenizer();
    const [e] = recordsToExamples([{ prompt: "ab", completion: "c" }], tok, 6);
    expect(Array.from(e!.inputIds)).toEqual([97, 98, 99, 256, 256, 256]);
    expect(Array.from(e!.labels)).toEqual([-100, -100, 99, 256, -100, -100]);
  });

  it("parses .jsonl records and names the bad line", () => {
    expect(parseLocalRecords("d.jsonl", '{"text":"x"}\n\n{"prompt":"p","completion":"c"}\n')).toEqual([{ text: "x" }, { prompt: "p", completion: "c" }]);
    expect(() => parseLocalRecords("d.jsonl", '{"text":"x"}\n{oops}')).toThrow(/line 2 is not JSON/);
    expect(() => parseLocalRecords("d.jsonl", '{"title":"x"}')).toThrow(/line 1 needs a string "text"/);
    expect(() => parseLocalRecords("d.csv", "a,b")).toThrow(/\.txt or \.jsonl/);
  });

  it("splits 10% held-out and, without a checkpoint, half of the rest for pre-training", () => {
    const text = "x".repeat(4 * 100);
    const o = { path: "t.txt", seqLen: 4, tokenizer: byteTokenizer(), seed: 1, pretrainedBase: false };
    const d = localDatasetFromText(o, text);
    // 401 tokens (text + EOS) → 100 windows → 10 held-out, 45 source, 45 train
    expect([d.heldOut.length, d.source.length, d.train.length]).toEqual([10, 45, 45]);
    const p = localDatasetFromText({ ...o, pretrainedBase: true }, text);
    expect([p.heldOut.length, p.source.length, p.train.length]).toEqual([10, 0, 90]);
    expect(() => localDatasetFromText(o, "xy")).toThrow(/example\(s\) of 4 tokens/);
  });
});

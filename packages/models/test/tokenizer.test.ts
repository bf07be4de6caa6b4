/**
 * Tokenizers trained with the Rust `tokenizers` library (scripts/make_fixtures.py: a byte-level BPE and a
 * BERT WordPiece) load from their folders and give the Rust library's ids, tokens and decoded text.
 */
import { mkdtempSync, rmSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadTokenizer } from "../src/index.js";
import { fixture } from "./helpers.js";
import { readFileSync } from "node:fs";

interface TokenizerCase {
  text: string;
  ids: number[];
  tokens: string[];
  decoded: string;
}

function cases(dir: string): TokenizerCase[] {
  return (JSON.parse(readFileSync(join(dir, "expected.json"), "utf8")) as { cases: TokenizerCase[] }).cases;
}

describe.each(["tokenizer", "tokenizer_wordpiece"])("%s fixture", (name) => {
  it("encodes and decodes as the Rust tokenizers library does", async () => {
    const dir = fixture(name);
    const tok = await loadTokenizer(dir);
    const all = cases(dir);
    expect(all.length).toBeGreaterThan(3);
    for (const c of all) {
      const e = tok.encodeFull(c.text);
      expect(e.ids, c.text).toEqual(c.ids);
      expect(e.tokens, c.text).toEqual(c.tokens);
      expect(tok.decode(c.ids), c.text).toEqual(c.decoded);
    }
  });
});

describe("tokenizer folders", () => {
  it("reads special tokens from tokenizer_config.json", async () => {
    const bpe = await loadTokenizer(fixture("tokenizer"));
    expect(bpe.eosTokenId).toBe(bpe.tokenToId("<|endoftext|>"));
    expect(bpe.padTokenId).toBeUndefined();
    const wp = await loadTokenizer(fixture("tokenizer_wordpiece"));
    expect(wp.padTokenId).toBe(wp.tokenToId("[PAD]"));
    expect(wp.idToToken(wp.tokenToId("[CLS]")!)).toBe("[CLS]");
    expect(wp.vocabSize).toBeGreaterThan(100);
  });

  it("pads and truncates batches (right for BERT, left for generation; GPT-2 style pads with eos)", async () => {
    const wp = await loadTokenizer(fixture("tokenizer_wordpiece"));
    const pad = wp.padTokenId!;
    const long = wp.encode("LoRA adapters are tiny.");
    const short = wp.encode("Hello world");
    const b = wp.encodeBatch(["LoRA adapters are tiny.", "Hello world"]);
    expect(b.inputIds).toEqual([long, [...short, ...new Array<number>(long.length - short.length).fill(pad)]]);
    expect(b.attentionMask[1]).toEqual([...short.map(() => 1), ...new Array<number>(long.length - short.length).fill(0)]);
    expect(b.tokenTypeIds?.[0]).toEqual(long.map(() => 0));
    const cut = wp.encodeBatch(["LoRA adapters are tiny.", "Hello world"], { maxLength: 5, padding: "max_length" });
    expect(cut.inputIds).toEqual([long.slice(0, 5), [...short, pad]]);

    const bpe = await loadTokenizer(fixture("tokenizer"));
    const left = bpe.encodeBatch(["Hello world", "Hi"], { paddingSide: "left" });
    const hi = bpe.encode("Hi");
    const width = bpe.encode("Hello world").length;
    expect(left.inputIds[1]).toEqual([...new Array<number>(width - hi.length).fill(bpe.eosTokenId!), ...hi]);
    expect(left.attentionMask[1]).toEqual([...new Array<number>(width - hi.length).fill(0), ...hi.map(() => 1)]);
  });

  it("works without tokenizer_config.json and names a missing tokenizer.json", async () => {
    const tmp = mkdtempSync(join(tmpdir(), "peftjs-tok-"));
    try {
      await expect(loadTokenizer(tmp)).rejects.toThrow(/tokenizer\.json" not found/);
      copyFileSync(join(fixture("tokenizer"), "tokenizer.json"), join(tmp, "tokenizer.json"));
      const tok = await loadTokenizer(tmp);
      const c = cases(fixture("tokenizer"))[0]!;
      expect(tok.encode(c.text)).toEqual(c.ids);
      expect(tok.eosTokenId).toBeUndefined();
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

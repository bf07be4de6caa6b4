/**
 * peftjs's safetensors reader against the reference reader (safetensors 0.8, Rust) on a table of hostile and
 * unusual headers. The verdicts were recorded by scripts/make_header_cases.py from the Python package (which
 * calls the Rust `SafeTensors::deserialize`) into test/fixtures/safetensors/header_cases.json; this test
 * reads that file, so it needs no Python. Every case must agree, except those listed in DELIBERATE_DIFFERENCES
 * (documented in safetensors.ts's doc comment).
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

import { SafetensorsError, parseSafetensors } from "./safetensors.js";

interface HeaderCase {
  name: string;
  header: string;
  data_len: number;
  verdict: "accept" | "refuse";
  tensors?: Record<string, { dtype: string; shape: number[] }>;
  error?: string;
}

const fixture = JSON.parse(
  readFileSync(fileURLToPath(new URL("../../test/fixtures/safetensors/header_cases.json", import.meta.url)), "utf8"),
) as { made_with: string; cases: HeaderCase[] };

/** Cases where peftjs refuses what Rust accepts, on purpose (see the reader's doc comment). */
const DELIBERATE_DIFFERENCES: Record<string, "refuse"> = {
  // A dimension above 2^53 − 1 cannot be held exactly in a JS number (nor by tfjs); Rust accepts it when
  // another dimension is 0 (an empty tensor).
  "dimension above 2^53 with a zero dimension": "refuse",
};

function fileOf(c: HeaderCase): Uint8Array {
  // The header may hold lone surrogates as \u escapes only (the JSON text itself is ASCII/UTF-8 clean).
  const header = new TextEncoder().encode(c.header);
  const out = new Uint8Array(8 + header.length + c.data_len);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  return out;
}

const TORCH_TO_TFJS: Record<string, string> = { float32: "float32", int32: "int32" };

describe(`safetensors header validation matches the reference reader (${fixture.made_with})`, () => {
  it("the table covers the issue's cases", () => {
    const names = fixture.cases.map((c) => c.name);
    for (const needed of ["duplicate dtype field", "duplicate __metadata__", "float in data_offsets (0.0, 4.0)", "float in shape (1e0)", "lone leading surrogate in a tensor name", "nesting depth 128 (in an unknown field)"]) {
      expect(names).toContain(needed);
    }
    expect(fixture.cases.length).toBeGreaterThan(40);
  });

  for (const c of fixture.cases) {
    const expected = DELIBERATE_DIFFERENCES[c.name] ?? c.verdict;
    it(`${c.name}: ${expected}${expected !== c.verdict ? ` (Rust: ${c.verdict}, a deliberate difference)` : ""}`, () => {
      const bytes = fileOf(c);
      if (expected === "refuse") {
        let error: unknown;
        try {
          const result = parseSafetensors(bytes);
          for (const t of result.tensors.values()) t.dispose();
        } catch (e) {
          error = e;
        }
        expect(error, `Rust refuses: ${c.error ?? ""}`).toBeInstanceOf(SafetensorsError);
        return;
      }
      const result = parseSafetensors(bytes);
      try {
        const got = Object.fromEntries([...result.tensors].map(([name, t]) => [name, { dtype: t.dtype, shape: t.shape }]));
        const want = Object.fromEntries(Object.entries(c.tensors ?? {}).map(([name, t]) => [name, { dtype: TORCH_TO_TFJS[t.dtype], shape: t.shape }]));
        expect(got).toEqual(want);
      } finally {
        for (const t of result.tensors.values()) t.dispose();
      }
    });
  }
});

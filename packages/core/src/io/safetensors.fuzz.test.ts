/**
 * Property tests: corrupted safetensors files either fail with a SafetensorsError that has a message, or parse
 * to exactly what an independent reading of the same bytes says — never another exception, a hang or a
 * wrong tensor. The reference reading below is written from the format description with DataView and
 * JSON.parse; it trusts the header (the property only consults it when the library accepted the file).
 */
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { tf } from "../tf.js";
import { SafetensorsError, parseSafetensors } from "./safetensors.js";
import type { SafetensorsContents } from "./safetensors.js";
import { buildFile, concat, le64 } from "./__tests__/build.js";
import { SIZE, referenceValues } from "./__tests__/reference.js";

/** Checks an accepted file's result against the reference reading of its bytes. */
function expectMatchesReference(bytes: Uint8Array, result: SafetensorsContents): void {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, unknown>;
  const { __metadata__: metadata, ...entries } = header;
  expect(result.metadata).toEqual(metadata ?? {});
  expect(new Set(result.tensors.keys())).toEqual(new Set(Object.keys(entries)));
  for (const [name, raw] of Object.entries(entries)) {
    const entry = raw as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const tensor = result.tensors.get(name)!;
    expect(tensor.shape).toEqual(entry.shape);
    expect(tensor.dtype).toBe(entry.dtype === "BOOL" ? "bool" : ["F32", "F16", "BF16", "F64"].includes(entry.dtype) ? "float32" : "int32");
    const expected = referenceValues(entry.dtype, bytes.subarray(8 + n + entry.data_offsets[0], 8 + n + entry.data_offsets[1]));
    const actual = Array.from(tensor.dataSync() as ArrayLike<number>);
    // Object.is tells -0 from 0; NaN equals NaN.
    const wrong = expected.flatMap((x, i) => (Object.is(x, actual[i]) || (Number.isNaN(x) && Number.isNaN(actual[i])) ? [] : [`${name}[${i}]: ${actual[i]} ≠ ${x}`]));
    expect(wrong).toEqual([]);
    expect(actual.length).toBe(expected.length);
  }
}

/** "error" for a clean SafetensorsError, "ok" for a parse that matches the reference; anything else fails. */
function outcome(bytes: Uint8Array): "error" | "ok" {
  let result: SafetensorsContents;
  try {
    result = parseSafetensors(bytes);
  } catch (error) {
    if (!(error instanceof SafetensorsError)) throw new Error(`expected a SafetensorsError, got ${String(error)}`, { cause: error });
    expect(error.message.length).toBeGreaterThan(20);
    return "error";
  }
  try {
    expectMatchesReference(bytes, result);
  } finally {
    for (const t of result.tensors.values()) t.dispose();
  }
  return "ok";
}

interface TensorSpec {
  name: string;
  dtype: string;
  shape: number[];
  data: Uint8Array;
}

const tensorSpec: fc.Arbitrary<TensorSpec> = fc
  .record({
    name: fc.oneof(fc.constantFrom("w", "bias", "h.0.attn.c_attn.weight", "0", "__proto__", "é"), fc.string({ maxLength: 6 })),
    dtype: fc.constantFrom(...Object.keys(SIZE)),
    shape: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }),
  })
  .filter((t) => t.name !== "__metadata__")
  .chain((t) => {
    const count = t.shape.reduce((a, b) => a * b, 1);
    // I64 values stay in int32 range so that a valid file is always readable.
    const data =
      t.dtype === "I64"
        ? fc.array(fc.integer(), { minLength: count, maxLength: count }).map((v) => {
            const out = new Uint8Array(8 * count);
            v.forEach((x, i) => new DataView(out.buffer).setBigInt64(8 * i, BigInt(x), true));
            return out;
          })
        : fc.uint8Array({ minLength: count * (SIZE[t.dtype] as number), maxLength: count * (SIZE[t.dtype] as number) });
    return data.map((d) => ({ ...t, data: d }));
  });

/** A valid file built by hand: tensors laid out in the given order, header entries shuffled, random padding. */
const validFile: fc.Arbitrary<Uint8Array> = fc
  .record({
    tensors: fc.uniqueArray(tensorSpec, { maxLength: 4, selector: (t) => t.name }),
    metadata: fc.option(fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }), { nil: undefined }),
    padding: fc.integer({ min: 0, max: 9 }),
    seed: fc.integer(),
  })
  .map(({ tensors, metadata, padding, seed }) => {
    const entries: [string, unknown][] = [];
    let offset = 0;
    for (const t of tensors) {
      entries.push([t.name, { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] }]);
      offset += t.data.length;
    }
    if (metadata !== undefined) entries.push(["__metadata__", metadata]);
    // Shuffle the header entries: readers must sort by offsets, not trust the order.
    entries.sort((a, b) => (hash(a[0], seed) - hash(b[0], seed)) || 0);
    const text = `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(",")}}` + " ".repeat(padding);
    const data = new Uint8Array(offset);
    let at = 0;
    for (const t of tensors) {
      data.set(t.data, at);
      at += t.data.length;
    }
    return buildFile(text, data);
  });

function hash(s: string, seed: number): number {
  let h = seed | 0;
  for (const c of s) h = Math.imul(h ^ c.codePointAt(0)!, 16777619);
  return h;
}

function headerEnd(bytes: Uint8Array): number {
  return 8 + Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
}

let baseline = 0;
beforeEach(() => {
  baseline = tf.memory().numTensors;
});
afterEach(() => {
  expect(tf.memory().numTensors).toBe(baseline);
});

describe("safetensors reader under corruption (fast-check)", () => {
  const runs = { numRuns: 150, seed: 20240601 };

  it("parses every valid hand-built file to the reference values", () => {
    fc.assert(
      fc.property(validFile, (bytes) => {
        expect(outcome(bytes)).toBe("ok");
      }),
      runs,
    );
  });

  it("refuses every truncation of a valid file", () => {
    fc.assert(
      fc.property(validFile, (bytes) => {
        for (let length = 0; length < bytes.length; length++) expect(outcome(bytes.slice(0, length))).toBe("error");
      }),
      { numRuns: 40, seed: 3 },
    );
  });

  it("either refuses or reads correctly a file with random bytes of its header replaced", () => {
    fc.assert(
      fc.property(validFile, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (bytes, flips) => {
        const end = headerEnd(bytes);
        const mutated = bytes.slice();
        for (const [position, value] of flips) mutated[position % end] = value;
        outcome(mutated);
      }),
      { numRuns: 400, seed: 5 },
    );
  });

  it("reads a file with random data bytes to the reference values (only an I64 out of int32 may be refused)", () => {
    fc.assert(
      fc.property(validFile, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (bytes, flips) => {
        const end = headerEnd(bytes);
        if (end === bytes.length) return;
        const mutated = bytes.slice();
        for (const [position, value] of flips) mutated[end + (position % (bytes.length - end))] = value;
        if (outcome(mutated) === "error") expect(() => parseSafetensors(mutated)).toThrow(/\(I64\) element \d+ is .* outside the int32 range/);
      }),
      runs,
    );
  });

  it("refuses any header length that does not match the file", () => {
    fc.assert(
      fc.property(validFile, fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (bytes, declared) => {
        const mutated = bytes.slice();
        new DataView(mutated.buffer).setBigUint64(0, declared, true);
        const result = outcome(mutated);
        if (declared !== BigInt(headerEnd(bytes) - 8)) expect(result).toBe("error");
      }),
      runs,
    );
  });

  it("either refuses or reads correctly headers with arbitrary shapes and offsets (overlaps, gaps, out of range)", () => {
    const entry = fc.record({
      dtype: fc.oneof(fc.constantFrom(...Object.keys(SIZE)), fc.constantFrom("F99", "", "f32", "C64", "F8_E5M2", "toString")),
      shape: fc.oneof(fc.array(fc.integer({ min: -1, max: 4 }), { maxLength: 3 }), fc.constant([2 ** 53, 2]), fc.constant([0.5])),
      data_offsets: fc.oneof(fc.tuple(fc.integer({ min: -2, max: 40 }), fc.integer({ min: -2, max: 40 })), fc.constant([0, 2 ** 60]), fc.array(fc.nat(40), { maxLength: 3 })),
    });
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom("a", "b", "c", "d"), entry, { maxKeys: 4 }), fc.integer({ min: 0, max: 48 }), (header, dataLength) => {
        outcome(buildFile(header, new Uint8Array(dataLength).map((_, i) => i * 37)));
      }),
      { numRuns: 600, seed: 9 },
    );
  });

  it("either refuses or reads correctly arbitrary JSON and text as a header", () => {
    fc.assert(
      fc.property(fc.oneof(fc.json({ maxDepth: 3 }), fc.string({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 })), fc.integer({ min: 0, max: 16 }), (header, dataLength) => {
        const headerBytes = typeof header === "string" ? new TextEncoder().encode(header) : header; // raw bytes: often not UTF-8
        outcome(concat(le64([BigInt(headerBytes.length)]), headerBytes, new Uint8Array(dataLength)));
      }),
      runs,
    );
  });

  it("refuses hostile nesting without overflowing the stack", () => {
    const deep = "[".repeat(200_000) + "]".repeat(200_000);
    expect(outcome(buildFile(deep))).toBe("error");
    expect(outcome(buildFile(`{"a":{"dtype":"F32","shape":${deep},"data_offsets":[0,0]}}`))).toBe("error");
    expect(outcome(buildFile(`{"__metadata__":{"k":${deep}}}`))).toBe("error");
    expect(outcome(buildFile(`{"a":{"dtype":${deep},"shape":[],"data_offsets":[0,4]}}`, new Uint8Array(4)))).toBe("error");
  });
});

/**
 * Interop with the reference Python library: files written by `safetensors.torch.save_file` (made by
 * packages/core/scripts/make_safetensors_fixture.py) are read to the values torch holds, and our writer
 * produces the same header entries, order and data bytes as Python for the same tensors — which checks our
 * F16/BF16 rounding against torch's casts, ties, overflow and subnormals included (NaN bit patterns aside).
 */
import { existsSync } from "node:fs";
import * as fs from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { tf } from "../tf.js";
import type { Tensor } from "../tf.js";
import { SafetensorsError, serializeSafetensors } from "./safetensors.js";
import type { SafetensorsWriteDtype } from "./safetensors.js";
import { readSafetensors, readSafetensorsHeader } from "./safetensors-file.js";

const FIXTURES = fileURLToPath(new URL("../../test/fixtures/safetensors/", import.meta.url));
const FILE = `${FIXTURES}python_written.safetensors`;
const EXPECTED = `${FIXTURES}python_written.json`;
const OUT_OF_RANGE = `${FIXTURES}python_i64_out_of_range.safetensors`;

type JsonNumber = number | "nan" | "inf" | "-inf";
interface Expected {
  metadata: Record<string, string>;
  tensors: Record<string, { dtype: SafetensorsWriteDtype; shape: number[]; values: JsonNumber[]; source?: JsonNumber[] }>;
}

function requireFixtures(): void {
  const missing = [FILE, EXPECTED, OUT_OF_RANGE].filter((f) => !existsSync(f));
  if (missing.length > 0) {
    throw new Error(
      `Python-written safetensors fixture missing: ${missing.join(", ")}. Generate it where torch and safetensors are ` +
        `installed: python3 packages/core/scripts/make_safetensors_fixture.py packages/core/test/fixtures/safetensors`,
    );
  }
}

async function loadExpected(): Promise<Expected> {
  requireFixtures();
  return JSON.parse(await fs.readFile(EXPECTED, "utf8")) as Expected;
}

const toNumber = (x: JsonNumber): number => (x === "nan" ? NaN : x === "inf" ? Infinity : x === "-inf" ? -Infinity : x);
const tfDtype = (dtype: SafetensorsWriteDtype): string => (dtype === "BOOL" ? "bool" : ["F32", "F16", "BF16"].includes(dtype) ? "float32" : "int32");

/** The header JSON, key order and data section of a file, split by hand. */
function split(bytes: Uint8Array): { header: Record<string, unknown>; keys: string[]; headerLength: number; data: Uint8Array } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, unknown>;
  return { header, keys: Object.keys(header).filter((k) => k !== "__metadata__"), headerLength: n, data: bytes.subarray(8 + n) };
}

/**
 * Elements whose bytes differ between two data sections laid out by `header`, except NaN vs NaN: NaN bit
 * patterns are not data, and torch itself is not consistent (its vectorized x86 float→bf16 cast writes 0xFFFF,
 * its scalar c10::BFloat16 path 0x7FC0, which we write).
 */
function differingElements(header: Record<string, unknown>, ours: Uint8Array, theirs: Uint8Array): string[] {
  const size: Record<string, number> = { F32: 4, F16: 2, BF16: 2, I32: 4, I64: 8, U8: 1, BOOL: 1 };
  const isNaNBits = (dtype: string, bytes: Uint8Array): boolean => {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (dtype === "F32") return Number.isNaN(view.getFloat32(0, true));
    const bits = view.getUint16(0, true);
    if (dtype === "F16") return (bits & 0x7c00) === 0x7c00 && (bits & 0x3ff) !== 0;
    if (dtype === "BF16") return (bits & 0x7f80) === 0x7f80 && (bits & 0x7f) !== 0;
    return false;
  };
  const out: string[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const { dtype, data_offsets: [begin, end] } = raw as { dtype: string; data_offsets: [number, number] };
    const step = size[dtype]!;
    for (let at = begin; at < end; at += step) {
      const a = ours.subarray(at, at + step);
      const b = theirs.subarray(at, at + step);
      if (Buffer.compare(a, b) !== 0 && !(isNaNBits(dtype, a) && isNaNBits(dtype, b))) {
        out.push(`${name}[${(at - begin) / step}]: ours ${Buffer.from(a).toString("hex")}, Python ${Buffer.from(b).toString("hex")}`);
      }
    }
  }
  return out;
}

let baseline = 0;
beforeEach(() => {
  baseline = tf.memory().numTensors;
});
afterEach(() => {
  expect(tf.memory().numTensors).toBe(baseline);
});

describe("files written by Python safetensors", () => {
  it("reads every dtype to the values torch holds", async () => {
    const expected = await loadExpected();
    const header = await readSafetensorsHeader(FILE);
    const { tensors, metadata } = await readSafetensors(FILE);
    try {
      expect(metadata).toEqual(expected.metadata);
      expect(new Set(tensors.keys())).toEqual(new Set(Object.keys(expected.tensors)));
      for (const [name, want] of Object.entries(expected.tensors)) {
        const tensor = tensors.get(name)!;
        expect(header.tensors.get(name)!.dtype, name).toBe(want.dtype);
        expect([tensor.dtype, tensor.shape], name).toEqual([tfDtype(want.dtype), want.shape]);
        const actual = Array.from(tensor.dataSync() as ArrayLike<number>);
        const values = want.values.map(toNumber);
        const wrong = values.flatMap((v, i) => (Object.is(v, actual[i]) || (Number.isNaN(v) && Number.isNaN(actual[i])) ? [] : [`${name}[${i}]: ${actual[i]} ≠ ${v}`]));
        expect(wrong).toEqual([]);
        expect(actual.length).toBe(values.length);
      }
    } finally {
      for (const t of tensors.values()) t.dispose();
    }
  });

  it("writes the same header entries, order and data bytes as Python for the same tensors", async () => {
    const expected = await loadExpected();
    const tensors: Record<string, Tensor> = {};
    const dtypes: Record<string, SafetensorsWriteDtype> = {};
    for (const [name, want] of Object.entries(expected.tensors)) {
      // F16/BF16 start from the float32 values torch rounded, so our rounding is compared with torch's.
      const values = (want.source ?? want.values).map(toNumber);
      const dtype = tfDtype(want.dtype) as "float32" | "int32" | "bool";
      tensors[name] = tf.tensor(dtype === "bool" ? values.map((v) => v !== 0) : values, want.shape, dtype);
      dtypes[name] = want.dtype;
    }
    try {
      const ours = split(serializeSafetensors(tensors, { dtypes, metadata: expected.metadata }));
      const theirs = split(await fs.readFile(FILE));
      expect(ours.header).toEqual(theirs.header);
      expect(ours.keys).toEqual(theirs.keys); // same data order: by dtype alignment, then name
      expect(ours.headerLength).toBe(theirs.headerLength); // same padding
      expect(ours.data.length).toBe(theirs.data.length);
      expect(differingElements(theirs.header, ours.data, theirs.data)).toEqual([]);
    } finally {
      for (const t of Object.values(tensors)) t.dispose();
    }
  });

  it("refuses an I64 value outside int32 with an error naming the tensor and the value", async () => {
    requireFixtures();
    await expect(readSafetensors(OUT_OF_RANGE)).rejects.toThrow(SafetensorsError);
    await expect(readSafetensors(OUT_OF_RANGE)).rejects.toThrow(/tensor "big" \(I64\) element 1 is 2147483648, outside the int32 range/);
  });
});

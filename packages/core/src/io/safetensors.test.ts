import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { tf } from "../tf.js";
import type { Tensor } from "../tf.js";
import { SafetensorsError, parseSafetensors, serializeSafetensors } from "./safetensors.js";
import type { SafetensorsWriteDtype } from "./safetensors.js";
import { buildFile, concat, le, le64 } from "./__tests__/build.js";
import { BF16, F16, roundToHalf } from "./__tests__/reference.js";

let baseline = 0;
beforeEach(() => {
  baseline = tf.memory().numTensors;
});
afterEach(() => {
  // Every test disposes what it made: nothing may be left behind by the reader or the writer.
  expect(tf.memory().numTensors).toBe(baseline);
});

function disposeAll(tensors: Map<string, Tensor>): void {
  for (const t of tensors.values()) t.dispose();
}

/** Element-wise equality that distinguishes -0 from 0 and treats NaN as equal to NaN. */
function expectSameValues(actual: ArrayLike<number>, expected: readonly number[], label: string): void {
  expect(actual.length, label).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    if (!(Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e)))) {
      throw new Error(`${label}[${i}]: got ${Object.is(a, -0) ? "-0" : a}, expected ${Object.is(e, -0) ? "-0" : e}`);
    }
  }
}

/** The header JSON and data section of a file, decoded by hand. */
function splitFile(bytes: Uint8Array): { headerText: string; header: Record<string, unknown>; data: Uint8Array } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const headerText = new TextDecoder().decode(bytes.subarray(8, 8 + n));
  return { headerText, header: JSON.parse(headerText) as Record<string, unknown>, data: bytes.subarray(8 + n) };
}

describe("parseSafetensors on a hand-built file", () => {
  it("reads every dtype, in any header order, with metadata", () => {
    // Data section laid out by hand; the header lists the entries out of offset order on purpose.
    const w = le("f32", [1, -2.5, 0.1, 1e30]); // 0..16
    const ids = le64([-1n, 2147483647n, -2147483648n]); // 16..40
    const half = le("u16", [0x3c00, 0xc000, 0x0001, 0x7c00]); // 40..48: 1, -2, 2^-24, inf
    const brain = le("u16", [0x3f80, 0xbf40, 0x7f80]); // 48..54: 1, -0.75, inf
    const mask = le("u8", [1, 0, 1]); // 54..57
    const bytes = le("u8", [0, 255]); // 57..59
    const scalar = le("i32", [-7]); // 59..63
    const data = concat(w, ids, half, brain, mask, bytes, scalar);
    const header =
      `{"mask":{"dtype":"BOOL","shape":[3],"data_offsets":[54,57]},` +
      `"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},` +
      `"__metadata__":{"format":"pt","1":"one"},` +
      `"ids":{"dtype":"I64","shape":[3,1],"data_offsets":[16,40]},` +
      `"h":{"dtype":"F16","shape":[4],"data_offsets":[40,48]},` +
      `"b":{"dtype":"BF16","shape":[1,3],"data_offsets":[48,54]},` +
      `"u":{"dtype":"U8","shape":[2],"data_offsets":[57,59]},` +
      `"s":{"dtype":"I32","shape":[],"data_offsets":[59,63]},` +
      `"e":{"dtype":"F32","shape":[0,5],"data_offsets":[63,63]}}   `; // trailing spaces, like padding
    const { tensors, metadata } = parseSafetensors(buildFile(header, data));

    expect(metadata).toEqual({ format: "pt", "1": "one" });
    expect([...tensors.keys()]).toEqual(["w", "ids", "h", "b", "mask", "u", "s", "e"]); // file (offset) order
    const get = (name: string): Tensor => tensors.get(name)!;
    expect([get("w").dtype, get("w").shape]).toEqual(["float32", [2, 2]]);
    expectSameValues(get("w").dataSync(), [1, -2.5, Math.fround(0.1), Math.fround(1e30)], "w");
    expect([get("ids").dtype, get("ids").shape]).toEqual(["int32", [3, 1]]);
    expectSameValues(get("ids").dataSync(), [-1, 2147483647, -2147483648], "ids");
    expectSameValues(get("h").dataSync(), [1, -2, 2 ** -24, Infinity], "h");
    expect(get("b").shape).toEqual([1, 3]);
    expectSameValues(get("b").dataSync(), [1, -0.75, Infinity], "b");
    expect(get("mask").dtype).toBe("bool");
    expectSameValues(get("mask").dataSync(), [1, 0, 1], "mask");
    expect(get("u").dtype).toBe("int32");
    expectSameValues(get("u").dataSync(), [0, 255], "u");
    expect([get("s").shape, get("s").dataSync()[0]]).toEqual([[], -7]);
    expect([get("e").shape, get("e").size]).toEqual([[0, 5], 0]);
    disposeAll(tensors);
  });

  it("reads F64 (rounded to float32) and the narrow integer types into int32", () => {
    const data = concat(le("f64", [1 / 3, -1e300]), le("i8", [-128, 127]), le("i16", [-32768, 32767]), le("u16", [65535]), le("u32", [2147483647]));
    const header = {
      d: { dtype: "F64", shape: [2], data_offsets: [0, 16] },
      a: { dtype: "I8", shape: [2], data_offsets: [16, 18] },
      b: { dtype: "I16", shape: [2], data_offsets: [18, 22] },
      c: { dtype: "U16", shape: [1], data_offsets: [22, 24] },
      e: { dtype: "U32", shape: [1], data_offsets: [24, 28] },
    };
    const { tensors } = parseSafetensors(buildFile(header, data));
    expectSameValues(tensors.get("d")!.dataSync(), [Math.fround(1 / 3), -Infinity], "d");
    expectSameValues(tensors.get("a")!.dataSync(), [-128, 127], "a");
    expectSameValues(tensors.get("b")!.dataSync(), [-32768, 32767], "b");
    expectSameValues(tensors.get("c")!.dataSync(), [65535], "c");
    expectSameValues(tensors.get("e")!.dataSync(), [2147483647], "e");
    disposeAll(tensors);
  });

  it("reads a Node Buffer that is a view into a shared pool (non-zero byteOffset)", () => {
    const file = buildFile({ w: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, i: { dtype: "I32", shape: [1], data_offsets: [8, 12] } }, concat(le("f32", [1.25, -3]), le("i32", [9])));
    const pooled = Buffer.from(file); // small Buffers are slices of one shared ArrayBuffer
    const { tensors } = parseSafetensors(pooled.byteOffset > 0 ? pooled : concat(new Uint8Array(3), file).subarray(3));
    expectSameValues(tensors.get("w")!.dataSync(), [1.25, -3], "w");
    expectSameValues(tensors.get("i")!.dataSync(), [9], "i");
    disposeAll(tensors);
  });

  it("reads only the tensors asked for, and names the available ones for an unknown name", () => {
    const file = buildFile({ a: { dtype: "F32", shape: [1], data_offsets: [0, 4] }, b: { dtype: "I32", shape: [1], data_offsets: [4, 8] } }, le("i32", [1, 2]));
    const { tensors } = parseSafetensors(file, { names: ["b"] });
    expect([...tensors.keys()]).toEqual(["b"]);
    disposeAll(tensors);
    expect(() => parseSafetensors(file, { names: ["c"] })).toThrow(/no tensor named "c"; the file holds "a", "b"/);
  });
});

describe("serializeSafetensors → parseSafetensors round trip", () => {
  // Values that exercise rounding in every float format; float32 first (what a tfjs tensor holds).
  const floats = [1 / 3, -1 / 3, 65504, 65519, 65520, 1e-8, 6e-8, 3e-5, 2049, 2051, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 3.4e38, -0, Infinity, -Infinity, NaN, 0.1];

  it.each<[SafetensorsWriteDtype, (x: number) => number]>([
    ["F32", (x) => Math.fround(x)],
    ["F16", (x) => roundToHalf(F16, Math.fround(x))],
    ["BF16", (x) => roundToHalf(BF16, Math.fround(x))],
  ])("float32 stored as %s comes back as the float64 expectation", (dtype, expected) => {
    const t = tf.tensor(floats, [3, 6]);
    const bytes = serializeSafetensors({ x: t }, { dtypes: { x: dtype } });
    expect((splitFile(bytes).header.x as { dtype: string }).dtype).toBe(dtype);
    const { tensors } = parseSafetensors(bytes);
    const back = tensors.get("x")!;
    expect([back.dtype, back.shape]).toEqual(["float32", [3, 6]]);
    expectSameValues(back.dataSync(), floats.map(expected), dtype);
    disposeAll(tensors);
    t.dispose();
  });

  it("stores int32 as I32 / I64 / U8 and bool as BOOL / U8", () => {
    const ints = tf.tensor([-2147483648, -1, 0, 2147483647], [2, 2], "int32");
    const small = tf.tensor([0, 7, 255], [3], "int32");
    const mask = tf.tensor([true, false, true], [3], "bool");
    const bytes = serializeSafetensors(
      { i32: ints, i64: ints, u8: small, bool: mask, boolAsU8: mask },
      { dtypes: { i64: "I64", u8: "U8", boolAsU8: "U8" } },
    );
    const { header, data } = splitFile(bytes);
    // The I64 bytes are the sign-extended 64-bit integers, checked against BigInt encoding.
    const [b, e] = (header.i64 as { data_offsets: [number, number] }).data_offsets;
    expect([...data.subarray(b, e)]).toEqual([...le64([-2147483648n, -1n, 0n, 2147483647n])]);

    const { tensors } = parseSafetensors(bytes);
    expectSameValues(tensors.get("i32")!.dataSync(), [-2147483648, -1, 0, 2147483647], "i32");
    expectSameValues(tensors.get("i64")!.dataSync(), [-2147483648, -1, 0, 2147483647], "i64");
    expectSameValues(tensors.get("u8")!.dataSync(), [0, 7, 255], "u8");
    expect(tensors.get("bool")!.dtype).toBe("bool");
    expectSameValues(tensors.get("bool")!.dataSync(), [1, 0, 1], "bool");
    expect(tensors.get("boolAsU8")!.dtype).toBe("int32");
    disposeAll(tensors);
    ints.dispose();
    small.dispose();
    mask.dispose();
  });

  it("floatDtype stores every float tensor in that dtype unless dtypes says otherwise", () => {
    const a = tf.tensor([1 / 3]);
    const b = tf.tensor([1 / 3]);
    const { header } = splitFile(serializeSafetensors({ a, b }, { floatDtype: "BF16", dtypes: { b: "F32" } }));
    expect([(header.a as { dtype: string }).dtype, (header.b as { dtype: string }).dtype]).toEqual(["BF16", "F32"]);
    a.dispose();
    b.dispose();
  });

  it("writes the reference layout: sorted by dtype alignment then name, contiguous, padded to 8 with spaces", () => {
    const t = {
      zeta: tf.tensor([1, 2, 3]),
      alpha: tf.tensor([1, 2, 3]),
      mask: tf.tensor([true], [1], "bool"),
      ids: tf.tensor([1, 2], [2], "int32"),
      "10": tf.tensor([5]),
      scalar: tf.scalar(2),
      empty: tf.zeros([0, 2]),
    };
    const bytes = serializeSafetensors(t, { dtypes: { ids: "I64" }, metadata: { b: "2", a: "1" } });
    const { headerText, data } = splitFile(bytes);
    const n = headerText.length;
    expect(n % 8).toBe(0);
    expect(headerText).toBe(headerText.trimEnd() + " ".repeat(n - headerText.trimEnd().length));
    // Order in the text: metadata (sorted keys), then I64 > F32 > BOOL, names sorted within a dtype.
    expect(headerText.trimEnd()).toBe(
      `{"__metadata__":{"a":"1","b":"2"},` +
        `"ids":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},` +
        `"10":{"dtype":"F32","shape":[1],"data_offsets":[16,20]},` +
        `"alpha":{"dtype":"F32","shape":[3],"data_offsets":[20,32]},` +
        `"empty":{"dtype":"F32","shape":[0,2],"data_offsets":[32,32]},` +
        `"scalar":{"dtype":"F32","shape":[],"data_offsets":[32,36]},` +
        `"zeta":{"dtype":"F32","shape":[3],"data_offsets":[36,48]},` +
        `"mask":{"dtype":"BOOL","shape":[1],"data_offsets":[48,49]}}`,
    );
    expect(data.length).toBe(49);
    expect([...data.subarray(20, 32)]).toEqual([...le("f32", [1, 2, 3])]);
    for (const x of Object.values(t)) x.dispose();
  });

  it("round-trips metadata, including integer-like keys, unicode and empty strings", () => {
    const metadata = { format: "pt", "0": "zero", "ключ": "значение ✓", empty: "" };
    const x = tf.tensor([1]);
    const { tensors, metadata: back } = parseSafetensors(serializeSafetensors({ x }, { metadata }));
    expect(back).toEqual(metadata);
    disposeAll(tensors);
    x.dispose();
    const { tensors: none, metadata: noMeta } = parseSafetensors(serializeSafetensors({}));
    expect([none.size, noMeta]).toEqual([0, {}]);
  });

  it("refuses impossible writes with a clear error", () => {
    const f = tf.tensor([1.5]);
    const big = tf.tensor([1, 300], [2], "int32");
    const s = tf.tensor(["a"]);
    const gone = tf.tensor([1]);
    gone.dispose();
    const cases: [() => unknown, RegExp][] = [
      [() => serializeSafetensors({ f }, { dtypes: { f: "I32" } }), /"f" has tfjs dtype float32; it can be stored as F32, F16, BF16, not I32/],
      [() => serializeSafetensors({ big }, { dtypes: { big: "U8" } }), /"big": element 1 is 300, outside U8's range/],
      [() => serializeSafetensors({ s }), /tfjs dtype string, which safetensors cannot store/],
      [() => serializeSafetensors({ __metadata__: f }), /"__metadata__" is reserved/],
      [() => serializeSafetensors({ f }, { dtypes: { g: "F16" } }), /options.dtypes names "g", which is not among the tensors/],
      [() => serializeSafetensors({ gone }), /"gone" is disposed/],
      [() => serializeSafetensors({ x: [1, 2] as unknown as Tensor }), /"x" is not a tf.Tensor/],
      [() => serializeSafetensors({ f }, { metadata: { n: 1 as unknown as string } }), /metadata value for "n" must be a string/],
    ];
    for (const [fn, message] of cases) {
      expect(fn).toThrow(SafetensorsError);
      expect(fn).toThrow(message);
    }
    f.dispose();
    big.dispose();
    s.dispose();
  });
});

describe("parseSafetensors refuses malformed files with a clear error", () => {
  const ok = { a: { dtype: "F32", shape: [2], data_offsets: [0, 8] } };
  const eight = new Uint8Array(8);
  const cases: [string, Uint8Array, RegExp][] = [
    ["shorter than 8 bytes", new Uint8Array(7), /7 bytes long; a safetensors file starts with an 8-byte/],
    ["header length over 100 MB", buildFile("{}", new Uint8Array(0), 100_000_001n), /100000001 bytes, over the 100 MB limit/],
    ["header length near 2^64", buildFile("{}", new Uint8Array(0), 2n ** 64n - 1n), /over the 100 MB limit/],
    ["header length past the end", buildFile("{}", new Uint8Array(0), 64n), /says 64 bytes but only 2 bytes follow it; the file is truncated/],
    ["header not UTF-8", concat(le64([2n]), new Uint8Array([0xc3, 0x28])), /not valid UTF-8/],
    ["header not JSON", buildFile('{"a": '), /not valid JSON/],
    ["header with a byte-order mark", buildFile("\uFEFF{}"), /not valid JSON/],
    ["header an array", buildFile("[1, 2]"), /must be a JSON object .* got an array/],
    ["header null", buildFile("null"), /must be a JSON object .* got null/],
    ["empty header", buildFile(""), /not valid JSON/],
    ["entry not an object", buildFile({ a: 3 }), /tensor "a": the header entry must be an object/],
    ["entry missing fields", buildFile({ a: { dtype: "F32" } }, eight), /tensor "a": the header entry lacks shape, data_offsets/],
    ["dtype not a string", buildFile({ a: { dtype: 4, shape: [2], data_offsets: [0, 8] } }, eight), /tensor "a": "dtype" must be a string/],
    ["unknown dtype", buildFile({ a: { dtype: "F99", shape: [2], data_offsets: [0, 8] } }, eight), /tensor "a": unknown dtype "F99"/],
    ["sub-byte dtype", buildFile({ a: { dtype: "F4", shape: [2], data_offsets: [0, 1] } }, new Uint8Array(1)), /tensor "a": dtype F4 \(sub-byte\) is not supported/],
    ["negative dim", buildFile({ a: { dtype: "F32", shape: [-2], data_offsets: [0, 8] } }, eight), /tensor "a": "shape" must be an array of non-negative integers, got \[-2\]/],
    ["fractional dim", buildFile({ a: { dtype: "F32", shape: [1.5], data_offsets: [0, 8] } }, eight), /tensor "a": "shape" holds 1.5, a number written as a float/],
    ["shape not an array", buildFile({ a: { dtype: "F32", shape: "2", data_offsets: [0, 8] } }, eight), /tensor "a": "shape" must be/],
    ["offsets of wrong arity", buildFile({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8, 9] } }, eight), /tensor "a": "data_offsets" must be \[begin, end\]/],
    ["offsets reversed", buildFile({ a: { dtype: "F32", shape: [0], data_offsets: [8, 0] } }, eight), /tensor "a": data_offsets \[8, 0\] end before they begin/],
    ["byte length ≠ prod(shape)·itemsize", buildFile({ a: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, eight), /tensor "a": dtype F32 with shape \[3\] needs 12 bytes but data_offsets \[0, 8\] span 8/],
    ["element count overflow", buildFile({ a: { dtype: "F32", shape: [2 ** 40, 2 ** 40], data_offsets: [0, 8] } }, eight), /tensor "a": shape .* has too many elements/],
    ["offsets past the data", buildFile({ a: { dtype: "F32", shape: [4], data_offsets: [0, 16] } }, eight), /tensor "a": data_offsets \[0, 16\] run past the end of the data section \(8 bytes\)/],
    ["overlapping tensors", buildFile({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, b: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, eight), /tensor "b" \(data_offsets \[4, 8\]\) overlaps tensor "a"/],
    ["identical ranges", buildFile({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, b: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }, eight), /overlaps/],
    ["a gap between tensors", buildFile({ a: { dtype: "F32", shape: [1], data_offsets: [0, 4] }, b: { dtype: "U8", shape: [2], data_offsets: [6, 8] } }, eight), /tensor "b" starts at data byte 6 but the previous tensor "a" ends at 4; .* without gaps/],
    ["data not starting at 0", buildFile({ a: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, eight), /tensor "a" starts at data byte 4 but the data section starts at 0/],
    ["trailing bytes", buildFile(ok, new Uint8Array(12)), /tensors cover 8 bytes of data but the file holds 12 after the header/],
    ["metadata not an object", buildFile({ __metadata__: "x" }), /"__metadata__" must be an object of string values, got string "x"/],
    ["metadata value not a string", buildFile({ __metadata__: { k: 1 } }), /"__metadata__" value for key "k" must be a string, got number 1/],
    ["I64 value outside int32", buildFile({ big: { dtype: "I64", shape: [2], data_offsets: [0, 16] } }, le64([1n, 2n ** 31n])), /tensor "big" \(I64\) element 1 is 2147483648, outside the int32 range/],
    ["negative I64 outside int32", buildFile({ big: { dtype: "I64", shape: [1], data_offsets: [0, 8] } }, le64([-(2n ** 31n) - 1n])), /element 0 is -2147483649, outside the int32 range/],
    ["U64 value outside int32", buildFile({ u: { dtype: "U64", shape: [1], data_offsets: [0, 8] } }, le64([2n ** 64n - 1n], false)), /tensor "u" \(U64\) element 0 is 18446744073709551615/],
    ["U32 value outside int32", buildFile({ u: { dtype: "U32", shape: [1], data_offsets: [0, 4] } }, le("u32", [2 ** 31])), /tensor "u" \(U32\) element 0 is 2147483648/],
    ["dtype tfjs cannot hold", buildFile({ q: { dtype: "F8_E4M3", shape: [2], data_offsets: [0, 2] } }, new Uint8Array(2)), /tensor "q" has dtype F8_E4M3, which peftjs cannot read/],
  ];

  it.each(cases)("%s", (_label, bytes, message) => {
    expect(() => parseSafetensors(bytes)).toThrow(SafetensorsError);
    expect(() => parseSafetensors(bytes)).toThrow(message);
  });

  it("disposes the tensors it already made when a later one fails", () => {
    const file = buildFile(
      { a: { dtype: "F32", shape: [1], data_offsets: [0, 4] }, z: { dtype: "I64", shape: [1], data_offsets: [4, 12] } },
      concat(le("f32", [1]), le64([2n ** 40n])),
    );
    expect(() => parseSafetensors(file)).toThrow(/tensor "z"/);
    // afterEach checks that numTensors is back at its baseline.
  });

  it("accepts what the reference accepts: null metadata, unknown extra fields, empty tensors sharing an offset", () => {
    const file = buildFile(
      {
        __metadata__: null,
        e1: { dtype: "F32", shape: [0], data_offsets: [0, 0] },
        a: { dtype: "F32", shape: [1], data_offsets: [0, 4], extra: "ignored" },
        e2: { dtype: "I64", shape: [3, 0], data_offsets: [4, 4] },
      },
      le("f32", [2]),
    );
    const { tensors, metadata } = parseSafetensors(file);
    expect(metadata).toEqual({});
    expect([...tensors.keys()]).toEqual(["e1", "a", "e2"]);
    expect(tensors.get("e2")!.shape).toEqual([3, 0]);
    disposeAll(tensors);
  });
});

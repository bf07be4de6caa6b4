/**
 * The hostile-file corpus generator (issue 18): seeded mutations of valid safetensors files and adapter
 * configs, and the oracle a read is checked with. Used by the bounded CI run (corpus.fuzz.test.ts, ≥ 2,000
 * cases) and the long run (scripts/fuzz.ts, any count). No vitest here: the oracle throws plain Errors.
 *
 * A mutation either keeps the header length consistent with the mutated header (so that the header
 * validation is reached, not just the length check) or corrupts the raw bytes. Mutations that inject
 * something the reference reader (safetensors 0.8, Rust) refuses — a repeated dtype/shape/data_offsets field
 * or __metadata__, a float in an integer field, a lone surrogate, nesting 128 deep — are marked `mustRefuse`
 * (header_cases.json records Rust's verdict on each kind).
 */
import { SafetensorsError, parseSafetensors } from "../safetensors.js";
import type { SafetensorsContents } from "../safetensors.js";
import { SIZE, referenceValues } from "./reference.js";

export interface Corrupted {
  readonly label: string;
  readonly bytes: Uint8Array;
  /** The reference reader refuses this file whatever else it holds. */
  readonly mustRefuse: boolean;
}

/** mulberry32: a small seeded generator (uniform in [0, 1)). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}


/** A valid file: 1–4 tensors of random dtype/shape/bytes, optional metadata, header padded randomly. */
export function randomValidFile(random: () => number): Uint8Array {
  const dtypes = Object.keys(SIZE);
  const n = 1 + Math.floor(random() * 4);
  const entries: string[] = [];
  const data: number[] = [];
  for (let t = 0; t < n; t++) {
    const dtype = dtypes[Math.floor(random() * dtypes.length)] as string;
    const shape = Array.from({ length: Math.floor(random() * 3) }, () => 1 + Math.floor(random() * 3));
    const count = shape.reduce((a, b) => a * b, 1);
    const begin = data.length;
    for (let i = 0; i < count; i++) {
      if (dtype === "I64") {
        const v = Math.floor(random() * 2000) - 1000; // in int32, so the file is readable
        for (let k = 0; k < 8; k++) data.push(k < 4 ? (v >>> (8 * k)) & 0xff : v < 0 ? 0xff : 0);
      } else {
        for (let k = 0; k < (SIZE[dtype] as number); k++) data.push(Math.floor(random() * 256));
      }
    }
    entries.push(`${JSON.stringify(["w", "bias", "h.0.attn.c_attn.weight", "__proto__", "é", "0"][t % 6]! + t)}:{"dtype":"${dtype}","shape":${JSON.stringify(shape)},"data_offsets":[${begin},${data.length}]}`);
  }
  if (random() < 0.5) entries.push(`"__metadata__":{"format":"pt"}`);
  entries.sort(() => random() - 0.5);
  return fileFrom(`{${entries.join(",")}}`, Uint8Array.from(data), Math.floor(random() * 8));
}

/** 8-byte length + header text (+ padding spaces) + data. */
export function fileFrom(header: string, data: Uint8Array, padding = 0): Uint8Array {
  const json = new TextEncoder().encode(header + " ".repeat(padding));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function split(bytes: Uint8Array): { header: string; data: Uint8Array } | null {
  if (bytes.length < 8) return null;
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  if (8 + n > bytes.length) return null;
  return { header: new TextDecoder().decode(bytes.subarray(8, 8 + n)), data: bytes.subarray(8 + n) };
}

type Mutation = (bytes: Uint8Array, random: () => number) => Corrupted;
const pick = <T>(random: () => number, items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;

/** Rewrites the header text (keeping its length field right). */
function textual(label: string, mustRefuse: boolean, edit: (header: string, random: () => number) => string | null): Mutation {
  return (bytes, random) => {
    const parts = split(bytes);
    if (parts === null) return { label, bytes, mustRefuse: false };
    const { header, data } = parts;
    const edited = edit(header, random);
    return { label, bytes: edited === null ? bytes : fileFrom(edited, data), mustRefuse: mustRefuse && edited !== null };
  };
}

/** A regexp match of `re` in `text`, picked at random, replaced by `replace(match)`; null if none. */
function replaceOne(text: string, re: RegExp, random: () => number, replace: (m: RegExpExecArray) => string): string | null {
  const matches = [...text.matchAll(new RegExp(re.source, "g"))];
  if (matches.length === 0) return null;
  const m = pick<RegExpExecArray>(random, matches);
  return text.slice(0, m.index) + replace(m) + text.slice(m.index + m[0].length);
}

export const MUTATIONS: readonly Mutation[] = [
  (bytes, random) => {
    const out = bytes.slice();
    const flips = 1 + Math.floor(random() * 4);
    for (let k = 0; k < flips; k++) out[Math.floor(random() * out.length)] = Math.floor(random() * 256);
    return { label: `flip ${flips} bytes`, bytes: out, mustRefuse: false };
  },
  (bytes, random) => ({ label: "truncate", bytes: bytes.slice(0, Math.floor(random() * bytes.length)), mustRefuse: true }),
  (bytes, random) => {
    if (bytes.length < 8) return { label: "header length (short file)", bytes, mustRefuse: false };
    const out = bytes.slice();
    const view = new DataView(out.buffer);
    const n = view.getBigUint64(0, true);
    const declared = pick(random, [n + 1n, n - 1n, n + 8n, 0n, 2n ** 64n - 1n, 100_000_001n, BigInt(out.length)]);
    view.setBigUint64(0, declared < 0n ? 0n : declared, true);
    return { label: `header length ${declared}`, bytes: out, mustRefuse: declared !== n };
  },
  (bytes, random) => {
    const parts = split(bytes);
    if (parts === null) return { label: "data ± bytes (no header)", bytes, mustRefuse: false };
    const { header, data } = parts;
    const extra = random() < 0.5 ? 1 + Math.floor(random() * 9) : -Math.min(data.length, 1 + Math.floor(random() * 4));
    const newData = extra > 0 ? new Uint8Array(data.length + extra) : data.slice(0, data.length + extra);
    if (extra > 0) newData.set(data);
    return { label: `data ${extra > 0 ? "+" : ""}${extra} bytes`, bytes: fileFrom(header, newData), mustRefuse: extra !== 0 };
  },
  textual("repeated dtype field", true, (h, r) => replaceOne(h, /"dtype":"(\w+)"/, r, (m) => `${m[0]},"dtype":"${pick(r, ["F32", "I32", m[1]!])}"`)),
  textual("repeated shape field", true, (h, r) => replaceOne(h, /"shape":(\[[\d,]*\])/, r, (m) => `${m[0]},"shape":${m[1]!}`)),
  textual("repeated data_offsets field", true, (h, r) => replaceOne(h, /"data_offsets":(\[\d+,\d+\])/, r, (m) => `"data_offsets":${m[1]!},${m[0]}`)),
  textual("repeated __metadata__", true, (h) => `{"__metadata__":{"a":"b"},"__metadata__":{},${h.trim().slice(1)}`.replace(/,}$/, "}")),
  textual("float in an integer field", true, (h, r) =>
    replaceOne(h, /("data_offsets":\[|"shape":\[)(\d+)/, r, (m) => `${m[1]!}${pick(r, [`${m[2]!}.0`, `${m[2]!}e0`, `${m[2]!}0E-1`])}`),
  ),
  textual("negative zero offset", true, (h, r) => replaceOne(h, /"data_offsets":\[0,/, r, () => `"data_offsets":[-0,`)),
  textual("lone surrogate in a name", true, (h, r) => replaceOne(h, /"([^"\\]*)":\{"dtype"/, r, (m) => `"${m[1]!}${pick(r, ["\\ud800", "\\udfff", "\\udbff\\u0041"])}":{"dtype"`)),
  textual("nesting 128 deep in an unknown field", true, (h, r) => replaceOne(h, /"dtype":/, r, () => `"x":${"[".repeat(126)}${"]".repeat(126)},"dtype":`)),
  textual("nesting 127 deep in an unknown field", false, (h, r) => replaceOne(h, /"dtype":/, r, () => `"x":${"[".repeat(125)}${"]".repeat(125)},"dtype":`)),
  textual("unknown field", false, (h, r) => replaceOne(h, /"dtype":/, r, () => `"extra":{"k":[1,2.5,null,"\\ud83d\\ude00"]},"dtype":`)),
  textual("other dtype", false, (h, r) => replaceOne(h, /"dtype":"\w+"/, r, () => `"dtype":"${pick(r, [...Object.keys(SIZE), "F8_E4M3", "C64", "f32", "F4", ""])}"`)),
  textual("dimension ± 1", false, (h, r) => replaceOne(h, /(\d+)(?=[,\]][^"]*"data_offsets")/, r, (m) => String(Math.max(0, Number(m[1]) + pick(r, [-1, 1]))))),
  textual("offset ± 1", false, (h, r) => replaceOne(h, /(\d+)(?=[,\]]\}?)/, r, (m) => String(Math.max(0, Number(m[1]) + pick(r, [-1, 1, 4]))))),
  textual("huge integer", false, (h, r) => replaceOne(h, /("data_offsets":\[\d+,|"shape":\[)(\d+)/, r, (m) => `${m[1]!}${pick(r, ["9007199254740993", "18446744073709551615", "18446744073709551616", "1e300", "-1"])}`)),
  textual("field removed", true, (h, r) => replaceOne(h, /"(dtype|shape|data_offsets)":(\[[^\]]*\]|"[^"]*"),?/, r, () => "")),
  textual("trailing garbage", true, (h, r) => h + pick(r, ["\u0000", ",", "}", "x", "\ufeff"])),
  textual("byte-order mark", true, (h) => `\ufeff${h}`),
  textual("metadata value not a string", true, (h) => `{"__metadata__":{"k":1},${h.trim().slice(1)}`.replace(/,}$/, "}")),
  textual("repeated tensor name", false, (h, r) => replaceOne(h, /"([^"\\]*)":(\{"dtype"[^}]*\})/, r, (m) => `${m[0]},"${m[1]!}":${m[2]!}`)),
];

/** `count` corrupted files from `bases` (or random valid files when `bases` is empty), reproducible from `seed`. */
export function* corpus(seed: number, count: number, bases: readonly Uint8Array[] = []): Generator<Corrupted> {
  const random = seededRandom(seed);
  for (let i = 0; i < count; i++) {
    const base = bases.length > 0 && random() < 0.3 ? pick(random, bases) : randomValidFile(random);
    let c = pick(random, MUTATIONS)(base, random);
    // Sometimes two mutations; the second may undo the first (e.g. remove a repeated field), so the pair is
    // only checked against the independent reading, not marked must-refuse.
    if (random() < 0.2) {
      const second = pick(random, MUTATIONS)(c.bytes, random);
      c = { label: `${c.label} + ${second.label}`, bytes: second.bytes, mustRefuse: false };
    }
    yield { ...c, label: `#${i} ${c.label}` };
  }
}

// ---------------------------------------------------------------------------------------------------------
// The oracle

/** An accepted file's tensors against an independent reading of its bytes (JSON.parse + DataView). */
function compareWithReference(bytes: Uint8Array, result: SafetensorsContents): void {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, unknown>;
  const { __metadata__: _metadata, ...entries } = header;
  const names = Object.keys(entries).sort();
  const got = [...result.tensors.keys()].sort();
  if (JSON.stringify(names) !== JSON.stringify(got)) throw new Error(`tensors ${JSON.stringify(got)}, the header says ${JSON.stringify(names)}`);
  for (const [name, raw] of Object.entries(entries)) {
    const entry = raw as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const tensor = result.tensors.get(name)!;
    if (JSON.stringify(tensor.shape) !== JSON.stringify(entry.shape)) throw new Error(`${name}: shape ${JSON.stringify(tensor.shape)} ≠ ${JSON.stringify(entry.shape)}`);
    const expected = referenceValues(entry.dtype, bytes.subarray(8 + n + entry.data_offsets[0], 8 + n + entry.data_offsets[1]));
    const actual = Array.from(tensor.dataSync() as ArrayLike<number>);
    if (actual.length !== expected.length) throw new Error(`${name}: ${actual.length} values, expected ${expected.length}`);
    expected.forEach((x, i) => {
      if (!(Object.is(x, actual[i]) || (Number.isNaN(x) && Number.isNaN(actual[i])))) throw new Error(`${name}[${i}]: ${actual[i]} ≠ ${x}`);
    });
  }
}

/**
 * Reads one corrupted file and checks the outcome: a SafetensorsError with a message, or (if the reference
 * reader would not refuse it for sure) tensors equal to the independent reading. Anything else — another
 * exception type, a wrong value, acceptance of a must-refuse file — throws, naming the case.
 */
export function checkCase(c: Corrupted): "refused" | "read" {
  let result: SafetensorsContents;
  try {
    result = parseSafetensors(c.bytes);
  } catch (error) {
    if (!(error instanceof SafetensorsError) || error.message.length < 20) {
      throw new Error(`${c.label}: expected a SafetensorsError with a message, got ${String(error)}`, { cause: error });
    }
    return "refused";
  }
  try {
    if (c.mustRefuse) throw new Error(`${c.label}: accepted a file the reference reader refuses`);
    compareWithReference(c.bytes, result);
  } catch (error) {
    throw new Error(`${c.label}: ${(error as Error).message}`, { cause: error });
  } finally {
    for (const t of result.tensors.values()) t.dispose();
  }
  return "read";
}

/** Adapter-config mutations (adapter_config.json text): wrong types, missing or odd fields, hostile strings. */
export function mutateConfig(text: string, random: () => number): { label: string; text: string } {
  const json = JSON.parse(text) as Record<string, unknown>;
  const keys = Object.keys(json);
  const values: unknown[] = [null, -1, 0, 1.5, NaN, "x", "", [], {}, [null], ["(?P<x>fc1)"], "(?P<n>fc)\\d", true, 2 ** 53 + 2, "\u0000", "a".repeat(300)];
  const op = Math.floor(random() * 6);
  switch (op) {
    case 0: {
      const key = pick(random, keys);
      const value = pick(random, values);
      json[key] = value;
      return { label: `${key} = ${JSON.stringify(value)}`, text: JSON.stringify(json).replace("null", Number.isNaN(value) ? "NaN" : "null") };
    }
    case 1: {
      const key = pick(random, keys);
      delete json[key];
      return { label: `${key} removed`, text: JSON.stringify(json) };
    }
    case 2:
      return { label: "truncated", text: text.slice(0, Math.floor(random() * text.length)) };
    case 3:
      return { label: "not an object", text: pick(random, ["[]", "null", '"LORA"', "1", ""]) };
    case 4: {
      const key = pick(random, ["rank_pattern", "alpha_pattern", "layers_to_transform", "target_modules", "exclude_modules"]);
      const value = pick(random, [{ nomatch: 4 }, { fc1: "x" }, [1.5], "(?P<x>fc1)", ["fc1", 3], { "(": 2 }]);
      json[key] = value;
      return { label: `${key} = ${JSON.stringify(value)}`, text: JSON.stringify(json) };
    }
    default:
      return { label: "repeated key", text: text.replace(/^\{/, `{"peft_type": ${JSON.stringify(pick(random, ["LORA", "IA3", "X", 1]))},`) };
  }
}

/**
 * The safetensors format, in memory (no file system: also runs in browsers).
 *
 * Layout (huggingface/safetensors, `safetensors/src/tensor.rs`): an 8-byte little-endian u64 N, N bytes of a
 * UTF-8 JSON header `{"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets": [begin, end]}}`,
 * then the data section; offsets are relative to its start. Validation follows the reference `read_metadata`
 * + `Metadata::validate`: header ≤ 100 MB and inside the file, every tensor's byte length equal to
 * prod(shape)·itemsize, and the tensors, sorted by offsets, covering the data section exactly — no overlap,
 * no gap, no trailing bytes. Writing follows `prepare`: tensors ordered by descending dtype alignment then
 * name (so each tensor's data is aligned to its element size), compact JSON padded with spaces to a
 * multiple of 8 bytes.
 *
 * The header's JSON is parsed like serde_json parses it for the reference (`header-json.ts`): a repeated
 * `dtype` / `shape` / `data_offsets` field or a repeated `__metadata__` is refused (a repeated tensor name or
 * metadata key is not: last wins, as in Rust); a number written as a float (`4.0`, `1e0`, `-0`) is refused
 * where an integer is expected; lone surrogate escapes (`"\ud800"`) are refused; nesting deeper than 127
 * levels is refused. test/fixtures/safetensors/header_cases.json records the reference's verdict on each such
 * header (scripts/make_header_cases.py) and header-cases.test.ts checks this reader against it.
 *
 * Where this reader deliberately differs from the reference:
 * - Integers in `shape` / `data_offsets` above 2^53 − 1 are refused (Rust accepts up to 2^64 − 1, e.g. a
 *   dimension of 2^60 beside a 0): a JS number cannot hold them exactly, nor can tfjs such a tensor.
 * - Values tfjs cannot hold are refused when the tensor is read, naming the tensor and the element: I64 / U64 /
 *   U32 values outside int32, and the dtypes tfjs lacks (F8_*, C64, sub-byte types). F64 rounds to float32.
 * - A tensor is refused when its decoded size exceeds {@link MAX_TENSOR_BYTES} (tfjs keeps a tensor in one
 *   typed array); the error names the file, the tensor and the limit. Files may be larger: the file reader
 *   (safetensors-file.ts) reads one tensor at a time.
 */
import { tf } from "../tf.js";
import type { DataType, Tensor } from "../tf.js";
import { decodeBFloat16, decodeFloat16, encodeBFloat16, encodeFloat16 } from "./half.js";
import { HeaderJsonError, JsonFloat, duplicateKeys, parseHeaderJson } from "./header-json.js";
import type { HeaderJson } from "./header-json.js";

/** A malformed safetensors file or an impossible request (unknown tensor, unsupported dtype, value out of range). */
export class SafetensorsError extends Error {
  override name = "SafetensorsError";
}

/**
 * Bytes per element of the dtypes the format defines (reference `Dtype::size`), listed in the reference
 * enum's order, which is increasing alignment: the writer sorts by it.
 */
const ITEM_SIZE = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, F8_E8M0: 1, I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8, C64: 8,
} as const;
/** Sub-byte dtypes of newer safetensors versions: recognised so the error can say so, but not read. */
const SUB_BYTE_DTYPES = new Set(["F4", "F6_E2M3", "F6_E3M2", "PackedI4", "PackedU4"]);

/** Every dtype a safetensors header may name (byte-sized ones). */
export type SafetensorsDtype = keyof typeof ITEM_SIZE;
/** The dtypes peftjs writes. */
export type SafetensorsWriteDtype = "F32" | "F16" | "BF16" | "I32" | "I64" | "U8" | "BOOL";
const ALIGNMENT_RANK = Object.fromEntries(Object.keys(ITEM_SIZE).map((d, i) => [d, i])) as Record<SafetensorsDtype, number>;

/** What a tfjs dtype may be stored as; the first entry is the default. */
const WRITABLE_AS: Record<DataType, readonly SafetensorsWriteDtype[]> = {
  float32: ["F32", "F16", "BF16"],
  int32: ["I32", "I64", "U8"],
  bool: ["BOOL", "U8"],
  complex64: [],
  string: [],
};

/** One tensor's entry in the header. `dataOffsets` are relative to the start of the data section. */
export interface SafetensorsTensorInfo {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly dataOffsets: readonly [begin: number, end: number];
}

/** A validated header. `tensors` is in file order (by offset). */
export interface SafetensorsHeader {
  readonly tensors: Map<string, SafetensorsTensorInfo>;
  readonly metadata: Record<string, string>;
  /** Byte position of the data section in the file: 8 + header length. */
  readonly dataStart: number;
}

/** Tensors read from a file (in file order; the caller owns and disposes them) and its `__metadata__`. */
export interface SafetensorsContents {
  readonly tensors: Map<string, Tensor>;
  readonly metadata: Record<string, string>;
}

export interface ReadSafetensorsOptions {
  /** Read only these tensors (an unknown name is an error). Default: all. */
  names?: readonly string[];
}

export interface SerializeSafetensorsOptions {
  /** `__metadata__` of the file (string → string, like PEFT's `{"format": "pt"}`). */
  metadata?: Record<string, string>;
  /** Storage dtype per tensor name, overriding the default for its tfjs dtype (float32→F32, int32→I32, bool→BOOL). */
  dtypes?: Record<string, SafetensorsWriteDtype>;
  /** Storage dtype for every float32 tensor not named in `dtypes` (e.g. "BF16" to halve a checkpoint). Default "F32". */
  floatDtype?: "F32" | "F16" | "BF16";
}

export type SafetensorsInput = ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>;

/**
 * The largest tensor peftjs decodes, in bytes of its tfjs form (float32 / int32: 4 bytes per element; bool: 1):
 * 2 GiB. tfjs keeps each tensor in one typed array, and a larger one is slow to allocate and to copy on every
 * backend; split such a tensor in Python or read the other tensors with `{ names: [...] }`.
 */
export const MAX_TENSOR_BYTES = 2 ** 31;

/** The reference library refuses larger headers (`MAX_HEADER_SIZE`). */
export const MAX_HEADER_BYTES = 100_000_000;
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------------------------------------
// Reading

/** Parses a whole safetensors file held in memory. The returned tensors are new; dispose them when done. */
export function parseSafetensors(bytes: Uint8Array, options: ReadSafetensorsOptions = {}): SafetensorsContents {
  const where = "safetensors bytes";
  const headerLength = readHeaderLength(bytes.subarray(0, 8), bytes.length, where);
  const header = parseHeader(bytes.subarray(8, 8 + headerLength), bytes.length, where);
  const tensors = decodeSelected(header, options.names, where, (info) =>
    bytes.subarray(header.dataStart + info.dataOffsets[0], header.dataStart + info.dataOffsets[1]),
  );
  return { tensors, metadata: header.metadata };
}

/**
 * The header length N from the file's first 8 bytes (`prefix`), checked against the file size like the
 * reference `read_metadata`: at least 8 bytes, N ≤ 100 MB, 8 + N ≤ file size.
 */
export function readHeaderLength(prefix: Uint8Array, fileSize: number, where: string): number {
  if (fileSize < 8 || prefix.length < 8) {
    throw new SafetensorsError(
      `${where}: the file is ${fileSize} bytes long; a safetensors file starts with an 8-byte little-endian header length.`,
    );
  }
  const declared = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (declared > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError(
      `${where}: the header length field says ${declared} bytes, over the 100 MB limit of the safetensors format; ` +
        `the file is corrupt or not a safetensors file.`,
    );
  }
  const length = Number(declared);
  if (8 + length > fileSize) {
    throw new SafetensorsError(
      `${where}: the header length field says ${length} bytes but only ${fileSize - 8} bytes follow it; ` +
        `the file is truncated or not a safetensors file.`,
    );
  }
  return length;
}

/** Parses and validates the JSON header (`headerBytes`, N bytes) of a file of `fileSize` bytes. */
export function parseHeader(headerBytes: Uint8Array, fileSize: number, where: string): SafetensorsHeader {
  const dataStart = 8 + headerBytes.length;
  const dataLength = fileSize - dataStart;
  let text: string;
  try {
    // ignoreBOM: keep a byte-order mark so that JSON.parse rejects it, as serde_json does.
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    throw new SafetensorsError(`${where}: the header is not valid UTF-8; the file is corrupt or not a safetensors file.`);
  }
  let json: HeaderJson;
  try {
    json = parseHeaderJson(text);
  } catch (error) {
    if (!(error instanceof HeaderJsonError)) throw error;
    throw new SafetensorsError(`${where}: the header is not valid JSON (${error.message}); the file is corrupt or not a safetensors file.`);
  }
  if (!isJsonObject(json)) {
    throw new SafetensorsError(
      `${where}: the header must be a JSON object {"<tensor name>": {"dtype", "shape", "data_offsets"}, ...}, got ${jsonKind(json)}.`,
    );
  }
  // serde (the reference) refuses a repeated struct field: "__metadata__" here, dtype/shape/data_offsets in an
  // entry. A repeated tensor name or metadata key is a repeated map key, which serde lets through (last wins).
  if (duplicateKeys(json).has("__metadata__")) {
    throw new SafetensorsError(`${where}: the header has "__metadata__" more than once; the reference reader refuses such a file.`);
  }

  let metadata: Record<string, string> = {};
  const entries: [string, SafetensorsTensorInfo][] = [];
  for (const [name, value] of Object.entries(json)) {
    if (name === "__metadata__") metadata = parseMetadata(value, where);
    else entries.push([name, parseTensorInfo(name, value, dataLength, where)]);
  }

  // Like the reference `Metadata::validate`: sorted by offsets, the tensors must tile the data section.
  entries.sort(([, a], [, b]) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  let cursor = 0;
  let previous: string | undefined;
  for (const [name, info] of entries) {
    const [begin, end] = info.dataOffsets;
    if (begin < cursor) {
      throw new SafetensorsError(
        `${where}: tensor ${quote(name)} (data_offsets [${begin}, ${end}]) overlaps tensor ${quote(previous ?? "")}, which ends at byte ${cursor}.`,
      );
    }
    if (begin > cursor) {
      throw new SafetensorsError(
        `${where}: tensor ${quote(name)} starts at data byte ${begin} but ` +
          (previous === undefined ? "the data section starts at 0" : `the previous tensor ${quote(previous)} ends at ${cursor}`) +
          `; a safetensors data section must be covered without gaps (the reference library rejects this file).`,
      );
    }
    cursor = end;
    previous = name;
  }
  if (cursor !== dataLength) {
    throw new SafetensorsError(
      `${where}: the tensors cover ${cursor} bytes of data but the file holds ${dataLength} after the header; ` +
        `the file has trailing bytes or lost a tensor entry.`,
    );
  }
  return { tensors: new Map(entries), metadata, dataStart };
}

function parseMetadata(value: unknown, where: string): Record<string, string> {
  if (value === null) return {}; // the reference reader accepts null as "no metadata"
  if (!isJsonObject(value)) {
    throw new SafetensorsError(`${where}: "__metadata__" must be an object of string values, got ${jsonKind(value)}.`);
  }
  const entries = Object.entries(value);
  for (const [key, v] of entries) {
    if (typeof v !== "string") {
      throw new SafetensorsError(`${where}: "__metadata__" value for key ${quote(key)} must be a string, got ${jsonKind(v)}.`);
    }
  }
  return Object.fromEntries(entries) as Record<string, string>;
}

function parseTensorInfo(name: string, value: unknown, dataLength: number, where: string): SafetensorsTensorInfo {
  const at = `${where}: tensor ${quote(name)}`;
  if (!isJsonObject(value)) throw new SafetensorsError(`${at}: the header entry must be an object {dtype, shape, data_offsets}, got ${jsonKind(value)}.`);
  const repeated = ["dtype", "shape", "data_offsets"].filter((k) => duplicateKeys(value).has(k));
  if (repeated.length > 0) {
    throw new SafetensorsError(`${at}: the header entry has ${repeated.map((k) => `"${k}"`).join(", ")} more than once; the reference reader refuses such a file.`);
  }
  const { dtype, shape, data_offsets: offsets } = value;
  if (dtype === undefined || shape === undefined || offsets === undefined) {
    const missing = ["dtype", "shape", "data_offsets"].filter((k) => value[k] === undefined);
    throw new SafetensorsError(`${at}: the header entry lacks ${missing.join(", ")}.`);
  }
  if (typeof dtype !== "string") throw new SafetensorsError(`${at}: "dtype" must be a string, got ${jsonKind(dtype)}.`);
  if (!isSafetensorsDtype(dtype)) {
    throw new SafetensorsError(
      SUB_BYTE_DTYPES.has(dtype)
        ? `${at}: dtype ${dtype} (sub-byte) is not supported by peftjs.`
        : `${at}: unknown dtype ${quote(dtype)}; safetensors dtypes are ${Object.keys(ITEM_SIZE).join(", ")}.`,
    );
  }
  const float = [shape, offsets].flatMap((v) => (Array.isArray(v) ? v.filter((x): x is JsonFloat => x instanceof JsonFloat) : []))[0];
  if (float !== undefined) {
    throw new SafetensorsError(
      `${at}: ${Array.isArray(shape) && shape.includes(float) ? '"shape"' : '"data_offsets"'} holds ${float.text}, a number written as a float; ` +
        `the reference reader accepts only integers there (write ${Number.isInteger(float.value) && float.value >= 0 ? float.value : "an integer"}).`,
    );
  }
  const huge = [shape, offsets].flatMap((v) => (Array.isArray(v) ? v.filter((x): x is bigint => typeof x === "bigint") : []))[0];
  if (huge !== undefined) {
    throw new SafetensorsError(
      `${at}: ${Array.isArray(shape) && shape.includes(huge) ? '"shape"' : '"data_offsets"'} holds ${huge}, above 2^53 − 1, the largest integer peftjs ` +
        `handles exactly (tfjs cannot hold such a tensor, and no file is that large).`,
    );
  }
  if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) {
    throw new SafetensorsError(`${at}: "shape" must be an array of non-negative integers, got ${truncatedJson(shape)}.`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInteger)) {
    throw new SafetensorsError(`${at}: "data_offsets" must be [begin, end] with non-negative integers, got ${truncatedJson(offsets)}.`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) throw new SafetensorsError(`${at}: data_offsets [${begin}, ${end}] end before they begin.`);
  if (end > dataLength) {
    throw new SafetensorsError(
      `${at}: data_offsets [${begin}, ${end}] run past the end of the data section (${dataLength} bytes); the file is truncated or corrupt.`,
    );
  }
  let numel = 1;
  for (const dim of shape) {
    numel *= dim;
    if (!Number.isSafeInteger(numel)) throw new SafetensorsError(`${at}: shape [${shape.join(", ")}] has too many elements.`);
  }
  const nbytes = numel * ITEM_SIZE[dtype];
  if (nbytes !== end - begin) {
    throw new SafetensorsError(
      `${at}: dtype ${dtype} with shape [${shape.join(", ")}] needs ${Number.isSafeInteger(nbytes) ? nbytes : "too many"} bytes ` +
        `but data_offsets [${begin}, ${end}] span ${end - begin}.`,
    );
  }
  return { dtype, shape, dataOffsets: [begin, end] };
}

/**
 * Decodes the selected tensors of a validated header; `bytesOf` gives each tensor's exact byte range. If one
 * fails (e.g. an I64 value outside int32), the tensors already made are disposed before the error propagates.
 */
export function decodeSelected(
  header: SafetensorsHeader,
  names: readonly string[] | undefined,
  where: string,
  bytesOf: (info: SafetensorsTensorInfo) => Uint8Array,
): Map<string, Tensor> {
  const selected = selectTensors(header, names, where);
  const tensors = new Map<string, Tensor>();
  try {
    for (const [name, info] of selected) tensors.set(name, decodeTensor(name, info, bytesOf(info), where));
  } catch (error) {
    for (const t of tensors.values()) t.dispose();
    throw error;
  }
  return tensors;
}

/** The header entries to read, in file order; an unknown requested name is an error listing the available ones. */
export function selectTensors(
  header: SafetensorsHeader,
  names: readonly string[] | undefined,
  where: string,
): [string, SafetensorsTensorInfo][] {
  if (names === undefined) return [...header.tensors];
  const wanted = new Set(names);
  for (const name of wanted) {
    if (!header.tensors.has(name)) {
      const available = [...header.tensors.keys()];
      const shown = available.slice(0, 20).map(quote).join(", ") + (available.length > 20 ? `, … (${available.length} in all)` : "");
      throw new SafetensorsError(`${where}: no tensor named ${quote(name)}; the file holds ${shown || "no tensors"}.`);
    }
  }
  return [...header.tensors].filter(([name]) => wanted.has(name));
}

/** The tfjs dtype a safetensors dtype is read as. */
export function tfjsDtypeOf(dtype: SafetensorsDtype): "float32" | "int32" | "bool" {
  if (dtype === "BOOL") return "bool";
  return dtype === "F32" || dtype === "F16" || dtype === "BF16" || dtype === "F64" ? "float32" : "int32";
}

/** Bytes per element of a safetensors dtype. */
export function itemSize(dtype: SafetensorsDtype): number {
  return ITEM_SIZE[dtype];
}

/**
 * Refuses a tensor whose decoded (tfjs) form would exceed {@link MAX_TENSOR_BYTES}, before anything is
 * allocated; the error names the file, the tensor and the limit.
 */
export function checkTensorSize(name: string, info: SafetensorsTensorInfo, where: string): void {
  const count = (info.dataOffsets[1] - info.dataOffsets[0]) / ITEM_SIZE[info.dtype];
  const decoded = count * (tfjsDtypeOf(info.dtype) === "bool" ? 1 : 4);
  if (decoded > MAX_TENSOR_BYTES) {
    throw new SafetensorsError(
      `${where}: tensor ${quote(name)} (${info.dtype}, shape [${info.shape.join(", ")}]) would take ${decoded} bytes in tfjs, over the ` +
        `${MAX_TENSOR_BYTES}-byte (2 GiB) limit peftjs reads per tensor (MAX_TENSOR_BYTES); split it in Python, or read the other ` +
        `tensors with { names: [...] }.`,
    );
  }
}

/**
 * One tensor from its bytes (exactly `dataOffsets[1] - dataOffsets[0]` of them, little-endian).
 * tfjs holds float32, int32 and bool only: F16/BF16 widen exactly, F64 rounds to float32, integer types must
 * fit int32 (else a SafetensorsError naming the tensor and the element), BOOL becomes bool.
 * `owned`: the caller hands `bytes` over (a fresh buffer of exactly this length, not used elsewhere), so F32 and
 * I32 data become the tensor's storage without a copy.
 */
export function decodeTensor(name: string, info: SafetensorsTensorInfo, bytes: Uint8Array, where: string, owned = false): Tensor {
  checkTensorSize(name, info, where);
  const values = decodeValues(name, info.dtype, bytes, where, 0, owned);
  return tf.tensor(values, [...info.shape], tfjsDtypeOf(info.dtype));
}

/**
 * The tfjs values of `bytes` (a whole number of `dtype` elements; element `firstIndex` of the tensor comes first,
 * for error messages when a tensor is decoded in chunks).
 */
export function decodeValues(
  name: string,
  dtype: SafetensorsDtype,
  bytes: Uint8Array,
  where: string,
  firstIndex = 0,
  owned = false,
): Float32Array | Int32Array | Uint8Array {
  const count = bytes.length / ITEM_SIZE[dtype];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const outOfRange = (i: number, value: bigint | number): never => {
    throw new SafetensorsError(
      `${where}: tensor ${quote(name)} (${dtype}) element ${firstIndex + i} is ${value}, outside the int32 range tfjs can hold ` +
        `[-2147483648, 2147483647]; convert it before saving (e.g. clamp, or store it as a float).`,
    );
  };
  // Without a copy only when the bytes are ours and 4-byte aligned (a Float32Array view needs both).
  const reuse = owned && LITTLE_ENDIAN_HOST && bytes.byteOffset % 4 === 0;
  switch (dtype) {
    case "F32": {
      if (reuse) return new Float32Array(bytes.buffer, bytes.byteOffset, count);
      const out = LITTLE_ENDIAN_HOST ? new Float32Array(copyBytes(bytes).buffer) : new Float32Array(count);
      if (!LITTLE_ENDIAN_HOST) for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
      return out;
    }
    case "F16":
      return decodeFloat16(view, 0, count);
    case "BF16":
      return decodeBFloat16(view, 0, count);
    case "F64": {
      const out = new Float32Array(count); // assignment rounds to nearest float32 (ties to even)
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i, true);
      return out;
    }
    case "I32": {
      if (reuse) return new Int32Array(bytes.buffer, bytes.byteOffset, count);
      const out = LITTLE_ENDIAN_HOST ? new Int32Array(copyBytes(bytes).buffer) : new Int32Array(count);
      if (!LITTLE_ENDIAN_HOST) for (let i = 0; i < count; i++) out[i] = view.getInt32(4 * i, true);
      return out;
    }
    case "I64":
    case "U64": {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const low = view.getUint32(8 * i, true);
        const high = view.getInt32(8 * i + 4, true);
        // In int32 range iff the high word is the sign extension of the low word.
        const fits = dtype === "I64" ? high === (low >= 0x80000000 ? -1 : 0) : high === 0 && low < 0x80000000;
        if (!fits) outOfRange(i, dtype === "I64" ? view.getBigInt64(8 * i, true) : view.getBigUint64(8 * i, true));
        out[i] = low | 0;
      }
      return out;
    }
    case "U32": {
      const out = reuse ? new Int32Array(bytes.buffer, bytes.byteOffset, count) : new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const v = view.getUint32(4 * i, true);
        if (v > 0x7fffffff) outOfRange(i, v);
        out[i] = v;
      }
      return out;
    }
    case "I16":
    case "U16": {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = dtype === "I16" ? view.getInt16(2 * i, true) : view.getUint16(2 * i, true);
      return out;
    }
    case "I8":
      return Int32Array.from(new Int8Array(bytes.buffer, bytes.byteOffset, bytes.length));
    case "U8":
      return Int32Array.from(bytes);
    case "BOOL":
      // torch writes 0/1; any non-zero byte is true, as in C.
      return Uint8Array.from(bytes, (b) => (b === 0 ? 0 : 1));
    case "F8_E5M2":
    case "F8_E4M3":
    case "F8_E8M0":
    case "C64":
      throw new SafetensorsError(
        `${where}: tensor ${quote(name)} has dtype ${dtype}, which peftjs cannot read (tfjs has no such type); ` +
          `convert it in Python first (e.g. tensor.float()), or read the other tensors with { names: [...] }.`,
      );
  }
}

// ---------------------------------------------------------------------------------------------------------
// Writing

interface PlannedTensor {
  readonly name: string;
  readonly tensor: Tensor;
  readonly dtype: SafetensorsWriteDtype;
  readonly nbytes: number;
}

/** A validated write: the header bytes (length prefix + padded JSON) and the tensors in data order. */
export interface PreparedSafetensors {
  readonly head: Uint8Array;
  readonly tensors: readonly PlannedTensor[];
  readonly byteLength: number;
}

/** Serializes tensors to the bytes of a safetensors file (reads tensor data synchronously: `dataSync`). */
export function serializeSafetensors(tensors: SafetensorsInput, options: SerializeSafetensorsOptions = {}): Uint8Array {
  const prepared = prepareSafetensors(tensors, options);
  const out = new Uint8Array(prepared.byteLength);
  out.set(prepared.head, 0);
  let offset = prepared.head.length;
  for (const planned of prepared.tensors) {
    out.set(encodeTensor(planned, planned.tensor.dataSync()), offset);
    offset += planned.nbytes;
  }
  return out;
}

/**
 * `serializeSafetensors` reading tensor data with the async `tensor.data()`, so it works on backends without
 * sync reads (WebGPU in Node). Arguments are validated before any data is read.
 */
export async function serializeSafetensorsAsync(tensors: SafetensorsInput, options: SerializeSafetensorsOptions = {}): Promise<Uint8Array> {
  const prepared = prepareSafetensors(tensors, options);
  const out = new Uint8Array(prepared.byteLength);
  let offset = 0;
  for await (const chunk of streamPrepared(prepared)) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/**
 * The same bytes as `serializeSafetensors`, as a stream of chunks (header, then one chunk per tensor, read with
 * the async `tensor.data()`), so a large checkpoint is never held in memory twice. Arguments are validated
 * before this returns; the tensors must stay undisposed until the stream is consumed.
 */
export function safetensorsStream(tensors: SafetensorsInput, options: SerializeSafetensorsOptions = {}): AsyncIterable<Uint8Array> {
  return streamPrepared(prepareSafetensors(tensors, options));
}

export async function* streamPrepared(prepared: PreparedSafetensors): AsyncGenerator<Uint8Array> {
  yield prepared.head;
  for (const planned of prepared.tensors) {
    if (planned.tensor.isDisposed) throw new SafetensorsError(`tensor ${quote(planned.name)} was disposed before it was written.`);
    yield encodeTensor(planned, await planned.tensor.data());
  }
}

/** Validates the tensors and options and builds the header. */
export function prepareSafetensors(input: SafetensorsInput, options: SerializeSafetensorsOptions = {}): PreparedSafetensors {
  const entries: [string, unknown][] = input instanceof Map ? [...(input as ReadonlyMap<string, unknown>)] : Object.entries(input);
  const names = new Set(entries.map(([name]) => name));
  const dtypes = options.dtypes ?? {};
  for (const name of Object.keys(dtypes)) {
    if (!names.has(name)) throw new SafetensorsError(`options.dtypes names ${quote(name)}, which is not among the tensors being saved.`);
  }
  const floatDtype = options.floatDtype ?? "F32";
  if (!WRITABLE_AS.float32.includes(floatDtype)) {
    throw new SafetensorsError(`options.floatDtype must be one of ${WRITABLE_AS.float32.join(", ")}, got ${quote(String(floatDtype))}.`);
  }

  const planned: PlannedTensor[] = entries.map(([name, tensor]) => {
    if (name === "__metadata__") throw new SafetensorsError(`"__metadata__" is reserved by the safetensors format and cannot name a tensor.`);
    if (!(tensor instanceof tf.Tensor)) throw new SafetensorsError(`${quote(name)} is not a tf.Tensor (got ${jsonKind(tensor)}).`);
    if (tensor.isDisposed) throw new SafetensorsError(`tensor ${quote(name)} is disposed; save it before disposing it.`);
    const allowed = WRITABLE_AS[tensor.dtype];
    const dtype = dtypes[name] ?? (tensor.dtype === "float32" ? floatDtype : allowed[0]);
    if (dtype === undefined || !allowed.includes(dtype)) {
      throw new SafetensorsError(
        allowed.length === 0
          ? `tensor ${quote(name)} has tfjs dtype ${tensor.dtype}, which safetensors cannot store.`
          : `tensor ${quote(name)} has tfjs dtype ${tensor.dtype}; it can be stored as ${allowed.join(", ")}, not ${String(dtype)}.`,
      );
    }
    return { name, tensor, dtype, nbytes: tensor.size * ITEM_SIZE[dtype] };
  });
  // Reference `prepare`: descending alignment, then name (byte order of UTF-8 = code point order).
  planned.sort((a, b) => ALIGNMENT_RANK[b.dtype] - ALIGNMENT_RANK[a.dtype] || compareCodePoints(a.name, b.name));

  const parts: string[] = [];
  if (options.metadata !== undefined) {
    const meta = Object.entries(options.metadata).sort(([a], [b]) => compareCodePoints(a, b));
    for (const [key, value] of meta) {
      if (typeof value !== "string") throw new SafetensorsError(`metadata value for ${quote(key)} must be a string, got ${jsonKind(value)}.`);
    }
    // Written by hand, not JSON.stringify(object): object key order would put integer-like keys first.
    parts.push(`"__metadata__":{${meta.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(",")}}`);
  }
  let offset = 0;
  for (const t of planned) {
    parts.push(`${JSON.stringify(t.name)}:{"dtype":"${t.dtype}","shape":${JSON.stringify(t.tensor.shape)},"data_offsets":[${offset},${offset + t.nbytes}]}`);
    offset += t.nbytes;
  }
  const json = new TextEncoder().encode(`{${parts.join(",")}}`);
  const headerLength = Math.ceil(json.length / 8) * 8; // padded with spaces so the data starts 8-byte aligned
  if (headerLength > MAX_HEADER_BYTES) throw new SafetensorsError(`the header would be ${headerLength} bytes, over the format's 100 MB limit.`);
  const head = new Uint8Array(8 + headerLength).fill(0x20);
  new DataView(head.buffer).setBigUint64(0, BigInt(headerLength), true);
  head.set(json, 8);
  return { head, tensors: planned, byteLength: head.length + offset };
}

function encodeTensor(planned: PlannedTensor, values: ArrayLike<unknown>): Uint8Array {
  const { name, dtype, nbytes } = planned;
  if (values.length * ITEM_SIZE[dtype] !== nbytes) {
    throw new SafetensorsError(`tensor ${quote(name)}: the backend returned ${values.length} values for ${nbytes / ITEM_SIZE[dtype]} elements.`);
  }
  const out = new Uint8Array(nbytes);
  const view = new DataView(out.buffer);
  switch (dtype) {
    case "F32": {
      const v = values as Float32Array;
      if (LITTLE_ENDIAN_HOST) out.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
      else for (let i = 0; i < v.length; i++) view.setFloat32(4 * i, v[i] as number, true);
      break;
    }
    case "F16":
      encodeFloat16(values as Float32Array, view, 0);
      break;
    case "BF16":
      encodeBFloat16(values as Float32Array, view, 0);
      break;
    case "I32": {
      const v = values as Int32Array;
      if (LITTLE_ENDIAN_HOST) out.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
      else for (let i = 0; i < v.length; i++) view.setInt32(4 * i, v[i] as number, true);
      break;
    }
    case "I64": {
      const v = values as Int32Array;
      for (let i = 0; i < v.length; i++) {
        const x = v[i] as number;
        view.setInt32(8 * i, x, true);
        view.setInt32(8 * i + 4, x < 0 ? -1 : 0, true); // sign extension
      }
      break;
    }
    case "U8": {
      const v = values as Int32Array | Uint8Array;
      for (let i = 0; i < v.length; i++) {
        const x = v[i] as number;
        if (x < 0 || x > 255) {
          throw new SafetensorsError(`tensor ${quote(name)}: element ${i} is ${x}, outside U8's range [0, 255]; store it as I32 or I64.`);
        }
        out[i] = x;
      }
      break;
    }
    case "BOOL": {
      const v = values as Uint8Array;
      for (let i = 0; i < v.length; i++) out[i] = v[i] === 0 ? 0 : 1;
      break;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Helpers

/** A copy in a fresh buffer (aligned, exact length). Not `bytes.slice()`: on a Node Buffer that is a view. */
function copyBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

function isSafetensorsDtype(dtype: string): dtype is SafetensorsDtype {
  return Object.prototype.hasOwnProperty.call(ITEM_SIZE, dtype);
}

function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof JsonFloat);
}

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function jsonKind(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (value instanceof JsonFloat) return `number ${value.text}`;
  if (typeof value === "object") return "an object";
  return `${typeof value} ${truncatedJson(value)}`;
}

function truncatedJson(value: unknown): string {
  let text: string;
  try {
    // The header parser gives floats as JsonFloat and integers beyond 2^53 as bigint: shown as written.
    text = JSON.stringify(value, (_key, v: unknown) => (v instanceof JsonFloat ? v.value : typeof v === "bigint" ? Number(v) : v)) ?? String(value);
  } catch {
    // Too deeply nested for JSON.stringify (a hostile header); String() would recurse just as deep.
    text = Array.isArray(value) ? "[…]" : typeof value === "object" ? "{…}" : typeof value;
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function quote(name: string): string {
  return truncatedJson(name);
}

function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0;
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = (x[i] as string).codePointAt(0)! - (y[i] as string).codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/**
 * safetensors files on disk (Node): read the header first, then only the byte ranges of the tensors asked
 * for, so a large checkpoint is never loaded in one buffer; write atomically (temp file + rename), streaming
 * one tensor at a time.
 *
 * Memory: F32 / I32 / U32 data is read straight into the tensor's own storage (no second copy); other dtypes
 * are decoded in chunks of {@link DECODE_CHUNK_BYTES}. So reading an F32 file peaks at its size plus one chunk
 * (≤ 1.25× the file for files over 64 MiB), and a file of any size can be read as long as each tensor is under
 * MAX_TENSOR_BYTES (2 GiB in tfjs form); a larger tensor is refused, naming the file, the tensor and the limit,
 * before anything is allocated. Files are opened with `openRegularFile` (regular files only, no links out of
 * the folder unless `allowLinksOutside`).
 */
import type { FileHandle } from "node:fs/promises";

import { tf } from "../tf.js";
import type { Tensor } from "../tf.js";
import { writeFileAtomic } from "./atomic.js";
import { openRegularFile } from "./safe-open.js";
import type { SafeOpenOptions } from "./safe-open.js";
import {
  SafetensorsError,
  checkTensorSize,
  decodeValues,
  itemSize,
  tfjsDtypeOf,
  parseHeader,
  prepareSafetensors,
  readHeaderLength,
  selectTensors,
  streamPrepared,
} from "./safetensors.js";
import type {
  ReadSafetensorsOptions,
  SafetensorsContents,
  SafetensorsHeader,
  SafetensorsInput,
  SafetensorsTensorInfo,
  SerializeSafetensorsOptions,
} from "./safetensors.js";

/** Non-F32/I32 tensors are read and decoded this many bytes at a time (a multiple of every item size). */
export const DECODE_CHUNK_BYTES = 16 * 2 ** 20;

/** Options of the file readers: which tensors, and how the file may be reached (see safe-open.ts). */
export interface ReadSafetensorsFileOptions extends ReadSafetensorsOptions, SafeOpenOptions {}

/** The validated header and `__metadata__` of a safetensors file, without reading any tensor data. */
export async function readSafetensorsHeader(filePath: string, options: SafeOpenOptions = {}): Promise<SafetensorsHeader> {
  return withFile(filePath, options, (handle, size) => readHeader(handle, size, filePath));
}

/**
 * Reads a safetensors file (all tensors, or `options.names`). Each tensor's bytes are read on their own, after
 * the header has been validated against the file size. The caller owns the returned tensors.
 */
export async function readSafetensors(filePath: string, options: ReadSafetensorsFileOptions = {}): Promise<SafetensorsContents> {
  return withFile(filePath, options, async (handle, size) => {
    const header = await readHeader(handle, size, filePath);
    const selected = selectTensors(header, options.names, filePath);
    // Every selected tensor is checked against the size limit before the first byte of data is read.
    for (const [name, info] of selected) checkTensorSize(name, info, filePath);
    const tensors = new Map<string, Tensor>();
    try {
      for (const [name, info] of selected) tensors.set(name, await readTensor(handle, header.dataStart, name, info, filePath));
    } catch (error) {
      for (const t of tensors.values()) t.dispose();
      throw error;
    }
    return { tensors, metadata: header.metadata };
  });
}

/**
 * Writes tensors to `filePath` as safetensors, atomically: the file is either the old one or the complete
 * new one. Arguments are checked before anything is written. Options as for `serializeSafetensors`.
 */
export async function saveSafetensors(
  filePath: string,
  tensors: SafetensorsInput,
  options: SerializeSafetensorsOptions = {},
): Promise<void> {
  const prepared = prepareSafetensors(tensors, options);
  await writeFileAtomic(filePath, streamPrepared(prepared));
}

/** One tensor: same-width dtypes straight into its storage, the others decoded chunk by chunk. */
async function readTensor(handle: FileHandle, dataStart: number, name: string, info: SafetensorsTensorInfo, where: string): Promise<Tensor> {
  const [begin, end] = info.dataOffsets;
  const dtype = tfjsDtypeOf(info.dtype);
  const shape = [...info.shape];
  if (info.dtype === "F32" || info.dtype === "I32" || info.dtype === "U32") {
    const bytes = await readExactly(handle, dataStart + begin, end - begin, where);
    return tf.tensor(decodeValues(name, info.dtype, bytes, where, 0, true), shape, dtype);
  }
  const size = itemSize(info.dtype);
  const count = (end - begin) / size;
  const out = dtype === "float32" ? new Float32Array(count) : dtype === "int32" ? new Int32Array(count) : new Uint8Array(count);
  const chunkElements = DECODE_CHUNK_BYTES / 8; // whole elements of every item size
  for (let first = 0; first < count; first += chunkElements) {
    const n = Math.min(chunkElements, count - first);
    const bytes = await readExactly(handle, dataStart + begin + first * size, n * size, where);
    out.set(decodeValues(name, info.dtype, bytes, where, first), first);
  }
  return tf.tensor(out, shape, dtype);
}

async function readHeader(handle: FileHandle, size: number, where: string): Promise<SafetensorsHeader> {
  const prefix = await readExactly(handle, 0, Math.min(8, size), where);
  const headerLength = readHeaderLength(prefix, size, where);
  const headerBytes = await readExactly(handle, 8, headerLength, where);
  return parseHeader(headerBytes, size, where);
}

async function readExactly(handle: FileHandle, position: number, length: number, where: string): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(out, done, length - done, position + done);
    if (bytesRead === 0) {
      throw new SafetensorsError(`${where}: the file ended at byte ${position + done} while ${position + length} were expected; it was truncated while being read.`);
    }
    done += bytesRead;
  }
  return out;
}

async function withFile<T>(filePath: string, options: SafeOpenOptions, use: (handle: FileHandle, size: number) => Promise<T>): Promise<T> {
  const { handle, size } = await openRegularFile(filePath, { ...(options.root !== undefined ? { root: options.root } : {}), ...(options.allowLinksOutside !== undefined ? { allowLinksOutside: options.allowLinksOutside } : {}) });
  try {
    return await use(handle, size);
  } finally {
    await handle.close();
  }
}

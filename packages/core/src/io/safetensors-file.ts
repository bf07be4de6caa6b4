/**
 * safetensors files on disk (Node): read the header first, then only the byte ranges of the tensors asked
 * for, so a large checkpoint is never loaded in one buffer; write atomically (temp file + rename), streaming
 * one tensor at a time.
 */
import type { FileHandle } from "node:fs/promises";

import type { Tensor } from "../tf.js";
import { writeFileAtomic } from "./atomic.js";
import { nodeFileSystem } from "./node.js";
import {
  SafetensorsError,
  decodeTensor,
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
  SerializeSafetensorsOptions,
} from "./safetensors.js";

/** The validated header and `__metadata__` of a safetensors file, without reading any tensor data. */
export async function readSafetensorsHeader(filePath: string): Promise<SafetensorsHeader> {
  return withFile(filePath, (handle, size) => readHeader(handle, size, filePath));
}

/**
 * Reads a safetensors file (all tensors, or `options.names`). Each tensor's bytes are read on their own, after
 * the header has been validated against the file size. The caller owns the returned tensors.
 */
export async function readSafetensors(filePath: string, options: ReadSafetensorsOptions = {}): Promise<SafetensorsContents> {
  return withFile(filePath, async (handle, size) => {
    const header = await readHeader(handle, size, filePath);
    const selected = selectTensors(header, options.names, filePath);
    const tensors = new Map<string, Tensor>();
    try {
      for (const [name, info] of selected) {
        const [begin, end] = info.dataOffsets;
        const bytes = await readExactly(handle, header.dataStart + begin, end - begin, filePath);
        tensors.set(name, decodeTensor(name, info, bytes, filePath));
      }
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

async function withFile<T>(filePath: string, use: (handle: FileHandle, size: number) => Promise<T>): Promise<T> {
  const { fs } = await nodeFileSystem();
  const handle = await fs.open(filePath, "r");
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new SafetensorsError(`${filePath} is not a regular file.`);
    return await use(handle, stats.size);
  } finally {
    await handle.close();
  }
}

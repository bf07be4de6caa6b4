/**
 * Opening files that may be hostile (Node): every loader opens adapter, checkpoint, config and tokenizer files
 * through here, so that a folder cannot make peftjs read outside it, hang or exhaust memory.
 *
 * - The path must stay inside the folder it was asked for (`root`): a name or `subfolder` such as
 *   `../elsewhere` is refused before anything is opened.
 * - Symbolic links (of the file or of any folder on the way) are resolved, and one that leads outside `root` is
 *   refused unless the caller passes `allowLinksOutside: true` (e.g. a Hugging Face cache snapshot, whose files
 *   are links into `../../blobs/`). Links inside the folder are followed.
 * - Only regular files are read: a FIFO is opened with O_NONBLOCK (so the open cannot block waiting for a
 *   writer) and then refused, like a character device (`/dev/zero`), a socket or a directory. The check is made
 *   on the opened handle (fstat), so the file cannot be swapped between the check and the read.
 * - Text (JSON) files are read only up to a size limit ({@link MAX_JSON_BYTES} unless the caller says), counted
 *   while reading, not trusted from the size field.
 */
import type { FileHandle } from "node:fs/promises";

import { nodeFileSystem } from "./node.js";

/** The default size limit for a JSON or text file (config.json, adapter_config.json, tokenizer.json): 128 MiB. */
export const MAX_JSON_BYTES = 128 * 2 ** 20;

/** A file that peftjs refuses to open: outside its folder, not a regular file, or over a size limit. */
export class UnsafeFileError extends Error {
  override name = "UnsafeFileError";
  constructor(
    message: string,
    readonly code: "OUTSIDE_FOLDER" | "LINK_OUTSIDE_FOLDER" | "NOT_REGULAR_FILE" | "TOO_LARGE",
  ) {
    super(message);
  }
}

export interface SafeOpenOptions {
  /**
   * The folder the file must stay inside, after resolving symbolic links. Default: the folder that holds the
   * file (so a link to elsewhere is refused).
   */
  root?: string;
  /** Follow symbolic links that lead outside `root` (the file must still be a regular file). Default false. */
  allowLinksOutside?: boolean;
}

export interface OpenedFile {
  readonly handle: FileHandle;
  /** Its size when opened (fstat of the handle). */
  readonly size: number;
  /** The absolute path that was opened (links resolved). */
  readonly realPath: string;
}

/**
 * Resolves `filePath` against `options.root` and checks it: inside the folder (lexically and after resolving
 * links). Throws an UnsafeFileError, or the file system's ENOENT / EACCES error (with its `code`) when the file
 * cannot be looked at.
 */
export async function resolveInside(filePath: string, options: SafeOpenOptions = {}): Promise<string> {
  const { fs, path } = await nodeFileSystem();
  const absolute = path.resolve(filePath);
  const root = path.resolve(options.root ?? path.dirname(absolute));
  if (!isInside(path, root, absolute)) {
    throw new UnsafeFileError(
      `"${filePath}" is outside the folder "${root}" it was asked for; names and subfolders must stay inside it (no ".." or absolute paths).`,
      "OUTSIDE_FOLDER",
    );
  }
  await fs.lstat(absolute); // ENOENT etc. with the caller's path, before realpath's less clear message
  const real = await fs.realpath(absolute);
  if (options.allowLinksOutside !== true) {
    const realRoot = await fs.realpath(root);
    if (!isInside(path, realRoot, real)) {
      throw new UnsafeFileError(
        `"${absolute}" is a symbolic link (or lies under one) that leads to "${real}", outside the folder "${root}"; ` +
          `peftjs does not follow links out of the folder it reads. Copy the file into the folder, or pass ` +
          `allowLinksOutside: true if you trust the link (e.g. a Hugging Face cache snapshot).`,
        "LINK_OUTSIDE_FOLDER",
      );
    }
  }
  return real;
}

/**
 * Opens a regular file for reading after the checks above; the caller closes `handle`. Never blocks on a FIFO.
 * `maxBytes` refuses a larger file before reading it.
 */
export async function openRegularFile(filePath: string, options: SafeOpenOptions & { maxBytes?: number } = {}): Promise<OpenedFile> {
  const { fs } = await nodeFileSystem();
  const real = await resolveInside(filePath, options);
  const { O_RDONLY = 0, O_NOFOLLOW = 0, O_NONBLOCK = 0 } = fs.constants as Partial<Record<string, number>>;
  const handle = await fs.open(real, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) {
      const kind = stats.isFIFO() ? "a FIFO (named pipe)" : stats.isCharacterDevice() ? "a character device" : stats.isBlockDevice() ? "a block device" : stats.isDirectory() ? "a directory" : stats.isSocket() ? "a socket" : "not a file";
      throw new UnsafeFileError(`"${filePath}" is ${kind}, not a regular file; peftjs reads only regular files.`, "NOT_REGULAR_FILE");
    }
    if (options.maxBytes !== undefined && stats.size > options.maxBytes) throw tooLarge(filePath, stats.size, options.maxBytes);
    return { handle, size: stats.size, realPath: real };
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
}

/** Reads a whole regular file (checked as above), refusing one over `maxBytes` (counted while reading too). */
export async function readFileSafely(filePath: string, options: SafeOpenOptions & { maxBytes: number }): Promise<Uint8Array> {
  const { handle, size } = await openRegularFile(filePath, options);
  try {
    // The size field is a hint (the file may change while read): read until EOF, never past the limit.
    let buffer = new Uint8Array(Math.min(size, options.maxBytes) + 1);
    let length = 0;
    while (true) {
      if (length === buffer.length) {
        if (length > options.maxBytes) throw tooLarge(filePath, length, options.maxBytes);
        const grown = new Uint8Array(Math.min(buffer.length * 2, options.maxBytes + 1));
        grown.set(buffer);
        buffer = grown;
      }
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > options.maxBytes) throw tooLarge(filePath, length, options.maxBytes);
    return buffer.subarray(0, length);
  } finally {
    await handle.close();
  }
}

/** Reads a UTF-8 text file (JSON), checked as above, with a size limit (default {@link MAX_JSON_BYTES}). */
export async function readTextFileSafely(filePath: string, options: SafeOpenOptions & { maxBytes?: number } = {}): Promise<string> {
  const bytes = await readFileSafely(filePath, { ...options, maxBytes: options.maxBytes ?? MAX_JSON_BYTES });
  return new TextDecoder().decode(bytes);
}

function tooLarge(filePath: string, size: number, limit: number): UnsafeFileError {
  return new UnsafeFileError(
    `"${filePath}" holds ${size > limit ? `more than ${limit}` : size} bytes, over the ${limit}-byte limit peftjs reads for this ` +
      `kind of file; it is not the file expected here (if it is, pass a larger maxBytes).`,
    "TOO_LARGE",
  );
}

function isInside(path: { relative(from: string, to: string): string; isAbsolute(p: string): boolean }, root: string, target: string): boolean {
  const rel = path.relative(root, target);
  return rel === "" || (!path.isAbsolute(rel) && !/^\.\.(?:[\\/]|$)/.test(rel));
}

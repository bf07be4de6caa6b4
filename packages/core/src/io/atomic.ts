/**
 * Atomic file and directory writes: a reader (or a crash) never sees a half-written adapter or checkpoint.
 *
 * A file is written to a temp file in the same directory (same file system, so `rename` is atomic), flushed
 * with fsync, then renamed over the target. A directory is built complete in a temp sibling directory and
 * swapped in with renames. POSIX has no portable "exchange two directories" call, so replacing an existing
 * directory takes two renames (old aside, new in); a crash exactly between them leaves the target missing
 * and the old contents in the `.<name>.old-*` sibling — never a mix of old and new files.
 */
import type { Stats } from "node:fs";
import type { FileHandle } from "node:fs/promises";

import { nodeFileSystem } from "./node.js";
import type { NodeFs, NodePath } from "./node.js";

let fs: NodeFs;
let path: NodePath;
async function loadNode(): Promise<void> {
  ({ fs, path } = await nodeFileSystem());
}

/** What a file may be written from: bytes, text (UTF-8) or a stream of byte chunks (large files). */
export type FileContent = Uint8Array | string | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

/** Writes `data` to `filePath` atomically: a temp file beside it, fsync, rename. The temp file is removed on failure. */
export async function writeFileAtomic(filePath: string, data: FileContent): Promise<void> {
  await loadNode();
  const target = path.resolve(filePath);
  const dir = path.dirname(target);
  await fs.mkdir(dir, { recursive: true });
  const existing = await lstatOrNull(target);
  if (existing?.isDirectory()) {
    throw new Error(`writeFileAtomic: "${target}" is a directory; pass the path of a file inside it.`);
  }
  const temp = path.join(dir, `.${path.basename(target)}.tmp-${uniqueSuffix()}`);
  try {
    await writeAndSync(temp, data);
    await fs.rename(temp, target);
  } catch (error) {
    await fs.rm(temp, { force: true }).catch(() => undefined);
    throw withTarget(error, `writeFileAtomic: could not write "${target}"`);
  }
  await syncDirectory(dir);
}

export interface WriteDirOptions {
  /**
   * Keep files already in `dir` that `files` does not name (e.g. tokenizer files beside `model.safetensors`).
   * They are copied into the new directory before the swap. Default false: `dir` ends up holding exactly `files`.
   */
  keepOtherFiles?: boolean;
}

/**
 * Writes a whole directory atomically: every file goes into a temp sibling directory, which then replaces
 * `dir` (old one renamed aside, new one renamed in, old one removed). On any failure `dir` is as it was and
 * no temp directory is left. Keys of `files` are relative paths (`"adapter_config.json"`, `"sub/x.bin"`).
 */
export async function writeDirAtomic(dir: string, files: Record<string, FileContent>, options: WriteDirOptions = {}): Promise<void> {
  await loadNode();
  const target = path.resolve(dir);
  const names = Object.keys(files);
  for (const name of names) checkRelativeName(name);
  const parent = path.dirname(target);
  await fs.mkdir(parent, { recursive: true });
  const existing = await lstatOrNull(target);
  if (existing !== null && !existing.isDirectory()) {
    throw new Error(`writeDirAtomic: "${target}" exists and is not a directory; remove it or choose another path.`);
  }

  const base = path.basename(target);
  const temp = await fs.mkdtemp(path.join(parent, `.${base}.tmp-`));
  try {
    if (existing !== null && options.keepOtherFiles === true) {
      // Copy everything except what `files` replaces (the new files are written next, "wx").
      const replaced = new Set(names.map((n) => path.join(target, n)));
      await fs.cp(target, temp, { recursive: true, verbatimSymlinks: true, filter: (source) => !replaced.has(path.resolve(source)) });
    }
    for (const name of names) {
      const file = path.join(temp, name);
      await fs.mkdir(path.dirname(file), { recursive: true });
      await writeAndSync(file, files[name] as FileContent);
    }
    await syncDirectory(temp);
    if (existing === null) {
      await fs.rename(temp, target);
    } else {
      await swapIn(temp, target, parent, base);
    }
  } catch (error) {
    await fs.rm(temp, { recursive: true, force: true }).catch(() => undefined);
    throw withTarget(error, `writeDirAtomic: could not write "${target}" (it is unchanged)`);
  }
  await syncDirectory(parent);
}

/** Replaces the directory `target` by `temp`; if the second rename fails, the old directory is put back. */
async function swapIn(temp: string, target: string, parent: string, base: string): Promise<void> {
  const old = path.join(parent, `.${base}.old-${uniqueSuffix()}`);
  await fs.rename(target, old);
  try {
    await fs.rename(temp, target);
  } catch (error) {
    try {
      await fs.rename(old, target);
    } catch (restoreError) {
      throw new Error(
        `writeDirAtomic: could not move the new directory into place (${describe(error)}) nor restore the old one ` +
          `(${describe(restoreError)}); the old contents are in "${old}".`,
        { cause: error },
      );
    }
    throw error;
  }
  // The new directory is in place; removing the old copy is housekeeping, so a failure here is not an error
  // of the write (at worst a `.<name>.old-*` sibling is left behind).
  await fs.rm(old, { recursive: true, force: true }).catch(() => undefined);
}

async function writeAndSync(file: string, data: FileContent): Promise<void> {
  // "wx": never follow or reuse something already at the temp path.
  const handle = await fs.open(file, "wx");
  try {
    if (typeof data === "string" || data instanceof Uint8Array) {
      await handle.writeFile(data);
    } else {
      for await (const chunk of data) {
        if (!(chunk instanceof Uint8Array)) throw new TypeError("a streamed file chunk must be a Uint8Array");
        await writeFully(handle, chunk);
      }
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function writeFully(handle: FileHandle, chunk: Uint8Array): Promise<void> {
  let done = 0;
  while (done < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, done, chunk.length - done);
    done += bytesWritten;
  }
}

/** fsync a directory so that a rename inside it survives a power loss. Not possible on every platform (Windows): best effort. */
async function syncDirectory(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await fs.open(dir, "r");
    await handle.sync();
  } catch {
    // EISDIR / EPERM / EINVAL on platforms that cannot fsync a directory.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

function checkRelativeName(name: string): void {
  const parts = name.split(/[\\/]/);
  if (name === "" || path.isAbsolute(name) || parts.some((p) => p === "" || p === "." || p === "..") || name.includes("\0")) {
    throw new Error(
      `writeDirAtomic: file name ${JSON.stringify(name)} must be a relative path inside the directory ` +
        `(no leading "/", no "." or ".." segments, no empty segments).`,
    );
  }
}

async function lstatOrNull(p: string): Promise<Stats | null> {
  try {
    return await fs.lstat(p);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
}

function uniqueSuffix(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(6));
  return `${process.pid}-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/**
 * File-system errors (they carry an errno `code` and name only the temp path) are re-thrown naming the target,
 * keeping `code` and the original as `cause`. Errors raised by the data itself (e.g. a SafetensorsError from a
 * stream) already say what is wrong and are re-thrown unchanged, keeping their type.
 */
function withTarget(error: unknown, context: string): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code !== "string") return error;
  return Object.assign(new Error(`${context}: ${describe(error)}`, { cause: error }), { code });
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

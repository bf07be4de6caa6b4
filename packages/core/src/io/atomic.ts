/**
 * Atomic file and directory writes: a reader (or a crash) never sees a half-written adapter or checkpoint.
 *
 * A file is written to a temp file in the same directory (same file system, so `rename` is atomic), flushed
 * with fsync, then renamed over the target. A directory is built complete in a temp sibling directory
 * (`.<name>.tmp-<pid>-<id>`) and swapped in with renames. POSIX has no portable "exchange two directories"
 * call, so replacing an existing directory takes two renames: the old one aside (`.<name>.old-<pid>-<id>`, the
 * same id), the new one in.
 *
 * The recovery rule ({@link recoverInterruptedWrite}, run by every save and by the loaders before they read):
 * a leftover of a process that is gone is finished or rolled back, and removed.
 * - `.old-<id>` with the target missing: the write was killed between its two renames; its new directory
 *   `.tmp-<id>` was complete (the old one is moved aside only after that), so it is moved in (finished). If it
 *   is not there, the old directory is moved back (rolled back).
 * - `.old-<id>` with the target present: the write had finished; the old copy is removed.
 * - `.tmp-<id>` alone: the write was killed while writing; it is removed (rolled back: the target is as before).
 * Leftovers of a process still running (another save in progress) are left alone.
 *
 * A save refuses a read-only target (a folder or a replaced file without the owner's write permission), keeps
 * the permissions of the folder it replaces, never writes through a symbolic link inside its target, and
 * rewrites file-system errors to name the target and the cause.
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

/** Temp and aside paths this process is using right now (never treated as leftovers). */
const inUse = new Set<string>();

/** Writes `data` to `filePath` atomically: a temp file beside it, fsync, rename. The temp file is removed on failure. */
export async function writeFileAtomic(filePath: string, data: FileContent): Promise<void> {
  await loadNode();
  const target = path.resolve(filePath);
  const dir = path.dirname(target);
  const context = `writeFileAtomic: could not write "${target}"`;
  await makeParent(dir, context);
  await recoverInterruptedWrite(target);
  const existing = await lstatOrNull(target);
  if (existing?.isDirectory()) {
    throw new Error(`writeFileAtomic: "${target}" is a directory; pass the path of a file inside it.`);
  }
  if (existing?.isSymbolicLink()) {
    throw new Error(`writeFileAtomic: "${target}" is a symbolic link; a save replaces files, it does not write through links. Remove the link or choose another path.`);
  }
  if (existing !== null && (existing.mode & 0o200) === 0) throw readOnly("writeFileAtomic", target, existing, "file");
  const temp = path.join(dir, `.${path.basename(target)}.tmp-${uniqueSuffix()}`);
  inUse.add(temp);
  try {
    await writeAndSync(temp, data);
    if (existing !== null) await fs.chmod(temp, existing.mode & 0o7777);
    await fs.rename(temp, target);
  } catch (error) {
    await fs.rm(temp, { force: true }).catch(() => undefined);
    throw withTarget(error, context);
  } finally {
    inUse.delete(temp);
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
  const context = `writeDirAtomic: could not write "${target}" (it is unchanged)`;
  await makeParent(parent, context);
  await recoverInterruptedWrite(target);
  const existing = await lstatOrNull(target);
  if (existing?.isSymbolicLink()) {
    throw new Error(`writeDirAtomic: "${target}" is a symbolic link; a save replaces the folder, it does not write through links. Save to the folder it points to, or remove the link.`);
  }
  if (existing !== null && !existing.isDirectory()) {
    throw new Error(`writeDirAtomic: "${target}" exists and is not a directory; remove it or choose another path.`);
  }
  if (existing !== null) await checkWritable(target, existing, names);

  const base = path.basename(target);
  const id = uniqueSuffix();
  const temp = path.join(parent, `.${base}.tmp-${id}`);
  const old = path.join(parent, `.${base}.old-${id}`);
  inUse.add(temp);
  inUse.add(old);
  try {
    await fs.mkdir(temp);
    if (existing !== null && options.keepOtherFiles === true) {
      // Copy everything except what `files` replaces (the new files are written next, "wx"). Links are copied as
      // links, never followed.
      const replaced = new Set(names.map((n) => path.join(target, n)));
      await fs.cp(target, temp, { recursive: true, verbatimSymlinks: true, filter: (source) => !replaced.has(path.resolve(source)) });
    }
    for (const name of names) {
      const file = path.join(temp, name);
      await makeFolders(temp, path.dirname(name), target);
      await writeAndSync(file, files[name] as FileContent);
    }
    // The folder keeps the permissions it had (mkdir gave the umask's); a new one gets the umask's.
    if (existing !== null) await fs.chmod(temp, existing.mode & 0o7777);
    await syncDirectory(temp);
    if (existing === null) {
      await fs.rename(temp, target);
    } else {
      await swapIn(temp, target, old);
    }
  } catch (error) {
    await fs.rm(temp, { recursive: true, force: true }).catch(() => undefined);
    throw withTarget(error, context);
  } finally {
    inUse.delete(temp);
    inUse.delete(old);
  }
  await syncDirectory(parent);
}

/** Replaces the directory `target` by `temp`; if the second rename fails, the old directory is put back. */
async function swapIn(temp: string, target: string, old: string): Promise<void> {
  await fs.rename(target, old);
  try {
    await fs.rename(temp, target);
  } catch (error) {
    try {
      await fs.rename(old, target);
    } catch (restoreError) {
      throw new Error(
        `writeDirAtomic: could not move the new directory into place (${describe(error)}) nor restore the old one ` +
          `(${describe(restoreError)}); the old contents are in "${old}" (the next save or load of "${target}" puts them back).`,
        { cause: error },
      );
    }
    throw error;
  }
  // The new directory is in place; removing the old copy is housekeeping, so a failure here is not an error
  // of the write (a `.<name>.old-*` sibling left behind is removed by the next save or load).
  await fs.rm(old, { recursive: true, force: true }).catch(() => undefined);
}

/**
 * The recovery rule (see the module comment): finishes or rolls back an interrupted write of `target` (a file or
 * a folder) by a process that is gone, and removes its `.tmp-*` / `.old-*` leftovers. Safe to call at any
 * time; the loaders call it before reading. Problems removing leftovers are ignored (a read-only location
 * stays as it is); a target that cannot be put back is reported.
 */
export async function recoverInterruptedWrite(target: string): Promise<void> {
  await loadNode();
  const absolute = path.resolve(target);
  const parent = path.dirname(absolute);
  const base = path.basename(absolute);
  let entries: string[];
  try {
    entries = await fs.readdir(parent);
  } catch {
    return; // no parent folder (nothing to recover) or not readable (the read itself will say so)
  }
  const tmpPrefix = `.${base}.tmp-`;
  const oldPrefix = `.${base}.old-`;
  const stale = (name: string, prefix: string): string | null => {
    if (!name.startsWith(prefix)) return null;
    const id = name.slice(prefix.length);
    const match = /^(\d+)-[0-9a-f]+$/.exec(id);
    if (match === null) return null; // not ours
    if (inUse.has(path.join(parent, name))) return null;
    return processAlive(Number(match[1])) && Number(match[1]) !== process.pid ? null : id;
  };
  const tmps = new Set(entries.flatMap((e) => stale(e, tmpPrefix) ?? []));
  const olds = entries.flatMap((e) => stale(e, oldPrefix) ?? []);
  if (tmps.size === 0 && olds.length === 0) return;

  for (const id of olds) {
    const old = path.join(parent, oldPrefix + id);
    const temp = path.join(parent, tmpPrefix + id);
    if ((await lstatOrNull(absolute)) === null) {
      // Killed between the two renames: the new folder was complete; move it in, else put the old one back.
      const source = tmps.has(id) ? temp : old;
      try {
        await fs.rename(source, absolute);
      } catch (error) {
        throw withTarget(error, `recovering "${absolute}" after an interrupted save: could not move "${source}" into place`);
      }
      tmps.delete(id);
      if (source === old) continue;
    }
    await fs.rm(old, { recursive: true, force: true }).catch(() => undefined);
  }
  for (const id of tmps) await fs.rm(path.join(parent, tmpPrefix + id), { recursive: true, force: true }).catch(() => undefined);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"; // alive, another user's
  }
}

/** Creates `dir` and its parents, with errors that say which part of the path is in the way. */
async function makeParent(dir: string, context: string): Promise<void> {
  try {
    await fs.mkdir(dir, { recursive: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST" || code === "ENOTDIR") {
      // Find the part of the path that is a file.
      let blocker = dir;
      for (let p = dir; p !== path.dirname(p); p = path.dirname(p)) {
        const st = await lstatOrNull(p).catch(() => null);
        if (st !== null && !st.isDirectory()) blocker = p;
      }
      throw Object.assign(new Error(`${context}: "${blocker}" is a file, not a folder, so the folder "${dir}" cannot be created; choose another path.`, { cause: error }), { code });
    }
    throw withTarget(error, `${context}: could not create its folder "${dir}"`);
  }
}

/** Creates the folders of `relative` inside `root` one by one, refusing a link on the way (copied from the target). */
async function makeFolders(root: string, relative: string, target: string): Promise<void> {
  if (relative === "." || relative === "") return;
  let at = root;
  for (const part of relative.split(/[\\/]/)) {
    at = path.join(at, part);
    const st = await lstatOrNull(at);
    if (st === null) {
      await fs.mkdir(at);
    } else if (st.isSymbolicLink()) {
      const shown = path.join(target, path.relative(root, at));
      throw new Error(
        `writeDirAtomic: "${shown}" is a symbolic link; a save writes its files into real folders and never through a link ` +
          `(it could lead outside "${target}"). Remove the link, or save to another folder.`,
      );
    } else if (!st.isDirectory()) {
      throw new Error(`writeDirAtomic: "${path.join(target, path.relative(root, at))}" is a file, but a folder of that name is needed.`);
    }
  }
}

/** A read-only folder, or a read-only file that the write would replace, is refused. */
async function checkWritable(target: string, stats: Stats, names: readonly string[]): Promise<void> {
  if ((stats.mode & 0o200) === 0) throw readOnly("writeDirAtomic", target, stats, "folder");
  for (const name of names) {
    const st = await lstatOrNull(path.join(target, name));
    if (st !== null && st.isFile() && (st.mode & 0o200) === 0) throw readOnly("writeDirAtomic", path.join(target, name), st, "file");
  }
}

function readOnly(fn: string, target: string, stats: Stats, kind: string): Error {
  const mode = (stats.mode & 0o777).toString(8).padStart(4, "0");
  return Object.assign(
    new Error(`${fn}: "${target}" is a read-only ${kind} (mode ${mode}); the save would replace it. Make it writable (chmod u+w) or save elsewhere.`),
    { code: "EACCES" },
  );
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

/** `<pid>-<12 hex digits>`: the pid lets a later process tell a dead writer's leftovers from a running one's. */
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
  if (error instanceof Error && error.message.startsWith(context)) return error;
  const cause = CAUSES[code];
  return Object.assign(new Error(`${context}: ${cause !== undefined ? `${cause} (${describe(error)})` : describe(error)}`, { cause: error }), { code });
}

/** What the common errno codes mean for a save, in words. */
const CAUSES: Record<string, string> = {
  EACCES: "permission denied: the folder is not writable by this user",
  EPERM: "operation not permitted",
  EROFS: "the file system is read-only",
  ENOSPC: "no space left on the device",
  EDQUOT: "the disk quota is exceeded",
  EMFILE: "too many open files",
  ENOTDIR: "a part of the path is a file, not a folder",
  EIO: "an input/output error",
};

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

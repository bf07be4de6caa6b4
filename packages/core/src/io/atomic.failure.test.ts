/**
 * File-system failures injected into node:fs/promises (disk full while writing, a failing rename during the
 * directory swap): the target must be left as it was, with no temp file or directory behind.
 */
import type * as FsModule from "node:fs/promises";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { writeDirAtomic, writeFileAtomic } from "./atomic.js";

const inject = vi.hoisted(() => ({
  /** Return true to make this rename fail with EIO. */
  rename: undefined as ((from: string, to: string) => boolean) | undefined,
  /** "open": opening this file fails (EMFILE); "write": writing to it fails (ENOSPC). */
  open: undefined as ((file: string) => "open" | "write" | undefined) | undefined,
  /** An errno code to make this mkdir fail with. */
  mkdir: undefined as ((dir: string) => string | undefined) | undefined,
}));

vi.mock("node:fs/promises", async (importOriginal) => {
  const real = await importOriginal<typeof FsModule>();
  const fail = (code: string): Error => Object.assign(new Error(`${code}: simulated failure`), { code });
  const rename: typeof real.rename = async (from, to) => {
    if (inject.rename?.(String(from), String(to)) === true) throw fail("EIO");
    return real.rename(from, to);
  };
  const open = (async (file: string, flags?: string, mode?: number) => {
    const failure = inject.open?.(String(file));
    if (failure === "open") throw fail("EMFILE");
    const handle = await real.open(file, flags, mode);
    if (failure !== "write") return handle;
    return new Proxy(handle, {
      get(target, prop) {
        if (prop === "writeFile" || prop === "write") return () => Promise.reject(fail("ENOSPC"));
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  }) as typeof real.open;
  const mkdir = (async (dir: string, options?: unknown) => {
    const code = inject.mkdir?.(String(dir));
    if (code !== undefined) throw fail(code);
    return real.mkdir(dir, options as never);
  }) as typeof real.mkdir;
  return { ...real, rename, open, mkdir };
});

let root: string;
beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), "peftjs-atomic-fail-"));
});
afterEach(async () => {
  inject.rename = undefined;
  inject.open = undefined;
  inject.mkdir = undefined;
  await fs.rm(root, { recursive: true, force: true });
});

const text = (p: string): Promise<string> => fs.readFile(p, "utf8");

describe("atomic writes under injected file-system failures", () => {
  it("writeFileAtomic: a full disk keeps the old file, removes the temp file, and names the target", async () => {
    const file = path.join(root, "adapter_model.safetensors");
    await writeFileAtomic(file, "old");
    inject.open = (f) => (path.basename(f).includes(".tmp-") ? "write" : undefined);
    const error = await writeFileAtomic(file, "new").then(() => undefined, (e: unknown) => e as Error & { code?: string });
    expect(error?.message).toMatch(/writeFileAtomic: could not write ".*adapter_model.safetensors": no space left on the device \(ENOSPC/);
    expect(error?.code).toBe("ENOSPC");
    expect(await text(file)).toBe("old");
    expect(await fs.readdir(root)).toEqual(["adapter_model.safetensors"]);
  });

  it("writeDirAtomic: failing to open the second file leaves the old directory and no temp directory", async () => {
    const dir = path.join(root, "adapter");
    await writeDirAtomic(dir, { "adapter_config.json": "old config", "adapter_model.safetensors": "old weights" });
    inject.open = (f) => (f.includes(".adapter.tmp-") && f.endsWith("adapter_model.safetensors") ? "open" : undefined);
    await expect(writeDirAtomic(dir, { "adapter_config.json": "new", "adapter_model.safetensors": "new" })).rejects.toThrow(
      /writeDirAtomic: could not write ".*adapter" \(it is unchanged\): too many open files \(EMFILE/,
    );
    expect(await text(path.join(dir, "adapter_config.json"))).toBe("old config");
    expect(await text(path.join(dir, "adapter_model.safetensors"))).toBe("old weights");
    expect(await fs.readdir(root)).toEqual(["adapter"]);
  });

  it("writeDirAtomic: a failing rename of the new directory into place puts the old one back", async () => {
    const dir = path.join(root, "adapter");
    await writeDirAtomic(dir, { "adapter_config.json": "old config" });
    inject.rename = (from, to) => from.includes(".adapter.tmp-") && to === dir;
    await expect(writeDirAtomic(dir, { "adapter_config.json": "new config" })).rejects.toThrow(/\(it is unchanged\): an input\/output error \(EIO/);
    expect(await fs.readdir(dir)).toEqual(["adapter_config.json"]);
    expect(await text(path.join(dir, "adapter_config.json"))).toBe("old config");
    expect(await fs.readdir(root)).toEqual(["adapter"]);
  });

  it("writeDirAtomic: if the old directory cannot be put back either, the error says where it is", async () => {
    const dir = path.join(root, "adapter");
    await writeDirAtomic(dir, { "adapter_config.json": "old config" });
    inject.rename = (from, to) => to === dir; // both the swap-in and the restore fail
    const error = await writeDirAtomic(dir, { "adapter_config.json": "new" }).then(() => undefined, (e: unknown) => e as Error);
    const where = /the old contents are in "(.*?)"/.exec(error?.message ?? "")?.[1];
    expect(where, error?.message).toBeDefined();
    expect(await text(path.join(where!, "adapter_config.json"))).toBe("old config");
    expect(await fs.readdir(root)).toEqual([path.basename(where!)]); // the temp directory is gone
  });

  it("writeDirAtomic: a first write into a new directory that fails leaves nothing behind", async () => {
    inject.open = () => "write";
    await expect(writeDirAtomic(path.join(root, "fresh"), { a: "x" })).rejects.toThrow(/ENOSPC/);
    expect(await fs.readdir(root)).toEqual([]);
  });

  it("EACCES / EROFS creating the temp folder are rewritten to name the target and the cause", async () => {
    const dir = path.join(root, "adapter");
    for (const [code, cause] of [["EACCES", "permission denied: the folder is not writable by this user"], ["EROFS", "the file system is read-only"]] as const) {
      inject.mkdir = (d) => (d.includes(".adapter.tmp-") ? code : undefined);
      const error = await writeDirAtomic(dir, { a: "x" }).then(() => undefined, (e: unknown) => e as Error & { code?: string });
      expect(error?.message).toContain(`writeDirAtomic: could not write "${dir}" (it is unchanged): ${cause} (${code}`);
      expect(error?.code).toBe(code);
    }
    inject.mkdir = (d) => (d === path.join(root, "sub") ? "EROFS" : undefined);
    await expect(writeFileAtomic(path.join(root, "sub", "f.json"), "x")).rejects.toThrow(/could not write ".*f.json": could not create its folder ".*sub": the file system is read-only \(EROFS/);
    expect(await fs.readdir(root)).toEqual([]);
  });
});


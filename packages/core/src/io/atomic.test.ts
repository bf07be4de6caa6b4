import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { recoverInterruptedWrite, writeDirAtomic, writeFileAtomic } from "./atomic.js";

let root: string;
beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), "peftjs-atomic-"));
});
afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

const text = (p: string): Promise<string> => fs.readFile(p, "utf8");

/** A stream that yields `chunks` and then fails, like a serializer hitting a bad value half-way. */
async function* failingStream(chunks: string[], error: Error): AsyncGenerator<Uint8Array> {
  for (const c of chunks) {
    await new Promise((resolve) => setImmediate(resolve)); // a real producer (tensor.data()) is asynchronous
    yield new TextEncoder().encode(c);
  }
  throw error;
}

describe("writeFileAtomic", () => {
  it("writes bytes, text, and sync or async chunk streams, creating parent folders", async () => {
    const file = path.join(root, "a", "b", "f.bin");
    await writeFileAtomic(file, new Uint8Array([1, 2, 3]));
    expect([...(await fs.readFile(file))]).toEqual([1, 2, 3]);
    await writeFileAtomic(file, "héllo");
    expect(await text(file)).toBe("héllo");
    await writeFileAtomic(file, [new Uint8Array([4]), new Uint8Array([5, 6])]);
    expect([...(await fs.readFile(file))]).toEqual([4, 5, 6]);
    await writeFileAtomic(file, (async function* () {
      yield await Promise.resolve(new Uint8Array(70_000).fill(7));
      yield new Uint8Array([8]);
    })());
    const back = await fs.readFile(file);
    expect([back.length, back[0], back[70_000]]).toEqual([70_001, 7, 8]);
    expect(await fs.readdir(path.dirname(file))).toEqual(["f.bin"]); // no temp file left behind
  });

  it("keeps the old file and leaves no temp file when the data fails half-way", async () => {
    const file = path.join(root, "f.txt");
    await writeFileAtomic(file, "old");
    const boom = new Error("bad value in tensor 3");
    await expect(writeFileAtomic(file, failingStream(["new", "er"], boom))).rejects.toBe(boom);
    expect(await text(file)).toBe("old");
    expect(await fs.readdir(root)).toEqual(["f.txt"]);
  });

  it("refuses a directory as the target", async () => {
    await expect(writeFileAtomic(root, "x")).rejects.toThrow(/is a directory; pass the path of a file inside it/);
  });
});

describe("writeDirAtomic", () => {
  it("creates a directory holding exactly the given files, nested ones included", async () => {
    const dir = path.join(root, "adapter");
    await writeDirAtomic(dir, { "adapter_config.json": '{"r": 8}', "adapter_model.safetensors": new Uint8Array([9]), "sub/inner.txt": "in" });
    expect((await fs.readdir(dir)).sort()).toEqual(["adapter_config.json", "adapter_model.safetensors", "sub"]);
    expect(await text(path.join(dir, "sub", "inner.txt"))).toBe("in");
    expect(await fs.readdir(root)).toEqual(["adapter"]);
  });

  it("replaces an existing directory whole, or keeps its other files on request", async () => {
    const dir = path.join(root, "ckpt");
    await writeDirAtomic(dir, { "config.json": "v1", "tokenizer.json": "tok" });
    await writeDirAtomic(dir, { "config.json": "v2" });
    expect(await fs.readdir(dir)).toEqual(["config.json"]);
    expect(await text(path.join(dir, "config.json"))).toBe("v2");

    await writeDirAtomic(dir, { "config.json": "v3", "tokenizer.json": "tok" });
    await writeDirAtomic(dir, { "config.json": "v4" }, { keepOtherFiles: true });
    expect((await fs.readdir(dir)).sort()).toEqual(["config.json", "tokenizer.json"]);
    expect(await text(path.join(dir, "config.json"))).toBe("v4");
    expect(await fs.readdir(root)).toEqual(["ckpt"]); // no .tmp-* or .old-* sibling
  });

  it("leaves the old directory intact and no temp directory when a file fails mid-write", async () => {
    const dir = path.join(root, "adapter");
    await writeDirAtomic(dir, { "adapter_config.json": "old config", "adapter_model.safetensors": "old weights" });
    const boom = new Error("disk full (simulated by the stream)");
    await expect(
      writeDirAtomic(dir, { "adapter_config.json": "new config", "adapter_model.safetensors": failingStream(["partial"], boom) }),
    ).rejects.toBe(boom);
    expect(await text(path.join(dir, "adapter_config.json"))).toBe("old config");
    expect(await text(path.join(dir, "adapter_model.safetensors"))).toBe("old weights");
    expect(await fs.readdir(root)).toEqual(["adapter"]);
  });

  it("refuses file names that escape the directory, and a file as the target", async () => {
    for (const bad of ["../x", "/abs", "a//b", "./a", "", "a/../../b", "a\0b"]) {
      await expect(writeDirAtomic(path.join(root, "d"), { [bad]: "x" })).rejects.toThrow(/must be a relative path inside the directory/);
    }
    await fs.writeFile(path.join(root, "file"), "x");
    await expect(writeDirAtomic(path.join(root, "file"), { a: "x" })).rejects.toThrow(/exists and is not a directory/);
    expect((await fs.readdir(root)).sort()).toEqual(["file"]);
  });
});

/** A pid no process has (Linux pid_max is at most 2^22). */
const DEAD = 999_999_999;
const posix = process.platform !== "win32";

describe("the recovery rule for interrupted writes", () => {
  async function folder(p: string, version: string): Promise<void> {
    await fs.mkdir(p, { recursive: true });
    await fs.writeFile(path.join(p, "adapter_config.json"), version);
  }

  it("killed between the two renames: the complete new folder is moved in (finished), the old one removed", async () => {
    const dir = path.join(root, "ad");
    await folder(path.join(root, `.ad.old-${DEAD}-aa11`), "old");
    await folder(path.join(root, `.ad.tmp-${DEAD}-aa11`), "new");
    await recoverInterruptedWrite(dir);
    expect(await text(path.join(dir, "adapter_config.json"))).toBe("new");
    expect(await fs.readdir(root)).toEqual(["ad"]);
  });

  it("only the old folder aside: it is moved back (rolled back)", async () => {
    const dir = path.join(root, "ad");
    await folder(path.join(root, `.ad.old-${DEAD}-bb22`), "old");
    await recoverInterruptedWrite(dir);
    expect(await text(path.join(dir, "adapter_config.json"))).toBe("old");
    expect(await fs.readdir(root)).toEqual(["ad"]);
  });

  it("a finished or half-written save's leftovers beside the target are removed, by the next save too", async () => {
    const dir = path.join(root, "ad");
    await folder(dir, "current");
    await folder(path.join(root, `.ad.old-${DEAD}-cc33`), "old");
    await folder(path.join(root, `.ad.tmp-${DEAD}-dd44`), "half");
    await fs.writeFile(path.join(root, `.f.json.tmp-${DEAD}-ee55`), "half");
    await writeDirAtomic(dir, { "adapter_config.json": "next" });
    await writeFileAtomic(path.join(root, "f.json"), "x");
    expect(await text(path.join(dir, "adapter_config.json"))).toBe("next");
    expect((await fs.readdir(root)).sort()).toEqual(["ad", "f.json"]);
  });

  it("leaves alone the leftovers of a process still running, and names it does not own", async () => {
    const dir = path.join(root, "ad");
    await folder(dir, "current");
    const live = `.ad.tmp-${process.ppid}-ff66`;
    await folder(path.join(root, live), "in progress");
    await folder(path.join(root, ".ad.tmp-mine"), "not peftjs");
    await recoverInterruptedWrite(dir);
    expect((await fs.readdir(root)).sort()).toEqual([".ad.tmp-mine", live, "ad"].sort());
  });
});

describe("save targets", () => {
  it.runIf(posix)("keeps the permissions of the folder it replaces", async () => {
    const dir = path.join(root, "ad");
    await writeDirAtomic(dir, { a: "1" });
    await fs.chmod(dir, 0o750);
    await writeDirAtomic(dir, { a: "2" }, { keepOtherFiles: true });
    expect((await fs.stat(dir)).mode & 0o777).toBe(0o750);
    await fs.writeFile(path.join(root, "f"), "1");
    await fs.chmod(path.join(root, "f"), 0o640);
    await writeFileAtomic(path.join(root, "f"), "2");
    expect((await fs.stat(path.join(root, "f"))).mode & 0o777).toBe(0o640);
  });

  it.runIf(posix)("refuses a read-only folder or file, leaving it as it was", async () => {
    const dir = path.join(root, "ad");
    await writeDirAtomic(dir, { "adapter_config.json": "old" });
    await fs.chmod(path.join(dir, "adapter_config.json"), 0o444);
    await expect(writeDirAtomic(dir, { "adapter_config.json": "new" })).rejects.toThrow(/adapter_config.json" is a read-only file \(mode 0444\).*chmod u\+w/);
    await fs.chmod(dir, 0o555);
    await expect(writeDirAtomic(dir, { other: "new" })).rejects.toThrow(/ad" is a read-only folder \(mode 0555\); the save would replace it/);
    await expect(writeFileAtomic(path.join(dir, "adapter_config.json"), "new")).rejects.toThrow(/is a read-only file \(mode 0444\)/);
    expect(await text(path.join(dir, "adapter_config.json"))).toBe("old");
    await fs.chmod(dir, 0o755);
    expect(await fs.readdir(root)).toEqual(["ad"]);
  });

  it("a path under a file: the error names the file in the way", async () => {
    await fs.writeFile(path.join(root, "file"), "x");
    await expect(writeDirAtomic(path.join(root, "file", "sub", "ad"), { a: "x" })).rejects.toThrow(/"[^"]*file" is a file, not a folder, so the folder .* cannot be created/);
    await expect(writeFileAtomic(path.join(root, "file", "a.json"), "x")).rejects.toThrow(/"[^"]*file" is a file, not a folder/);
  });

  it.runIf(posix)("never writes through a link inside its target, nor replaces a linked target", async () => {
    const out = path.join(root, "out");
    await fs.mkdir(out);
    const dir = path.join(root, "ad");
    await writeDirAtomic(dir, { "adapter_config.json": "default" });
    await fs.symlink(out, path.join(dir, "task1"));
    await expect(writeDirAtomic(dir, { "adapter_config.json": "d2", "task1/adapter_config.json": "t" }, { keepOtherFiles: true })).rejects.toThrow(
      /ad\/task1" is a symbolic link; a save writes its files into real folders and never through a link/,
    );
    expect(await fs.readdir(out)).toEqual([]);
    expect(await text(path.join(dir, "adapter_config.json"))).toBe("default");
    await fs.symlink(dir, path.join(root, "link"));
    await expect(writeDirAtomic(path.join(root, "link"), { a: "x" })).rejects.toThrow(/link" is a symbolic link; a save replaces the folder/);
    await fs.symlink(path.join(out, "x.json"), path.join(root, "x.json"));
    await expect(writeFileAtomic(path.join(root, "x.json"), "x")).rejects.toThrow(/is a symbolic link; a save replaces files/);
    expect(await fs.readdir(out)).toEqual([]);
  });
});

import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { writeDirAtomic, writeFileAtomic } from "./atomic.js";

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

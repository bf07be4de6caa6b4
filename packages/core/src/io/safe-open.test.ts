/** The safe file opener: no reading outside the folder, no hang on a FIFO, no device files, size limits. */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { UnsafeFileError, openRegularFile, readFileSafely, readTextFileSafely } from "./safe-open.js";
import { readSafetensors } from "./safetensors-file.js";

let root: string;
let outside: string;
beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), "peftjs-open-"));
  outside = await fs.mkdtemp(path.join(os.tmpdir(), "peftjs-outside-"));
  await fs.writeFile(path.join(outside, "secret.json"), '{"secret": true}');
});
afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
  await fs.rm(outside, { recursive: true, force: true });
});

const posix = process.platform !== "win32";

describe("openRegularFile / readTextFileSafely", () => {
  it("reads a regular file, and follows a link that stays inside the folder", async () => {
    await fs.writeFile(path.join(root, "a.json"), "{}");
    await fs.symlink("a.json", path.join(root, "b.json"));
    expect(await readTextFileSafely(path.join(root, "a.json"))).toBe("{}");
    expect(await readTextFileSafely(path.join(root, "b.json"))).toBe("{}");
  });

  it("refuses a link out of the folder (file or folder on the way) unless allowLinksOutside", async () => {
    await fs.symlink(path.join(outside, "secret.json"), path.join(root, "config.json"));
    await fs.symlink(outside, path.join(root, "sub"));
    for (const p of [path.join(root, "config.json"), path.join(root, "sub", "secret.json")]) {
      const error = await readTextFileSafely(p, { root }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnsafeFileError);
      expect((error as UnsafeFileError).code).toBe("LINK_OUTSIDE_FOLDER");
      expect(String(error)).toMatch(/leads to .*outside the folder.*allowLinksOutside: true/);
      expect(String(error)).not.toContain("secret\": true"); // the content is never quoted
    }
    expect(await readTextFileSafely(path.join(root, "config.json"), { allowLinksOutside: true })).toBe('{"secret": true}');
  });

  it("refuses a path that leaves the folder by name", async () => {
    const error = await readTextFileSafely(path.join(root, "..", path.basename(outside), "secret.json"), { root }).catch((e: unknown) => e);
    expect((error as UnsafeFileError).code).toBe("OUTSIDE_FOLDER");
  });

  it.runIf(posix)("never blocks on a FIFO: refused at once", async () => {
    const fifo = path.join(root, "adapter_config.json");
    execFileSync("mkfifo", [fifo]);
    const started = Date.now();
    await expect(readTextFileSafely(fifo)).rejects.toThrow(/is a FIFO \(named pipe\), not a regular file/);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it.runIf(posix)("refuses /dev/zero behind a link (opted in) as a character device, without reading it", async () => {
    await fs.symlink("/dev/zero", path.join(root, "config.json"));
    await expect(readTextFileSafely(path.join(root, "config.json"))).rejects.toThrow(/leads to "\/dev\/zero", outside the folder/);
    await expect(readTextFileSafely(path.join(root, "config.json"), { allowLinksOutside: true })).rejects.toThrow(/is a character device, not a regular file/);
    await fs.symlink("/dev/zero", path.join(root, "adapter_model.safetensors"));
    await expect(readSafetensors(path.join(root, "adapter_model.safetensors"), { allowLinksOutside: true })).rejects.toThrow(/character device/);
  });

  it("refuses a directory and a file over the size limit", async () => {
    await expect(openRegularFile(root, { root: path.dirname(root) })).rejects.toThrow(/is a directory, not a regular file/);
    await fs.writeFile(path.join(root, "big.json"), "x".repeat(1000));
    await expect(readFileSafely(path.join(root, "big.json"), { maxBytes: 999 })).rejects.toThrow(/over the 999-byte limit/);
    expect((await readFileSafely(path.join(root, "big.json"), { maxBytes: 1000 })).length).toBe(1000);
  });

  it("keeps the file system's error code for a missing file", async () => {
    await expect(readTextFileSafely(path.join(root, "missing.json"))).rejects.toMatchObject({ code: "ENOENT" });
  });
});

/**
 * Hostile adapter folders (issue 18): loads and saves never leave the folder, never hang on a FIFO or a device,
 * refuse an oversized weights file by its limit, and finish or roll back an interrupted save.
 */
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, open, readFile, readdir, rename, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";

import { PeftModel, UnsafeFileError, createRegistry, getPeftModel, setSeed, silentLogger } from "../index.js";
import type { Module } from "../index.js";
import { TinyModel } from "../../test/support/tiny-model.js";
import { scale, scaleMethod } from "../../test/support/scale-method.js";

const registry = createRegistry(scaleMethod);
const posix = process.platform !== "win32";
const made: Module[] = [];
const dirs: string[] = [];
function tiny(): TinyModel {
  setSeed(1);
  const m = new TinyModel();
  made.push(m);
  return m;
}
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "peftjs-hostile-"));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  for (const m of made.splice(0)) m.dispose();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

/** A saved adapter folder: "default" in `root/ad`, "task1" in `root/ad/task1`. */
async function savedAdapter(root: string): Promise<string> {
  const peft = getPeftModel(tiny(), scale({ targetModules: ["fc1"], initScale: "random" }), "default", { registry, logger: silentLogger });
  peft.addAdapter("task1", scale({ targetModules: ["fc2"], initScale: "random" }));
  const dir = join(root, "ad");
  await peft.save(dir);
  return dir;
}
const load = (dir: string, options: Parameters<typeof PeftModel.fromPretrained>[2] = {}): Promise<PeftModel<TinyModel>> =>
  PeftModel.fromPretrained(tiny(), dir, { registry, logger: silentLogger, ...options });

describe("loading from a hostile folder", () => {
  it('refuses a subfolder that leaves the folder ("../elsewhere", absolute)', async () => {
    const root = await tempDir();
    const dir = await savedAdapter(root);
    await mkdir(join(root, "elsewhere"));
    for (const sub of ["../elsewhere", "task1/../../elsewhere", "/etc"]) {
      await expect(load(dir, { subfolder: sub })).rejects.toThrow(/subfolder .* must be a relative folder name inside the adapter folder/);
    }
    await expect(load(dir, { subfolder: "task1" })).resolves.toBeInstanceOf(PeftModel);
  });

  it.runIf(posix)("refuses adapter files linked out of the folder, without quoting their content", async () => {
    const root = await tempDir();
    const dir = await savedAdapter(root);
    await rm(join(dir, "adapter_config.json"));
    await symlink("/etc/passwd", join(dir, "adapter_config.json"));
    const error = await load(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnsafeFileError);
    expect(String(error)).toMatch(/leads to "\/etc\/passwd", outside the folder/);
    expect(String(error)).not.toMatch(/root:/);

    const dir2 = await savedAdapter(join(root, "two"));
    const outside = join(root, "outside.safetensors");
    await rename(join(dir2, "adapter_model.safetensors"), outside);
    await symlink(outside, join(dir2, "adapter_model.safetensors"));
    await expect(load(dir2)).rejects.toThrow(/adapter_model.safetensors" is a symbolic link .* outside the folder/);
    await expect(load(dir2, { allowLinksOutside: true })).resolves.toBeInstanceOf(PeftModel); // opted in
  });

  it.runIf(posix)("refuses /dev/zero as the weights and a FIFO as the config at once (no hang, no 3 GB read)", async () => {
    const root = await tempDir();
    const dir = await savedAdapter(root);
    await rm(join(dir, "adapter_model.safetensors"));
    await symlink("/dev/zero", join(dir, "adapter_model.safetensors"));
    const started = Date.now();
    await expect(load(dir, { allowLinksOutside: true })).rejects.toThrow(/is a character device, not a regular file/);
    await rm(join(dir, "adapter_config.json"));
    execFileSync("mkfifo", [join(dir, "adapter_config.json")]);
    await expect(load(dir)).rejects.toThrow(/is a FIFO \(named pipe\), not a regular file/);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it("a 2.5 GB (sparse) weights file is refused naming the 2 GiB limit, not reported missing", async () => {
    const root = await tempDir();
    const dir = await savedAdapter(root);
    const handle = await open(join(dir, "adapter_model.safetensors"), "r+");
    await handle.truncate(2.5e9);
    await handle.close();
    await expect(load(dir)).rejects.toThrow(/adapter_model.safetensors" is larger than 2147483648 bytes \(2 GiB\), the limit for an adapter's weights/);
  });

  it("a load finishes a save killed between its two renames (the target missing, the data in .old-*)", async () => {
    const root = await tempDir();
    const dir = await savedAdapter(root);
    const aside = join(root, `.ad.old-999999999-0a0b0c`);
    await rename(dir, aside);
    const peft = await load(dir);
    expect(peft.adapterNames()).toEqual(["default"]);
    expect(await readdir(root)).toEqual(["ad"]);
  });
});

describe("saving next to links", () => {
  it.runIf(posix)("with ad/task1 a link to out/, save refuses and writes nothing into out/", async () => {
    const root = await tempDir();
    const dir = await savedAdapter(root);
    await rm(join(dir, "task1"), { recursive: true });
    await mkdir(join(root, "out"));
    await symlink(join(root, "out"), join(dir, "task1"));
    const peft = getPeftModel(tiny(), scale({ targetModules: ["fc1"] }), "default", { registry, logger: silentLogger });
    peft.addAdapter("task1", scale({ targetModules: ["fc2"] }));
    await expect(peft.save(dir)).rejects.toThrow(/ad\/task1" is a symbolic link; a save writes its files into real folders/);
    expect(await readdir(join(root, "out"))).toEqual([]);
    expect(JSON.parse(await readFile(join(dir, "adapter_config.json"), "utf8"))).toMatchObject({ peft_type: "TEST_SCALE" });
    await writeFile(join(root, "marker"), "");
  });
});

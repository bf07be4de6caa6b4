import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { tf } from "../tf.js";
import { SafetensorsError } from "./safetensors.js";
import { readSafetensors, readSafetensorsHeader, saveSafetensors } from "./safetensors-file.js";
import { buildFile, concat, le } from "./__tests__/build.js";

let root: string;
let baseline = 0;
beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), "peftjs-st-"));
  baseline = tf.memory().numTensors;
});
afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
  expect(tf.memory().numTensors).toBe(baseline);
});

describe("safetensors files", () => {
  it("saves and reads back tensors, dtypes and metadata", async () => {
    const file = path.join(root, "adapter_model.safetensors");
    const a = tf.tensor([[0.5, -1], [1 / 3, 7]]);
    const ids = tf.tensor([3, -4], [2], "int32");
    await saveSafetensors(file, { "base_model.model.lora_A.weight": a, ids }, { metadata: { format: "pt" }, dtypes: { ids: "I64" } });
    expect(await fs.readdir(root)).toEqual(["adapter_model.safetensors"]);

    const header = await readSafetensorsHeader(file);
    expect(header.metadata).toEqual({ format: "pt" });
    expect([...header.tensors]).toEqual([
      ["ids", { dtype: "I64", shape: [2], dataOffsets: [0, 16] }],
      ["base_model.model.lora_A.weight", { dtype: "F32", shape: [2, 2], dataOffsets: [16, 32] }],
    ]);
    expect(tf.memory().numTensors).toBe(baseline + 2); // the header read made no tensor

    const { tensors, metadata } = await readSafetensors(file);
    expect(metadata).toEqual({ format: "pt" });
    expect(tensors.get("base_model.model.lora_A.weight")!.arraySync()).toEqual([[0.5, -1], [Math.fround(1 / 3), 7]]);
    expect([tensors.get("ids")!.dtype, tensors.get("ids")!.arraySync()]).toEqual(["int32", [3, -4]]);
    for (const t of tensors.values()) t.dispose();
    a.dispose();
    ids.dispose();
  });

  it("reads only the byte ranges it needs: one small tensor of a 3 GiB (sparse) file", async () => {
    // Too large for fs.readFile (and any single Buffer); the reader must seek instead.
    const big = 3 * 2 ** 30;
    const header = {
      small: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
      huge: { dtype: "F32", shape: [big / 4], data_offsets: [8, 8 + big] },
    };
    const file = path.join(root, "model.safetensors");
    await fs.writeFile(file, buildFile(header, le("f32", [1.5, -2])));
    const fileSize = (await fs.stat(file)).size + big;
    await fs.truncate(file, fileSize); // sparse: takes no disk space
    expect((await readSafetensorsHeader(file)).tensors.get("huge")!.shape).toEqual([big / 4]);
    const { tensors } = await readSafetensors(file, { names: ["small"] });
    expect(tensors.get("small")!.arraySync()).toEqual([1.5, -2]);
    tensors.get("small")!.dispose();
  });

  it("names the file in errors about a malformed or truncated file", async () => {
    const file = path.join(root, "bad.safetensors");
    const good = buildFile({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }, le("f32", [1, 2]));
    await fs.writeFile(file, good.subarray(0, good.length - 1));
    await expect(readSafetensors(file)).rejects.toThrow(SafetensorsError);
    await expect(readSafetensors(file)).rejects.toThrow(/bad\.safetensors: tensor "a": data_offsets \[0, 8\] run past the end of the data section \(7 bytes\)/);
    await fs.writeFile(file, new Uint8Array(3));
    await expect(readSafetensorsHeader(file)).rejects.toThrow(/bad\.safetensors: the file is 3 bytes long/);
    await expect(readSafetensors(path.join(root, "missing.safetensors"))).rejects.toThrow(/ENOENT/);
    await expect(readSafetensors(root)).rejects.toThrow(/is a directory, not a regular file/);
  });

  it("disposes what it read when a later tensor cannot be converted", async () => {
    const file = path.join(root, "i64.safetensors");
    const data = concat(le("f32", [1]), new Uint8Array([0, 0, 0, 0, 1, 0, 0, 0])); // 2^32 as I64
    await fs.writeFile(file, buildFile({ a: { dtype: "F32", shape: [1], data_offsets: [0, 4] }, z: { dtype: "I64", shape: [1], data_offsets: [4, 12] } }, data));
    await expect(readSafetensors(file)).rejects.toThrow(/tensor "z" \(I64\) element 0 is 4294967296, outside the int32 range/);
  });

  it("keeps the previous file when a save fails half-way, and checks arguments before writing", async () => {
    const file = path.join(root, "adapter_model.safetensors");
    const ok = tf.tensor([1, 2]);
    await saveSafetensors(file, { ok });
    const before = await fs.readFile(file);

    const tooBig = tf.tensor([1, 999], [2], "int32"); // found only while streaming the data
    await expect(saveSafetensors(file, { ok, tooBig }, { dtypes: { tooBig: "U8" } })).rejects.toThrow(SafetensorsError);
    expect(Buffer.compare(await fs.readFile(file), before)).toBe(0);
    expect(await fs.readdir(root)).toEqual(["adapter_model.safetensors"]);

    await expect(saveSafetensors(path.join(root, "new.safetensors"), { ok }, { dtypes: { ok: "I64" } })).rejects.toThrow(/can be stored as F32, F16, BF16/);
    expect(await fs.readdir(root)).toEqual(["adapter_model.safetensors"]);
    ok.dispose();
    tooBig.dispose();
  });
});

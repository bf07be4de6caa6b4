/**
 * Large files: a tensor over MAX_TENSOR_BYTES is refused naming the file, the tensor and the limit (before
 * anything is allocated); reading an F32 file peaks at ≤ 1.25× its size (measured in a fresh process).
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { tf } from "../tf.js";
import { MAX_TENSOR_BYTES, SafetensorsError } from "./safetensors.js";
import { readSafetensors, readSafetensorsHeader } from "./safetensors-file.js";

let root: string;
beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), "peftjs-big-"));
});
afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

/** A sparse file: a header for one tensor `w` of `bytes` bytes, the data a hole of zeros. */
async function sparseFile(name: string, dtype: string, elements: number, itemSize: number): Promise<string> {
  const file = path.join(root, name);
  const json = JSON.stringify({ w: { dtype, shape: [elements], data_offsets: [0, elements * itemSize] } });
  const header = Buffer.from(json.padEnd(Math.ceil(json.length / 8) * 8, " "));
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(header.length));
  const handle = await fs.open(file, "w");
  await handle.write(Buffer.concat([prefix, header]));
  await handle.truncate(8 + header.length + elements * itemSize);
  await handle.close();
  return file;
}

describe("safetensors files over the limits", () => {
  it("a 5 GiB sparse file with one valid tensor: the header reads, the tensor is refused naming file, tensor and limit", async () => {
    const file = await sparseFile("model.safetensors", "F32", (5 * 2 ** 30) / 4, 4);
    expect((await fs.stat(file)).size).toBeGreaterThan(5 * 2 ** 30);
    const header = await readSafetensorsHeader(file);
    expect(header.tensors.get("w")?.shape).toEqual([(5 * 2 ** 30) / 4]);
    const before = tf.memory().numTensors;
    const rss = process.memoryUsage().rss;
    const error = await readSafetensors(file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SafetensorsError);
    expect(String(error)).toContain(file);
    expect(String(error)).toMatch(/tensor "w" \(F32, shape \[1342177280\]\) would take 5368709120 bytes in tfjs, over the 2147483648-byte \(2 GiB\) limit/);
    expect(tf.memory().numTensors).toBe(before);
    expect(process.memoryUsage().rss - rss).toBeLessThan(256 * 2 ** 20); // nothing of the 5 GiB was allocated
  });

  it("a 4.5 GiB F16 tensor (9 GiB as float32) and a tensor just over the limit are refused the same way", async () => {
    const f16 = await sparseFile("f16.safetensors", "F16", (4.5 * 2 ** 30) / 2, 2);
    await expect(readSafetensors(f16)).rejects.toThrow(/tensor "w" \(F16.*would take 9663676416 bytes in tfjs, over the 2147483648-byte/);
    const justOver = await sparseFile("over.safetensors", "F32", MAX_TENSOR_BYTES / 4 + 1, 4);
    await expect(readSafetensors(justOver)).rejects.toThrow(/over the 2147483648-byte \(2 GiB\) limit/);
  });

  it("reading a 128 MiB F32 file peaks at ≤ 1.25× its size (fresh process, maxRSS)", () => {
    const script = fileURLToPath(new URL("../../scripts/measure-read-memory.ts", import.meta.url));
    const out = execFileSync(process.execPath, ["--conditions=@peftjs/source", "--import", "tsx", script, "128", "F32"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    const result = JSON.parse(out.trim().split("\n").pop()!) as { ratio: number; numel: number };
    expect(result.numel).toBe(2 ** 25);
    expect(result.ratio).toBeLessThanOrEqual(1.25);
  }, 60_000);
});

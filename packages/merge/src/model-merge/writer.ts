/**
 * Streams merged tensors into a sharded HF folder: the shard layout and every header are computed from the
 * shapes up front, so each tensor's bytes go to disk as they are produced (chunk by chunk) and no shard is
 * ever held in memory. The folder is written beside the target and renamed into place at the end (a failed
 * merge leaves nothing behind). Layout as `transformers` writes it: `model.safetensors` for one shard, else
 * `model-0000i-of-0000n.safetensors` + `model.safetensors.index.json` ({ metadata.total_size, weight_map }).
 */
import { mkdir, open, rename, rm, stat, readdir, writeFile } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { float32ToBFloat16Bits, float32ToFloat16Bits } from "@peftjs/core";

export type OutDtype = "float32" | "float16" | "bfloat16";
const ST: Record<OutDtype, { code: string; size: number }> = {
  float32: { code: "F32", size: 4 },
  float16: { code: "F16", size: 2 },
  bfloat16: { code: "BF16", size: 2 },
};

export interface PlannedTensor {
  name: string;
  shape: readonly number[];
  dtype: OutDtype;
}

interface Shard {
  file: string;
  tensors: PlannedTensor[];
  head: Uint8Array;
}

/** Splits tensors (in order) into shards of at most `maxShardBytes` of data (a larger tensor gets its own shard). */
export function planShards(tensors: readonly PlannedTensor[], maxShardBytes: number): Shard[] {
  const groups: PlannedTensor[][] = [];
  let current: PlannedTensor[] = [];
  let bytes = 0;
  for (const t of tensors) {
    const n = nbytes(t);
    if (current.length > 0 && bytes + n > maxShardBytes) {
      groups.push(current);
      current = [];
      bytes = 0;
    }
    current.push(t);
    bytes += n;
  }
  if (current.length > 0) groups.push(current);
  const width = 5;
  return groups.map((g, i) => ({
    file: groups.length === 1 ? "model.safetensors" : `model-${String(i + 1).padStart(width, "0")}-of-${String(groups.length).padStart(width, "0")}.safetensors`,
    tensors: g,
    head: header(g),
  }));
}

function nbytes(t: PlannedTensor): number {
  return t.shape.reduce((a, b) => a * b, 1) * ST[t.dtype].size;
}

function header(tensors: PlannedTensor[]): Uint8Array {
  const parts = [`"__metadata__":{"format":"pt"}`];
  let offset = 0;
  for (const t of tensors) {
    const n = nbytes(t);
    parts.push(`${JSON.stringify(t.name)}:{"dtype":"${ST[t.dtype].code}","shape":${JSON.stringify(t.shape)},"data_offsets":[${offset},${offset + n}]}`);
    offset += n;
  }
  const json = new TextEncoder().encode(`{${parts.join(",")}}`);
  const len = Math.ceil(json.length / 8) * 8;
  const head = new Uint8Array(8 + len).fill(0x20);
  new DataView(head.buffer).setBigUint64(0, BigInt(len), true);
  head.set(json, 8);
  return head;
}

export function encode(values: Float32Array, dtype: OutDtype): Uint8Array {
  if (dtype === "float32") return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const out = new Uint16Array(values.length);
  const f = dtype === "float16" ? float32ToFloat16Bits : float32ToBFloat16Bits;
  for (let i = 0; i < values.length; i++) out[i] = f(values[i]!);
  return new Uint8Array(out.buffer);
}

/** Writes the folder; `produce(tensor, write)` must call `write` with the tensor's values in order, in any number of chunks. */
export async function writeShardedFolder(
  outDir: string,
  tensors: readonly PlannedTensor[],
  maxShardBytes: number,
  produce: (t: PlannedTensor, write: (chunk: Float32Array) => Promise<void>) => Promise<void>,
  extraFiles: Record<string, string | Uint8Array>,
): Promise<void> {
  const target = resolve(outDir);
  const existing = await stat(target).catch(() => null);
  if (existing !== null && (!existing.isDirectory() || (await readdir(target)).length > 0)) {
    throw new Error(`output ${target} exists and is not an empty folder; choose a new path (nothing was written).`);
  }
  await mkdir(dirname(target), { recursive: true });
  const temp = join(dirname(target), `.${basename(target)}.partial-${process.pid}`);
  await rm(temp, { recursive: true, force: true });
  await mkdir(temp);
  try {
    const shards = planShards(tensors, maxShardBytes);
    const weightMap: Record<string, string> = {};
    let totalSize = 0;
    for (const shard of shards) {
      const handle: FileHandle = await open(join(temp, shard.file), "w");
      try {
        await handle.write(shard.head);
        for (const t of shard.tensors) {
          let written = 0;
          await produce(t, async (chunk) => {
            const bytes = encode(chunk, t.dtype);
            await handle.write(bytes);
            written += bytes.length;
          });
          if (written !== nbytes(t)) throw new Error(`internal: tensor "${t.name}" produced ${written} bytes, ${nbytes(t)} expected.`);
          weightMap[t.name] = shard.file;
          totalSize += written;
        }
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
    if (shards.length > 1) {
      await writeFile(join(temp, "model.safetensors.index.json"), JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2) + "\n");
    }
    for (const [name, content] of Object.entries(extraFiles)) await writeFile(join(temp, name), content);
    if (existing !== null) await rm(target, { recursive: true });
    await rename(temp, target);
  } catch (e) {
    await rm(temp, { recursive: true, force: true });
    throw e;
  }
}

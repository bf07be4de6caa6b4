/**
 * Peak memory of reading one safetensors file with readSafetensors, in a fresh process:
 *   node --conditions=@peftjs/source --import tsx packages/core/scripts/measure-read-memory.ts <MiB> [F32|F16|BF16|I64]
 * writes a file of one tensor of that size in a temp folder, reads it, and prints one JSON line:
 * { fileBytes, rssBefore, peakRss, ratio } where ratio = (peak RSS − RSS before the read) / file size.
 * safetensors-file.memory.test.ts runs it and checks ratio ≤ 1.25 for F32.
 */
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";

import { tf } from "../src/tf.js";
import { readSafetensors } from "../src/io/safetensors-file.js";

const mib = Number(process.argv[2] ?? "128");
const dtype = process.argv[3] ?? "F32";
const size = { F32: 4, F16: 2, BF16: 2, I64: 8 }[dtype];
if (size === undefined || !(mib > 0)) throw new Error("usage: measure-read-memory.ts <MiB> [F32|F16|BF16|I64]");

await tf.ready();
const dir = await fs.mkdtemp(path.join(os.tmpdir(), "peftjs-mem-"));
try {
  const file = path.join(dir, "model.safetensors");
  const bytes = mib * 2 ** 20;
  const json = JSON.stringify({ w: { dtype, shape: [bytes / size], data_offsets: [0, bytes] } });
  const header = Buffer.from(json.padEnd(Math.ceil(json.length / 8) * 8, " "));
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(header.length));
  // Written as a sparse file (zeros), so that writing it costs no memory in this process.
  const handle = await fs.open(file, "w");
  await handle.write(Buffer.concat([prefix, header]));
  await handle.truncate(8 + header.length + bytes);
  await handle.close();

  const rssBefore = process.memoryUsage().rss;
  const { tensors } = await readSafetensors(file);
  const peakRss = process.resourceUsage().maxRSS * 1024; // KiB on Linux
  const numel = tensors.get("w")!.size;
  for (const t of tensors.values()) t.dispose();
  console.log(JSON.stringify({ dtype, fileBytes: bytes, numel, rssBefore, peakRss, ratio: (peakRss - rssBefore) / bytes }));
} finally {
  await fs.rm(dir, { recursive: true, force: true });
}

/**
 * The writer of the kill-during-save test (src/io/atomic.kill.test.ts), also usable by hand:
 *   node --conditions=@peftjs/source --import tsx packages/core/scripts/save-loop.ts <dir> [start]
 * saves `dir` again and again with writeDirAtomic (keepOtherFiles, like PeftModel.save), version start, start+1,
 * …: `adapter_config.json` holds {"version": v} and `adapter_model.safetensors` 256 KiB of the byte v % 251,
 * so a reader can tell a mix of two versions. Prints "saved <v>" after each save; runs until killed.
 */
import { writeDirAtomic } from "../src/io/atomic.js";

const dir = process.argv[2];
if (dir === undefined) throw new Error("usage: save-loop.ts <dir> [start]");
let version = Number(process.argv[3] ?? "1");
for (;;) {
  await writeDirAtomic(
    dir,
    {
      "adapter_config.json": JSON.stringify({ version }),
      "adapter_model.safetensors": new Uint8Array(256 * 1024).fill(version % 251),
      "task1/adapter_config.json": JSON.stringify({ version }),
    },
    { keepOtherFiles: true },
  );
  process.stdout.write(`saved ${version}\n`);
  version++;
}

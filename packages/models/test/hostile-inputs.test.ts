/** Bad inputs (issue 18): generate on a PeftModel, config.json files that are not regular files. */
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PeftModel, setSeed, silentLogger, tf } from "@peftjs/core";
import { createModel, generate, gpt2Config } from "../src/index.js";
import { readJsonFile } from "../src/checkpoint.js";

describe("generate on a PeftModel", () => {
  it("reads the base model's config (no TypeError) and gives the base model's tokens when no adapter changes it", async () => {
    setSeed(5);
    const model = createModel(gpt2Config("tiny", { initializerRange: 0.3 })).eval();
    const ids = tf.tensor2d([[1, 2, 3]], undefined, "int32");
    const plain = await generate(model, ids, { maxNewTokens: 4, eosTokenId: null });
    const expected = await plain.array();
    const peft = new PeftModel(model, { logger: silentLogger });
    const out = await generate(peft, ids, { maxNewTokens: 4, eosTokenId: null });
    expect(await out.array()).toEqual(expected);
    tf.dispose([ids, plain, out]);
    model.dispose();
  });
});

describe.runIf(process.platform !== "win32")("config.json that is not a regular file", () => {
  it("a FIFO is refused at once and /dev/zero without reading it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "peftjs-models-hostile-"));
    try {
      execFileSync("mkfifo", [join(dir, "config.json")]);
      await expect(readJsonFile(join(dir, "config.json"), "config")).rejects.toThrow(/is a FIFO \(named pipe\), not a regular file/);
      await symlink("/dev/zero", join(dir, "tokenizer.json"));
      await expect(readJsonFile(join(dir, "tokenizer.json"), "tokenizer", { allowLinksOutside: true })).rejects.toThrow(/character device, not a regular file/);
      await expect(readJsonFile(join(dir, "tokenizer.json"), "tokenizer")).rejects.toThrow(/outside the folder/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { quickstart } from "./quickstart.js";

describe("README quick start", () => {
  it("is the code the README shows", async () => {
    const readme = await readFile(new URL("../README.md", import.meta.url), "utf8");
    const code = await readFile(new URL("./quickstart.ts", import.meta.url), "utf8");
    expect(readme).toContain("```ts\n" + code + "```");
  });

  it("the plain-Node quickstart is the README's js block (CI runs that block against the packed tarballs)", async () => {
    const readme = await readFile(new URL("../README.md", import.meta.url), "utf8");
    const code = await readFile(new URL("./quickstart.mjs", import.meta.url), "utf8");
    expect(code.startsWith("// quickstart.mjs")).toBe(true);
    expect(readme).toContain("```js\n" + code + "```");
  });

  it("runs: the loss falls and a PEFT adapter folder is written", async () => {
    const dir = await mkdtemp(join(tmpdir(), "peftjs-quickstart-"));
    try {
      // The happy path is quiet: no tfjs banner, no warning (the Conv1D layout is detected silently).
      const warn = vi.spyOn(console, "warn");
      const error = vi.spyOn(console, "error");
      let losses: number[];
      try {
        losses = await quickstart(join(dir, "adapter"));
      } finally {
        warn.mockRestore();
        error.mockRestore();
      }
      expect(warn.mock.calls).toEqual([]);
      expect(error.mock.calls).toEqual([]);
      expect(losses).toHaveLength(40);
      // A random tiny GPT-2 with frozen random embeddings caps how far LoRA alone can go (~4.3 from ln 128);
      // the point here is that training moves the loss, through the adapter only.
      expect(losses[39]!).toBeLessThan(losses[0]! - 0.2);
      const config = JSON.parse(await readFile(join(dir, "adapter", "adapter_config.json"), "utf8")) as Record<string, unknown>;
      expect(config.peft_type).toBe("LORA");
      expect(config.target_modules).toEqual(["c_attn"]);
      const weights = await readFile(join(dir, "adapter", "adapter_model.safetensors"));
      const headerLength = Number(weights.readBigUInt64LE(0));
      const header = JSON.parse(weights.subarray(8, 8 + headerLength).toString("utf8")) as Record<string, { shape: number[] }>;
      expect(header["base_model.model.transformer.h.0.attn.c_attn.lora_A.weight"]!.shape).toEqual([8, 32]);
      expect(header["base_model.model.transformer.h.0.attn.c_attn.lora_B.weight"]!.shape).toEqual([96, 8]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

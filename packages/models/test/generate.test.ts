/** Generation: cache vs no cache, sampling reproducibility, eos handling, left padding, no leaks. */
import { describe, expect, it } from "vitest";
import { tf, setSeed, withoutSyncReads } from "@peftjs/core";
import { bertConfig, createModel, generate, gpt2Config, llamaConfig } from "../src/index.js";
import type { PretrainedModel } from "../src/index.js";

function tiny(arch: "gpt2" | "llama"): PretrainedModel {
  setSeed(5);
  // A wider init than the default makes the next-token distribution peaked enough for meaningful greedy tests.
  return createModel(arch === "gpt2" ? gpt2Config("tiny", { initializerRange: 0.3 }) : llamaConfig("tiny", { initializerRange: 0.3 })).eval();
}

async function gen(model: PretrainedModel, prompt: number[][], options: Parameters<typeof generate>[2]): Promise<number[][]> {
  const ids = tf.tensor2d(prompt, undefined, "int32");
  const out = await generate(model, ids, options);
  const rows = (await out.array()) as number[][];
  tf.dispose([ids, out]);
  return rows;
}

describe.each(["gpt2", "llama"] as const)("generate (%s)", (arch) => {
  it("gives the same greedy tokens with and without the KV cache, leaking nothing", async () => {
    const model = tiny(arch);
    const prompt = [[1, 2, 3], [9, 8, 7]];
    const before = tf.memory().numTensors;
    const cached = await gen(model, prompt, { maxNewTokens: 12, eosTokenId: null });
    const uncached = await gen(model, prompt, { maxNewTokens: 12, eosTokenId: null, useCache: false });
    expect(tf.memory().numTensors).toBe(before);
    expect(cached).toEqual(uncached);
    expect(cached[0]!.slice(0, 3)).toEqual([1, 2, 3]);
    expect(cached[0]!.length).toBe(15);
    model.dispose();
  });

  it("samples reproducibly from a seed, the same with and without the cache; top-k 1 is greedy", async () => {
    const model = tiny(arch);
    const prompt = [[4, 5]];
    const opts = { maxNewTokens: 10, eosTokenId: null, doSample: true, seed: 123, temperature: 1.5 };
    const a = await gen(model, prompt, opts);
    expect(await gen(model, prompt, opts)).toEqual(a);
    expect(await gen(model, prompt, { ...opts, useCache: false })).toEqual(a);
    expect(await gen(model, prompt, { ...opts, seed: 124 })).not.toEqual(a);
    expect(await gen(model, prompt, { ...opts, topK: 1 })).toEqual(await gen(model, prompt, { maxNewTokens: 10, eosTokenId: null }));
    const nucleus = await gen(model, prompt, { ...opts, topP: 0.5 });
    expect(nucleus[0]!.length).toBe(12);
    model.dispose();
  });

  it("stops a row at eos and pads it while other rows go on", async () => {
    const model = tiny(arch);
    const prompt = [[1, 2, 3], [9, 8, 7]];
    const free = await gen(model, prompt, { maxNewTokens: 6, eosTokenId: null });
    const eos = free[0]![4]!; // row 0's second new token
    const stopped = await gen(model, prompt, { maxNewTokens: 6, eosTokenId: eos, padTokenId: 0 });
    const firstEos = (row: number[]) => row.slice(3).indexOf(eos);
    const row0 = stopped[0]!;
    expect(row0.slice(0, 3 + firstEos(free[0]!) + 1)).toEqual(free[0]!.slice(0, 3 + firstEos(free[0]!) + 1));
    expect(row0.slice(3 + firstEos(free[0]!) + 1).every((t) => t === 0)).toBe(true);
    if (!free[1]!.slice(3).includes(eos)) expect(stopped[1]).toEqual(free[1]);
    model.dispose();
  });

  it("handles a left-padded prompt as the unpadded prompt alone (positions count real tokens)", async () => {
    const model = tiny(arch);
    const alone = await gen(model, [[6, 7, 8]], { maxNewTokens: 5, eosTokenId: null });
    const batch = await gen(model, [[0, 0, 6, 7, 8], [1, 2, 3, 4, 5]], {
      maxNewTokens: 5,
      eosTokenId: null,
      attentionMask: tf.tensor2d([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]], undefined, "int32"),
    });
    expect(batch[0]!.slice(2)).toEqual(alone[0]);
    model.dispose();
  });
});

describe("generate input checks", () => {
  it("refuses a classifier and bad options with clear errors", async () => {
    setSeed(1);
    const bert = createModel(bertConfig("tiny")).eval();
    const ids = tf.tensor2d([[1, 2]], undefined, "int32");
    await expect(generate(bert, ids, { maxNewTokens: 2 })).rejects.toThrow(/generation needs a causal LM/);
    const gpt2 = createModel(gpt2Config("tiny"));
    await expect(generate(gpt2, ids, { maxNewTokens: -1 })).rejects.toThrow(/maxNewTokens must be a non-negative integer/);
    await expect(generate(gpt2, ids, { maxNewTokens: 1, temperature: 0 })).rejects.toThrow(/temperature must be > 0/);
    await expect(generate(gpt2, ids, { maxNewTokens: 1, topP: 0 })).rejects.toThrow(/topP must be in \(0, 1\]/);
    tf.dispose(ids);
    bert.dispose();
    gpt2.dispose();
  });
});

describe("generate without sync reads (tfjs WebGPU in Node has none)", () => {
  it("reads with await tensor.data(): the same greedy tokens as on cpu", async () => {
    const prompt = [[1, 2, 3], [9, 8, 7]];
    const model = tiny("llama");
    const onCpu = await gen(model, prompt, { maxNewTokens: 6, eosTokenId: null });
    model.dispose();
    // Built on the backend, so its weights live there as on a GPU.
    const tokens = await withoutSyncReads(async () => {
      const m = tiny("llama");
      const ids = tf.tensor2d(prompt, undefined, "int32");
      const mask = tf.onesLike(ids);
      const out = await generate(m, ids, { maxNewTokens: 6, eosTokenId: null, attentionMask: mask });
      expect(() => out.dataSync()).toThrow(/readSync is not available/);
      const rows = (await out.array()) as number[][];
      tf.dispose([ids, mask, out]);
      m.dispose();
      return rows;
    });
    expect(tokens).toEqual(onCpu);
  });
});

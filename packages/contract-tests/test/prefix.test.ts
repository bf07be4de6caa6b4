/**
 * The test-only prefix method through `generate`: with and without the KV cache it generates what transformers
 * does with the prefix given as the cache (positions start after it) — the reference here recomputes every step
 * with the prefix as `pastKeyValues` on the plain base model.
 */
import { describe, expect, it } from "vitest";
import { tf, getPeftModel, setSeed } from "@peftjs/core";
import { createModel, generate, gpt2Config, llamaConfig } from "@peftjs/models";
import { prefix } from "./prefix.js";

describe.each(["gpt2", "llama"] as const)("test-only prefix method through generate (%s)", (arch) => {
  it("generates as transformers does with the prefix as its cache, with and without the KV cache", async () => {
    setSeed(5);
    const model = createModel(arch === "gpt2" ? gpt2Config("tiny", { initializerRange: 0.3 }) : llamaConfig("tiny", { initializerRange: 0.3 })).eval();
    const P = 2;
    const peft = getPeftModel(model, prefix({ numVirtualTokens: P }));
    const c = model.config;
    const table = peft.injectionOf("default").state().get("prompt_embeddings")!;
    // The same prefixes the hook makes, built here from the table's numbers (layer i: key row 2i, value row 2i+1).
    const values = table.arraySync() as number[][];
    const width = c.numKeyValueHeads * c.headDim;
    const kv = (layer: number, which: 0 | 1) =>
      tf.tensor4d(
        [Array.from({ length: c.numKeyValueHeads }, (_, h) => values.map((row) => row.slice((2 * layer + which) * width + h * c.headDim, (2 * layer + which) * width + (h + 1) * c.headDim)))],
        [1, c.numKeyValueHeads, P, c.headDim],
      );
    const cache = Array.from({ length: c.numHiddenLayers }, (_, i) => ({ key: kv(i, 0), value: kv(i, 1) }));
    const seq = [4, 5, 6];
    for (let step = 0; step < 5; step++) {
      const ids = tf.tensor2d([seq], undefined, "int32");
      const out = model.forward({ inputIds: ids, pastKeyValues: cache });
      const last = tf.tidy(() => tf.argMax(tf.slice(out.logits, [0, seq.length - 1, 0], [1, 1, -1]), -1).dataSync()[0]!);
      seq.push(last);
      tf.dispose([ids, out.logits]);
    }
    for (const useCache of [true, false]) {
      const ids = tf.tensor2d([[4, 5, 6]], undefined, "int32");
      const out = await generate(peft, ids, { maxNewTokens: 5, eosTokenId: null, useCache });
      expect(await out.array()).toEqual([seq]);
      tf.dispose([ids, out]);
    }
    tf.dispose(cache.flatMap((x) => [x.key, x.value]));
    model.dispose();
  });
});

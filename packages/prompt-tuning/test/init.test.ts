/**
 * Initialisation as PEFT does it: TEXT through the model's tokenizer (ids repeated or cut to length; the table
 * equals PEFT's bit for bit), SAMPLE_VOCAB rows taken from the vocabulary, RANDOM N(0, 1).
 */
import { describe, expect, it } from "vitest";
import { join } from "node:path";
import { getPeftModel, tf } from "@peftjs/core";
import { loadTokenizer } from "@peftjs/models";
import { promptTuning, textInitIds } from "../src/index.js";
import { FIXTURES, readCase, readTensors } from "./helpers.js";
import { loadBase } from "./registry.js";

describe("prompt tuning init", () => {
  for (const name of ["gpt2_prompt_text", "bert_prompt_text"]) {
    it(`${name}: TEXT init gives PEFT's ids and table`, async () => {
      const expected = readCase(name);
      const c = expected.config;
      const tokenizer = await loadTokenizer(join(FIXTURES, c.tokenizer_name_or_path as string));
      const n = c.num_virtual_tokens as number;
      expect(textInitIds(tokenizer.encode(c.prompt_tuning_init_text as string), n)).toEqual(expected.init_token_ids);
      const base = await loadBase(expected.base);
      const spec = promptTuning({
        numVirtualTokens: n,
        promptTuningInit: "TEXT",
        promptTuningInitText: c.prompt_tuning_init_text as string,
        tokenizer,
        tokenizerNameOrPath: c.tokenizer_name_or_path as string,
        taskType: expected.task,
      });
      const peft = getPeftModel(base, spec);
      const table = peft.injectionOf("default").state().get("prompt_embeddings")!;
      const reference = (await readTensors(name, "adapter_model.safetensors")).get("prompt_embeddings")!;
      expect(Array.from(table.dataSync())).toEqual(Array.from(reference.dataSync()));
      reference.dispose();
      peft.dispose();
    });
  }

  it("TEXT init: a text shorter than numVirtualTokens repeats, a longer one is cut", () => {
    expect(textInitIds([1, 2, 3], 7)).toEqual([1, 2, 3, 1, 2, 3, 1]);
    expect(textInitIds([1, 2, 3, 4, 5], 2)).toEqual([1, 2]);
    expect(() => textInitIds([], 2)).toThrow(/tokenizes to no ids/);
  });

  it("SAMPLE_VOCAB: every virtual token starts as a row of the vocabulary", async () => {
    const base = await loadBase("base_llama");
    const peft = getPeftModel(base, promptTuning({ numVirtualTokens: 6, promptTuningInit: "SAMPLE_VOCAB" }));
    const table = peft.injectionOf("default").state().get("prompt_embeddings")!.arraySync() as number[][];
    const vocab = base.getInputEmbeddings().weight.arraySync() as number[][];
    for (const row of table) expect(vocab.some((v) => v.every((x, i) => x === row[i]))).toBe(true);
    peft.dispose();
  });

  it("a TEXT tokenizer giving ids outside the vocabulary is refused", async () => {
    const base = await loadBase("base_llama");
    const spec = promptTuning({ numVirtualTokens: 3, promptTuningInit: "TEXT", promptTuningInitText: "x", tokenizer: { encode: () => [5000] }, tokenizerNameOrPath: "t" });
    const before = tf.memory().numTensors;
    expect(() => getPeftModel(base, spec)).toThrow(/token id 5000, outside the model's vocabulary of 128; pass the tokenizer of this model/);
    expect(tf.memory().numTensors).toBe(before);
  });
});

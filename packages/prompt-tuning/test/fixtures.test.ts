/**
 * Adapters made by Python PEFT 0.21 (test/fixtures, scripts/make_fixtures.py) load here and give PEFT's
 * logits on a padded batch (≤ 1e-4 relative; the figures are printed), and greedy generation here — with
 * and without the KV cache — gives the tokens PEFT's `generate` gave.
 */
import { afterAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { PeftModel, tf } from "@peftjs/core";
import type { ModelInputs } from "@peftjs/core";
import { generate } from "@peftjs/models";
import { CASES, FIXTURES, disposeAll, readCase, readTensors, relError } from "./helpers.js";
import { loadBase, registry } from "./registry.js";

const TOLERANCE = 1e-4;
const errors: [string, number][] = [];

afterAll(() => {
  console.log(`max relative logit error vs PEFT 0.21 per case:\n${errors.map(([c, e]) => `  ${c.padEnd(28)} ${e.toExponential(2)}`).join("\n")}`);
});

describe("PEFT-made prompt-learning adapters", () => {
  for (const name of CASES) {
    const expected = readCase(name);
    it(`${name}: PEFT's logits on a padded batch`, async () => {
      const base = await loadBase(expected.base);
      const peft = await PeftModel.fromPretrained(base, join(FIXTURES, name), { registry });
      const reference = (await readTensors(name, "expected.safetensors")).get("logits")!;
      const inputs: ModelInputs = { inputIds: tf.tensor2d(expected.input_ids, undefined, "int32"), attentionMask: tf.tensor2d(expected.attention_mask, undefined, "int32") };
      const { logits } = peft.forward(inputs);
      const err = relError(logits, reference);
      errors.push([name, err]);
      expect(err).toBeLessThanOrEqual(TOLERANCE);
      disposeAll([logits, reference, inputs.inputIds!, inputs.attentionMask!]);
      peft.dispose();
    });

    const gen = expected.generate;
    if (gen === null) continue;
    it(`${name}: greedy generation with and without the KV cache equals PEFT's`, async () => {
      const base = await loadBase(expected.base);
      const peft = await PeftModel.fromPretrained(base, join(FIXTURES, name), { registry });
      const ids = tf.tensor2d(gen.input_ids, undefined, "int32");
      const attentionMask = tf.tensor2d(gen.attention_mask, undefined, "int32");
      const single = tf.tensor2d(gen.single_input_ids, undefined, "int32");
      const options = { maxNewTokens: gen.max_new_tokens, attentionMask, eosTokenId: null, padTokenId: 0 };
      for (const useCache of [true, false]) {
        const out = await generate(peft, ids, { ...options, useCache });
        expect(await out.array(), `useCache ${useCache}`).toEqual(gen.tokens);
        out.dispose();
        const one = await generate(peft, single, { maxNewTokens: gen.max_new_tokens, eosTokenId: null, useCache });
        expect(await one.array(), `single prompt, useCache ${useCache}`).toEqual(gen.single_tokens);
        one.dispose();
      }
      // PEFT's own run without a cache agreed with its cached run (where it ran at all).
      if (gen.tokens_without_cache !== null) expect(gen.tokens_without_cache).toEqual(gen.tokens);
      disposeAll([ids, attentionMask, single]);
      peft.dispose();
    });
  }
});

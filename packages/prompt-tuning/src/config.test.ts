import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { PromptConfigError, resolveDims } from "./config.js";
import { fromPeftPromptTuningConfig, parsePromptTuningConfig, toPeftPromptTuningConfig } from "./prompt-tuning/config.js";
import { fromPeftPrefixTuningConfig, parsePrefixTuningConfig, toPeftPrefixTuningConfig } from "./prefix-tuning/config.js";
import { fromPeftPromptEncoderConfig, parsePromptEncoderConfig, toPeftPromptEncoderConfig } from "./p-tuning/config.js";

const tokenizer = { encode: (text: string) => [...text].map((c) => c.charCodeAt(0) % 50) };

describe("prompt-learning configs", () => {
  it("fill PEFT's defaults", () => {
    const c = parsePromptTuningConfig({ numVirtualTokens: 20 });
    expect(c).toMatchObject({ peftType: "PROMPT_TUNING", promptTuningInit: "RANDOM", tokenDim: null, numLayers: null, inferenceMode: false, tokenizer: null });
    expect(parsePrefixTuningConfig({ numVirtualTokens: 5 })).toMatchObject({ prefixProjection: false, encoderHiddenSize: null, initWeights: null });
    expect(parsePromptEncoderConfig({ numVirtualTokens: 5 })).toMatchObject({ encoderReparameterizationType: "MLP", encoderNumLayers: 2, encoderDropout: 0 });
  });

  it.each([
    [0, /numVirtualTokens must be a positive integer, got 0\. It is the number of learned virtual tokens, e\.g\. numVirtualTokens: 20/],
    [-3, /numVirtualTokens must be a positive integer, got -3/],
    [2.5, /numVirtualTokens must be a positive integer, got 2\.5/],
    [undefined, /numVirtualTokens is required: how many virtual tokens to learn, e\.g\. numVirtualTokens: 20/],
  ])("refuse numVirtualTokens %s with the fix", (n, message) => {
    for (const parse of [parsePromptTuningConfig, parsePrefixTuningConfig, parsePromptEncoderConfig]) {
      expect(() => parse({ numVirtualTokens: n })).toThrow(PromptConfigError);
      expect(() => parse({ numVirtualTokens: n })).toThrow(message);
    }
  });

  it("TEXT init needs the text, the tokenizer and its name, each with the fix", () => {
    expect(() => parsePromptTuningConfig({ numVirtualTokens: 4, promptTuningInit: "TEXT", tokenizer, tokenizerNameOrPath: "gpt2" })).toThrow(
      /needs promptTuningInitText: the text whose token embeddings start the virtual tokens/,
    );
    expect(() => parsePromptTuningConfig({ numVirtualTokens: 4, promptTuningInit: "TEXT", promptTuningInitText: "hi", tokenizerNameOrPath: "gpt2" })).toThrow(
      /needs the tokenizer itself to turn the text into token ids: pass tokenizer \(e\.g\. `await loadTokenizer\(dir\)` from @peftjs\/models\)/,
    );
    expect(() => parsePromptTuningConfig({ numVirtualTokens: 4, promptTuningInit: "TEXT", promptTuningInitText: "hi", tokenizer })).toThrow(
      /needs tokenizerNameOrPath .*PEFT requires it in adapter_config\.json/,
    );
    expect(() => parsePromptTuningConfig({ numVirtualTokens: 4, promptTuningInit: "TEXT", promptTuningInitText: "hi", tokenizer: { encode: 3 }, tokenizerNameOrPath: "x" })).toThrow(
      /tokenizer must have an encode\(text\) method/,
    );
    const ok = parsePromptTuningConfig({ numVirtualTokens: 4, promptTuningInit: "TEXT", promptTuningInitText: "hi", tokenizer, tokenizerNameOrPath: "gpt2" });
    expect(ok.tokenizer).toBe(tokenizer);
    expect(toPeftPromptTuningConfig(ok)).not.toHaveProperty("tokenizer");
  });

  it("refuse PEFT's other config mistakes", () => {
    expect(() => parsePromptTuningConfig({ numVirtualTokens: 4, tokenizerKwargs: { use_fast: true } })).toThrow(/tokenizerKwargs is only used with promptTuningInit "TEXT"/);
    expect(() => parsePromptTuningConfig({ numVirtualTokens: 4, promptTuningInit: "WORDS" })).toThrow(/promptTuningInit must be one of "RANDOM", "SAMPLE_VOCAB", "TEXT"/);
    expect(() => parsePromptEncoderConfig({ numVirtualTokens: 4, encoderReparameterizationType: "GRU" })).toThrow(/must be one of "MLP", "LSTM"/);
    expect(() => parsePromptEncoderConfig({ numVirtualTokens: 4, encoderDropout: 1 })).toThrow(/encoderDropout must be a number in \[0, 1\)/);
    expect(() => parsePrefixTuningConfig({ numVirtualTokens: 4, initWeights: "ones" })).toThrow(/initWeights must be "zero" or null/);
    expect(() => parsePrefixTuningConfig({ numVirtualTokens: 4, numTransformerSubmodules: 2 })).toThrow(/numTransformerSubmodules must be 1 .*encoder-decoder/);
    expect(() => parsePrefixTuningConfig({ numVirtualTokens: 4, taskType: "SEQ_2_SEQ_LM" })).toThrow(/needs an encoder-decoder model/);
    expect(() => parsePrefixTuningConfig({ num_virtual_tokens: 4 })).toThrow(/unknown option "num_virtual_tokens"\. Options are camelCase here: "num_virtual_tokens" → "numVirtualTokens"/);
  });

  it("a given tokenDim (or layer / head count) that does not fit the model is an error that says the fix", () => {
    const c = parsePromptTuningConfig({ numVirtualTokens: 4, tokenDim: 32 });
    expect(() => resolveDims(c, { tokenDim: 16, numAttentionHeads: 2, numLayers: 2, what: "its hidden size" }, "Prompt tuning")).toThrow(
      /tokenDim is 32 but the model needs 16 \(its hidden size\)\. Leave tokenDim unset to take it from the model/,
    );
    const filled = resolveDims(parsePromptTuningConfig({ numVirtualTokens: 4 }), { tokenDim: 16, numAttentionHeads: 2, numLayers: 2, what: "its hidden size" }, "Prompt tuning");
    expect(filled).toMatchObject({ tokenDim: 16, numAttentionHeads: 2, numLayers: 2, numTransformerSubmodules: 1 });
  });

  describe("adapter_config.json round trip on every PEFT-made fixture", () => {
    const dir = fileURLToPath(new URL("../test/fixtures", import.meta.url));
    const cases = ["gpt2_prompt_text", "llama_prompt_sample_vocab", "gpt2_prefix_projection", "llama_prefix", "gpt2_ptuning_lstm", "bert_ptuning_mlp", "bert_prefix"];
    it.each(cases)("%s", (name) => {
      const json = JSON.parse(readFileSync(`${dir}/${name}/adapter_config.json`, "utf8")) as Record<string, unknown>;
      const pick = { PROMPT_TUNING: [fromPeftPromptTuningConfig, toPeftPromptTuningConfig], PREFIX_TUNING: [fromPeftPrefixTuningConfig, toPeftPrefixTuningConfig], P_TUNING: [fromPeftPromptEncoderConfig, toPeftPromptEncoderConfig] } as const;
      const [from, to] = pick[json.peft_type as keyof typeof pick];
      const { config, unknownFields } = from(json);
      expect(unknownFields).toEqual([]);
      const back = (to as (c: unknown) => Record<string, unknown>)(config);
      for (const [key, value] of Object.entries(back)) {
        // PEFT lists the SEQ_CLS heads twice in modules_to_save; once is what it means.
        if (key === "modules_to_save" && Array.isArray(value)) expect(value).toEqual([...new Set(json[key] as string[])]);
        else expect([key, value]).toEqual([key, json[key]]);
      }
    });
  });
});

/**
 * The virtual-token prompt method (test-only, public contract only) on GPT-2 and LLaMA: the PeftModel's forward
 * equals the base model fed the prompt embeddings by hand (mask and labels extended as PEFT does), only the prompt
 * trains, generation with the KV cache equals generation without it, and save → load is exact.
 */
import { afterEach, describe, expect, it } from "vitest";
import { tf, createRegistry, getPeftModel, PeftModel, setSeed } from "@peftjs/core";
import type { Module, Tensor } from "@peftjs/core";
import { createModel, generate, gpt2Config, llamaConfig } from "@peftjs/models";
import type { PretrainedModel } from "@peftjs/models";
import { virtualTokens, virtualTokensMethod } from "./virtual-tokens.js";

const made: Module[] = [];
afterEach(() => {
  for (const m of made.splice(0)) m.dispose();
});

function tiny(arch: "gpt2" | "llama", seed = 5): PretrainedModel {
  setSeed(seed);
  // A wider init than the default makes the next-token distribution peaked enough for meaningful greedy tests.
  const m = createModel(arch === "gpt2" ? gpt2Config("tiny", { initializerRange: 0.3 }) : llamaConfig("tiny", { initializerRange: 0.3 })).eval();
  made.push(m);
  return m;
}

const ids = (rows: number[][]): Tensor => tf.tensor2d(rows, undefined, "int32");

async function gen(model: Parameters<typeof generate>[0], prompt: number[][], options: Parameters<typeof generate>[2]): Promise<number[][]> {
  const input = ids(prompt);
  const out = await generate(model, input, options);
  const rows = (await out.array()) as number[][];
  tf.dispose([input, out]);
  return rows;
}

function promptWeight(peft: PeftModel<PretrainedModel>): tf.Variable {
  return peft.injectionOf("default").state().get("prompt_embeddings")!;
}

describe.each(["gpt2", "llama"] as const)("virtual-token prompt method (%s)", (arch) => {
  it("prepends the embeddings, extends the mask with ones and the labels with -100, like feeding them by hand", () => {
    const model = tiny(arch);
    const peft = getPeftModel(model, virtualTokens({ numVirtualTokens: 3 }));
    const input = ids([[1, 2, 3, 4], [5, 6, 7, 8]]);
    const mask = tf.tensor2d([[0, 1, 1, 1], [1, 1, 1, 1]], undefined, "int32");
    const labels = tf.tensor2d([[-100, 2, 3, 4], [5, 6, 7, 8]], undefined, "int32");
    const got = peft.forward({ inputIds: input, attentionMask: mask, labels });
    // Reference: the base model given the prompt table before the token embeddings, by hand.
    const ref = tf.tidy(() => {
      const prompt = promptWeight(peft);
      const embeds = tf.concat([tf.stack([prompt, prompt]), model.getInputEmbeddings().forward(input)], 1);
      const out = model.forward({
        inputsEmbeds: embeds,
        attentionMask: tf.tensor2d([[1, 1, 1, 0, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1]], undefined, "int32"),
        labels: tf.tensor2d([[-100, -100, -100, -100, 2, 3, 4], [-100, -100, -100, 5, 6, 7, 8]], undefined, "int32"),
      });
      return { logits: out.logits, loss: out.loss! };
    });
    expect(got.logits.shape).toEqual([2, 7, model.config.vocabSize]);
    expect(Array.from(got.logits.dataSync())).toEqual(Array.from(ref.logits.dataSync()));
    expect(got.loss!.dataSync()[0]).toBe(ref.loss.dataSync()[0]);
    // Disabled: the base model alone.
    const base = peft.disableAdapters(() => peft.forward({ inputIds: input }));
    const plain = model.forward({ inputIds: input });
    expect(Array.from(base.logits.dataSync())).toEqual(Array.from(plain.logits.dataSync()));
    tf.dispose([input, mask, labels, got.logits, got.loss!, ref.logits, ref.loss, base.logits, plain.logits]);
  });

  it("trains only the prompt (owned by the PeftModel as prompt_encoder.default), leaking no tensors", () => {
    const model = tiny(arch);
    const peft = getPeftModel(model, virtualTokens({ numVirtualTokens: 2 }));
    const trainable = peft.namedParameters().filter(([, v]) => v.trainable);
    expect(trainable.map(([k]) => k)).toEqual(["prompt_encoder.default.embedding.weight"]);
    peft.printTrainableParameters(() => {});
    const input = ids([[1, 2, 3]]);
    const before = promptWeight(peft).arraySync();
    const optimizer = tf.train.sgd(0.5); // holds its learning rate as a tensor
    const n = tf.memory().numTensors;
    for (let step = 0; step < 3; step++) {
      const loss = optimizer.minimize(() => peft.forward({ inputIds: input, labels: input }).loss as tf.Scalar, true, trainable.map(([, v]) => v));
      loss?.dispose();
    }
    expect(tf.memory().numTensors).toBe(n);
    expect(promptWeight(peft).arraySync()).not.toEqual(before);
    optimizer.dispose();
    input.dispose();
  });

  it("generates the same tokens with and without the KV cache, and acts as tokens put before the prompt", async () => {
    const model = tiny(arch);
    const peft = getPeftModel(model, virtualTokens({ numVirtualTokens: 3 }));
    // Virtual tokens equal to the embeddings of tokens 11, 12, 13: generation from [4, 5] must continue as
    // generation from [11, 12, 13, 4, 5] does (an independent reference: the base model with real tokens).
    tf.tidy(() => promptWeight(peft).assign(tf.squeeze(model.getInputEmbeddings().forward(ids([[11, 12, 13]])), [0])));
    const asTokens = await gen(model, [[11, 12, 13, 4, 5]], { maxNewTokens: 6, eosTokenId: null });
    const n = tf.memory().numTensors;
    for (const useCache of [true, false]) {
      const withPrompt = await gen(peft, [[4, 5]], { maxNewTokens: 6, eosTokenId: null, useCache });
      expect(withPrompt[0]).toEqual(asTokens[0]!.slice(3));
    }
    // Left padding with a mask: the padded row generates what it generates alone.
    const alone = await gen(peft, [[6, 7, 8]], { maxNewTokens: 4, eosTokenId: null });
    for (const useCache of [true, false]) {
      const padded = await gen(peft, [[0, 0, 6, 7, 8], [1, 2, 3, 4, 5]], { maxNewTokens: 4, eosTokenId: null, useCache, attentionMask: tf.tensor2d([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]], undefined, "int32") });
      expect(padded[0]!.slice(2)).toEqual(alone[0]);
    }
    expect(tf.memory().numTensors).toBeLessThanOrEqual(n + 2); // the two masks above
  });

  it("save → load is exact: the bare key prompt_embeddings, the same values and the same logits", async () => {
    const model = tiny(arch);
    const peft = getPeftModel(model, virtualTokens({ numVirtualTokens: 3 }));
    const files = await peft.adapterFilesAsync();
    const saved = peft.adapterStateDict("default");
    expect([...saved.keys()]).toEqual(["prompt_embeddings"]);
    const input = ids([[3, 1, 4, 1, 5]]);
    const want = peft.forward({ inputIds: input });

    const fresh = tiny(arch); // same seed: the same base weights
    const loaded = PeftModel.fromFiles(fresh, { config: files["adapter_config.json"] as string, weights: files["adapter_model.safetensors"] as Uint8Array }, { registry: createRegistry(virtualTokensMethod) });
    expect(loaded.peftConfig.get("default")).toEqual({ ...peft.peftConfig.get("default"), inferenceMode: true });
    expect(Array.from(loaded.adapterStateDict("default").get("prompt_embeddings")!.dataSync())).toEqual(Array.from(saved.get("prompt_embeddings")!.dataSync()));
    const got = loaded.forward({ inputIds: input });
    expect(Array.from(got.logits.dataSync())).toEqual(Array.from(want.logits.dataSync()));
    expect(loaded.namedParameters().filter(([, v]) => v.trainable)).toEqual([]); // loaded for inference
    tf.dispose([input, want.logits, got.logits]);
  });

  it("delete and unload give the base model back and free the prompt", () => {
    const model = tiny(arch);
    const n = tf.memory().numTensors;
    const peft = getPeftModel(model, virtualTokens({ numVirtualTokens: 3 }));
    peft.addAdapter("other", virtualTokens({ numVirtualTokens: 2 }));
    peft.deleteAdapter("other");
    expect(peft.namedChildren().map(([k]) => k)).toContain("prompt_encoder");
    expect(() => peft.merge()).toThrow(/cannot be merged/);
    const back = peft.unload();
    expect(back).toBe(model);
    expect(peft.namedChildren().map(([k]) => k)).not.toContain("prompt_encoder");
    expect(tf.memory().numTensors).toBe(n);
  });
});

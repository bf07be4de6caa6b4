/**
 * Save → load round trips in PEFT's layout: the file holds `prompt_embeddings` (the encoder's output for
 * P-tuning and projected prefix tuning, as PEFT's `get_prompt_embedding_to_save`), and the SEQ_CLS head under
 * `base_model.classifier.*` as PEFT's prompt-learning PeftModel writes it; a loaded adapter gives the saved
 * model's logits exactly; deleting an adapter frees every tensor it made.
 */
import { describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PeftModel, getPeftModel, parseSafetensors, tf, train } from "@peftjs/core";
import type { AdapterSpec, ModelInputs } from "@peftjs/core";
import { pTuning, prefixTuning, promptTuning } from "../src/index.js";
import { loadBase, registry } from "./registry.js";

const IDS = [
  [5, 17, 42, 3, 88, 61],
  [0, 0, 33, 95, 14, 50],
];
const MASK = [
  [1, 1, 1, 1, 1, 1],
  [0, 0, 1, 1, 1, 1],
];

function inputs(labels: "causal" | "classes" | null): ModelInputs {
  const out: ModelInputs = { inputIds: tf.tensor2d(IDS, undefined, "int32"), attentionMask: tf.tensor2d(MASK, undefined, "int32") };
  if (labels === "causal") out.labels = tf.tensor2d(IDS, undefined, "int32");
  if (labels === "classes") out.labels = tf.tensor1d([1, 2], "int32");
  return out;
}

const CASES: [string, string, () => AdapterSpec, number][] = [
  ["P-tuning LSTM", "base_gpt2", () => pTuning({ numVirtualTokens: 3, encoderReparameterizationType: "LSTM", encoderHiddenSize: 5 }), 16],
  ["prefix tuning with projection", "base_llama", () => prefixTuning({ numVirtualTokens: 2, prefixProjection: true }), 2 * 2 * 8],
  ["prompt tuning, BERT SEQ_CLS", "base_bert", () => promptTuning({ numVirtualTokens: 2 }), 16],
];

describe("save and load", () => {
  for (const [label, baseName, spec, width] of CASES) {
    it(`${label}: saved as PEFT writes it, loads with the same logits`, async () => {
      const seqCls = baseName === "base_bert";
      const peft = getPeftModel(await loadBase(baseName), spec());
      const batch = inputs(seqCls ? "classes" : "causal");
      await train({ model: peft, loss: (b: ModelInputs) => peft.forward(b).loss as tf.Scalar, batches: [batch], steps: 3, lr: 1e-2 });
      peft.eval();
      const probe = inputs(null);
      const before = peft.forward(probe).logits;
      const dir = mkdtempSync(join(tmpdir(), "peftjs-prompt-save-"));
      try {
        await peft.save(dir);
        const config = JSON.parse(readFileSync(join(dir, "adapter_config.json"), "utf8")) as Record<string, unknown>;
        expect(config).toMatchObject({ inference_mode: true, task_type: seqCls ? "SEQ_CLS" : "CAUSAL_LM", num_transformer_submodules: 1 });
        const saved = parseSafetensors(readFileSync(join(dir, "adapter_model.safetensors"))).tensors;
        const keys = [...saved.keys()].sort();
        expect(keys).toEqual(seqCls ? ["base_model.classifier.bias", "base_model.classifier.weight", "prompt_embeddings"] : ["prompt_embeddings"]);
        expect(saved.get("prompt_embeddings")!.shape[1]).toBe(width);
        tf.dispose([...saved.values()]);

        const loaded = await PeftModel.fromPretrained(await loadBase(baseName), dir, { registry });
        expect(loaded.trainableParameters()).toHaveLength(0); // inference mode, as PEFT loads prompt learning
        const after = loaded.forward(probe).logits;
        expect(Array.from(after.dataSync())).toEqual(Array.from(before.dataSync()));
        tf.dispose([after]);
        loaded.dispose();
      } finally {
        rmSync(dir, { recursive: true, force: true });
        tf.dispose([before, ...(Object.values(batch) as tf.Tensor[]), ...(Object.values(probe) as tf.Tensor[])]);
        peft.dispose();
      }
    });
  }

  it("a P-tuning file cannot be loaded to train on (its encoder is not in it); prompt tuning can", async () => {
    const dir = mkdtempSync(join(tmpdir(), "peftjs-prompt-trainable-"));
    try {
      const ptuned = getPeftModel(await loadBase("base_llama"), pTuning({ numVirtualTokens: 2 }));
      await ptuned.save(join(dir, "p"));
      ptuned.dispose();
      const base = await loadBase("base_llama");
      const count = tf.memory().numTensors;
      await expect(PeftModel.fromPretrained(base, join(dir, "p"), { registry, isTrainable: true })).rejects.toThrow(/cannot be loaded to train on.*Load it with isTrainable: false/);
      expect(tf.memory().numTensors).toBe(count);

      const prompt = getPeftModel(await loadBase("base_llama"), promptTuning({ numVirtualTokens: 2 }));
      await prompt.save(join(dir, "t"));
      prompt.dispose();
      const trainable = await PeftModel.fromPretrained(base, join(dir, "t"), { registry, isTrainable: true });
      expect(trainable.trainableParameters().map((v) => v.shape)).toEqual([[2, 16]]);
      trainable.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("deleting an adapter frees every tensor it made, the saved-table cache included", async () => {
    const base = await loadBase("base_gpt2");
    const peft = new PeftModel(base, { registry });
    const count = tf.memory().numTensors;
    peft.addAdapter("p", pTuning({ numVirtualTokens: 2, encoderReparameterizationType: "LSTM" }));
    peft.adapterStateDict("p"); // computes the saved table into the injection's cache
    peft.addAdapter("q", prefixTuning({ numVirtualTokens: 2 }));
    peft.deleteAdapter("p");
    peft.deleteAdapter("q");
    expect(tf.memory().numTensors).toBe(count);
    peft.dispose();
  });
});

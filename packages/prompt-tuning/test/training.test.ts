/**
 * Training moves only the prompt parameters: after 20 steps every base weight is bit-identical, the prompt
 * parameters moved and the loss fell; `tf.memory().numTensors` is flat over 100 steps; bad configs fail at
 * `getPeftModel` with the fix in the message.
 */
import { describe, expect, it } from "vitest";
import { getPeftModel, tf, train } from "@peftjs/core";
import type { AdapterSpec, ModelInputs, PreTrainedModelLike, Variable } from "@peftjs/core";
import { pTuning, prefixTuning, promptTuning } from "../src/index.js";
import { loadBase } from "./registry.js";

const IDS = [
  [5, 17, 42, 3, 88, 61, 9, 12],
  [0, 0, 33, 95, 14, 50, 27, 8],
];
const MASK = [
  [1, 1, 1, 1, 1, 1, 1, 1],
  [0, 0, 1, 1, 1, 1, 1, 1],
];

function causalBatch(): ModelInputs {
  const inputIds = tf.tensor2d(IDS, undefined, "int32");
  const attentionMask = tf.tensor2d(MASK, undefined, "int32");
  // Padding is not predicted (label -100), as a data collator would do.
  const labels = tf.tensor2d(IDS.map((r, i) => r.map((t, j) => (MASK[i]![j] === 1 ? t : -100))), undefined, "int32");
  return { inputIds, attentionMask, labels };
}

function classificationBatch(): ModelInputs {
  return { inputIds: tf.tensor2d(IDS, undefined, "int32"), attentionMask: tf.tensor2d(MASK, undefined, "int32"), labels: tf.tensor1d([2, 0], "int32") };
}

function snapshot(vars: readonly Variable[]): Float32Array[] {
  return vars.map((v) => v.dataSync().slice() as Float32Array);
}

const CASES: [string, string, () => AdapterSpec][] = [
  ["prompt tuning (RANDOM)", "base_gpt2", () => promptTuning({ numVirtualTokens: 4 })],
  ["prefix tuning", "base_llama", () => prefixTuning({ numVirtualTokens: 3 })],
  ["prefix tuning with projection", "base_gpt2", () => prefixTuning({ numVirtualTokens: 3, prefixProjection: true, encoderHiddenSize: 8 })],
  ["P-tuning MLP", "base_llama", () => pTuning({ numVirtualTokens: 3, encoderHiddenSize: 8 })],
  ["P-tuning LSTM", "base_gpt2", () => pTuning({ numVirtualTokens: 3, encoderReparameterizationType: "LSTM", encoderHiddenSize: 6, encoderDropout: 0.1 })],
  ["P-tuning MLP, BERT sequence classification", "base_bert", () => pTuning({ numVirtualTokens: 3, taskType: "SEQ_CLS" })],
  ["prefix tuning, BERT sequence classification", "base_bert", () => prefixTuning({ numVirtualTokens: 2, taskType: "SEQ_CLS" })],
];

describe("training a prompt method", () => {
  for (const [label, baseName, spec] of CASES) {
    it(`${label}: 20 steps move only the adapter; the base stays bit-identical`, async () => {
      const base: PreTrainedModelLike = await loadBase(baseName);
      const baseVars = base.parameters();
      const before = snapshot(baseVars);
      const peft = getPeftModel(base, spec());
      const trainable = peft.trainableParameters();
      expect(trainable.length).toBeGreaterThan(0);
      const adapterBefore = snapshot(trainable);
      const batch = baseName === "base_bert" ? classificationBatch() : causalBatch();
      const result = await train({ model: peft, loss: (b: ModelInputs) => peft.forward(b).loss as tf.Scalar, batches: [batch], steps: 20, lr: 1e-2, schedule: "constant", seed: 1 });
      expect(result.losses.at(-1)!).toBeLessThan(result.losses[0]!);
      // Only adapter variables (the prompt encoder, and for SEQ_CLS the classifier's modules_to_save copy) train.
      for (const v of trainable) expect(baseVars.includes(v)).toBe(false);
      snapshot(baseVars).forEach((after, i) => expect(Buffer.compare(Buffer.from(after.buffer), Buffer.from(before[i]!.buffer)), baseVars[i]!.name).toBe(0));
      snapshot(trainable).forEach((after, i) => expect(after.some((x, j) => x !== adapterBefore[i]![j])).toBe(true));
      for (const t of Object.values(batch) as tf.Tensor[]) t.dispose();
      peft.dispose();
    });
  }

  it("tf.memory().numTensors is flat over 100 steps (P-tuning LSTM and projected prefix tuning)", async () => {
    for (const spec of [pTuning({ numVirtualTokens: 3, encoderReparameterizationType: "LSTM", encoderHiddenSize: 6 }), prefixTuning({ numVirtualTokens: 2, prefixProjection: true })]) {
      const peft = getPeftModel(await loadBase("base_llama"), spec);
      const batch = causalBatch();
      const counts: number[] = [];
      await train({ model: peft, loss: (b: ModelInputs) => peft.forward(b).loss as tf.Scalar, batches: [batch], steps: 100, lr: 1e-3, onStep: (s) => void counts.push(s.numTensors) });
      expect(counts).toHaveLength(100);
      expect(counts.at(-1)).toBe(counts[0]);
      for (const t of Object.values(batch) as tf.Tensor[]) t.dispose();
      peft.dispose();
    }
  });

  it("a config that does not fit the model fails at getPeftModel with the fix, and leaves the model as it was", async () => {
    const base = await loadBase("base_gpt2");
    const before = base.parameters().length;
    expect(() => getPeftModel(base, promptTuning({ numVirtualTokens: 4, tokenDim: 32 }))).toThrow(/tokenDim is 32 but the model needs 16 \(its hidden size\)\. Leave tokenDim unset/);
    expect(() => getPeftModel(base, pTuning({ numVirtualTokens: 4, tokenDim: 8 }))).toThrow(/tokenDim is 8 but the model needs 16/);
    const llama = await loadBase("base_llama");
    expect(() => getPeftModel(llama, prefixTuning({ numVirtualTokens: 4, tokenDim: 16 }))).toThrow(/tokenDim is 16 but the model needs 8 \(its key\/value width: 2 key\/value heads × head dim 4\)/);
    expect(() => getPeftModel(llama, prefixTuning({ numVirtualTokens: 4, numLayers: 3 }))).toThrow(/numLayers is 3 but the model needs 2/);
    expect(base.parameters().length).toBe(before);
    expect(base.parameters().every((v) => !v.trainable)).toBe(false);
  });
});

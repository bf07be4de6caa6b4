/**
 * Behaviour the fixtures do not cover, on tiny random models of each architecture: children are called
 * through the module tree (PEFT replacements take effect), key/value prefixes equal the same keys given
 * as a cache, the KV cache equals recomputation, padding does not leak into real positions, inputsEmbeds
 * equals the embedding lookup, tied weights are one variable, gradients reach every parameter, no leaks.
 */
import { describe, expect, it } from "vitest";
import { tf, setSeed, Module } from "@peftjs/core";
import type { LayerKV, ModelInputs, Tensor } from "@peftjs/core";
import { bertConfig, createModel, gpt2Config, llamaConfig, BertForSequenceClassification, GPT2LMHeadModel, LlamaForCausalLM } from "../src/index.js";
import type { PretrainedModel } from "../src/index.js";
import { expectClose } from "./helpers.js";

const ARCHS = {
  gpt2: () => new GPT2LMHeadModel(gpt2Config("tiny", { vocabSize: 50 })),
  bert: () => new BertForSequenceClassification(bertConfig("tiny", { vocabSize: 50, numLabels: 3 })),
  llama: () => new LlamaForCausalLM(llamaConfig("tiny", { vocabSize: 50 })),
} as const;
type Arch = keyof typeof ARCHS;

/** A projection of each architecture and its output width, for replacement tests. */
const PROJECTION: Record<Arch, string> = {
  gpt2: "transformer.h.1.attn.c_attn",
  bert: "bert.encoder.layer.1.attention.self.value",
  llama: "model.layers.1.self_attn.v_proj",
};

function build(arch: Arch, seed = 7): PretrainedModel {
  setSeed(seed);
  return ARCHS[arch]().eval();
}

const ids = () => tf.tensor2d([[3, 14, 15, 9, 2, 6], [5, 35, 8, 9, 7, 9]], undefined, "int32");

function logits(model: PretrainedModel, inputs: ModelInputs): number[] {
  const out = model.forward(inputs);
  const data = Array.from(out.logits.dataSync());
  tf.dispose([out.logits, out.loss, ...(out.pastKeyValues ?? []).flatMap((kv) => [kv.key, kv.value])].filter((t): t is Tensor => t !== undefined));
  return data;
}

/** Wraps a module, counting calls and adding `shift` to its output (a stand-in for a LoRA layer). */
class Spy extends Module {
  calls = 0;
  shift = 0;
  constructor(readonly inner: Module & { forward(x: Tensor): Tensor }) {
    super();
    this.registerModule("base_layer", inner);
  }
  forward(x: Tensor): Tensor {
    this.calls++;
    return tf.add(this.inner.forward(x), this.shift);
  }
}

describe.each(Object.keys(ARCHS) as Arch[])("%s", (arch) => {
  it("calls children through the module tree, so a replacement made after construction takes effect", () => {
    const model = build(arch);
    const input = ids();
    const base = logits(model, { inputIds: input });
    const spy = new Spy(model.getSubmodule(PROJECTION[arch]) as Spy["inner"]);
    model.setSubmodule(PROJECTION[arch], spy);
    expectClose(logits(model, { inputIds: input }), base, 0);
    expect(spy.calls).toBe(1);
    spy.shift = 0.5;
    const shifted = logits(model, { inputIds: input });
    expect(Math.max(...shifted.map((x, i) => Math.abs(x - base[i]!)))).toBeGreaterThan(1e-3);
    expect(model.namedParameters().some(([n]) => n === `${PROJECTION[arch]}.base_layer.weight`)).toBe(true);
    model.dispose();
    input.dispose();
  });

  it("gives the same logits for inputsEmbeds as for the ids they embed", () => {
    const model = build(arch);
    const input = ids();
    const embeds = model.getInputEmbeddings().forward(input);
    expectClose(logits(model, { inputsEmbeds: embeds }), logits(model, { inputIds: input }), 1e-6);
    tf.dispose([embeds, input]);
    model.dispose();
  });

  it("attends to prefix keys/values exactly as to the same keys/values given as a cache", () => {
    const model = build(arch);
    const c = model.config;
    const P = 3;
    setSeed(11);
    const prefix: LayerKV[] = Array.from({ length: c.numHiddenLayers }, () => ({
      key: tf.randomNormal([1, c.numKeyValueHeads, P, c.headDim], 0, 1, "float32", 1),
      value: tf.randomNormal([1, c.numKeyValueHeads, P, c.headDim], 0, 1, "float32", 2),
    }));
    const tiled = prefix.map((kv) => ({ key: tf.tile(kv.key, [2, 1, 1, 1]), value: tf.tile(kv.value, [2, 1, 1, 1]) }));
    const input = ids();
    const positions = tf.tensor2d([[0, 1, 2, 3, 4, 5]], undefined, "int32");
    // Same positions both ways: the prefix does not shift them (pass positionIds to match PEFT, which does).
    const withPrefix = logits(model, { inputIds: input, prefixKeyValues: prefix });
    const asPast = logits(model, { inputIds: input, pastKeyValues: tiled, positionIds: positions });
    expectClose(withPrefix, asPast, 1e-5);
    // The prefix matters, and it is attended whatever the mask says about it.
    const plain = logits(model, { inputIds: input });
    expect(Math.max(...plain.map((x, i) => Math.abs(x - withPrefix[i]!)))).toBeGreaterThan(1e-4);
    const mask = tf.tensor2d([[0, 0, 0, 1, 1, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1, 1, 1, 1]], undefined, "int32");
    expectClose(logits(model, { inputIds: input, prefixKeyValues: prefix, attentionMask: mask }), withPrefix, 1e-6);
    tf.dispose([input, positions, mask, ...prefix.flatMap((kv) => [kv.key, kv.value]), ...tiled.flatMap((kv) => [kv.key, kv.value])]);
    model.dispose();
  });

  it("lets gradients reach every parameter and leaks no tensor", () => {
    const model = build(arch);
    model.train();
    const input = ids();
    const labels = arch === "bert" ? tf.tensor1d([0, 2], "int32") : input;
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(() => model.forward({ inputIds: input, labels }).loss! as tf.Scalar);
    const names = new Map(model.namedParameters().map(([n, v]) => [v.name, n]));
    const withGrad = Object.keys(grads).map((k) => names.get(k));
    // BERT's last layer output reaches the loss only through the first token (pooler), so everything has a gradient.
    expect(withGrad.sort()).toEqual(model.namedParameters().map(([n]) => n).sort());
    tf.tidy(() => {
      for (const g of Object.values(grads)) expect(Number.isFinite(tf.sum(tf.abs(g)).dataSync()[0])).toBe(true);
    });
    tf.dispose([value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([input, labels]);
    model.dispose();
  });
});

describe.each(["gpt2", "llama"] as const)("%s causal LM", (arch) => {
  it("gives the same logits step by step with the KV cache as over the whole sequence", () => {
    const model = build(arch);
    const input = ids();
    const full = model.forward({ inputIds: input }).logits;
    const first = model.forward({ inputIds: tf.slice(input, [0, 0], [2, 4]), useCache: true });
    const second = model.forward({ inputIds: tf.slice(input, [0, 4], [2, 2]), pastKeyValues: first.pastKeyValues!, useCache: true });
    expect(second.pastKeyValues![0]!.key.shape).toEqual([2, model.config.numKeyValueHeads, 6, model.config.headDim]);
    expectClose(first.logits, tf.slice(full, [0, 0, 0], [2, 4, -1]).dataSync(), 1e-5);
    expectClose(second.logits, tf.slice(full, [0, 4, 0], [2, 2, -1]).dataSync(), 1e-5);
    model.dispose();
  });

  it("is causal: later tokens and right padding do not change earlier logits", () => {
    const model = build(arch);
    const a = tf.tensor2d([[3, 14, 15, 9, 2, 6]], undefined, "int32");
    const b = tf.tensor2d([[3, 14, 15, 40, 41, 42]], undefined, "int32");
    const la = logits(model, { inputIds: a });
    const lb = logits(model, { inputIds: b, attentionMask: tf.tensor2d([[1, 1, 1, 0, 0, 0]], undefined, "int32") });
    const V = model.config.vocabSize;
    expectClose(lb.slice(0, 3 * V), la.slice(0, 3 * V), 1e-6);
    model.dispose();
  });

  it("ties lm_head to the input embedding when the config says so (one variable, two paths)", () => {
    const model = arch === "gpt2" ? build("gpt2") : new LlamaForCausalLM(llamaConfig("tiny", { tieWordEmbeddings: true }));
    const embedPath = arch === "gpt2" ? "transformer.wte.weight" : "model.embed_tokens.weight";
    const sd = model.stateDict();
    expect(sd.get("lm_head.weight")).toBe(sd.get(embedPath));
    expect(model.namedParameters().filter(([n]) => n === "lm_head.weight")).toEqual([]);
    const untied = arch === "gpt2" ? new GPT2LMHeadModel(gpt2Config("tiny", { tieWordEmbeddings: false })) : build("llama");
    expect(untied.stateDict().get("lm_head.weight")).not.toBe(untied.stateDict().get(embedPath));
    model.dispose();
    untied.dispose();
  });
});

describe("BERT padding", () => {
  it("classifies a padded row as it classifies the unpadded sequence alone", () => {
    const model = build("bert");
    const padded = logits(model, {
      inputIds: tf.tensor2d([[3, 14, 15, 9, 0, 0], [5, 35, 8, 9, 7, 9]], undefined, "int32"),
      attentionMask: tf.tensor2d([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], undefined, "int32"),
    });
    const alone = logits(model, { inputIds: tf.tensor2d([[3, 14, 15, 9]], undefined, "int32") });
    expectClose(padded.slice(0, 3), alone, 1e-5);
    model.dispose();
  });
});

describe("dropout and modes", () => {
  it("is random in train mode with dropout and deterministic in eval mode", () => {
    setSeed(1);
    const model = createModel(gpt2Config("tiny", { residPdrop: 0.5 }));
    const input = ids();
    expect(model.training).toBe(true);
    const a = logits(model, { inputIds: input });
    const b = logits(model, { inputIds: input });
    expect(a).not.toEqual(b);
    model.eval();
    expect(logits(model, { inputIds: input })).toEqual(logits(model, { inputIds: input }));
    model.dispose();
  });
});

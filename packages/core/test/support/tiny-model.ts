/**
 * TEST ONLY: a tiny causal-LM-shaped model with Hugging Face-style paths
 * (`model.embed_tokens`, `model.layers.<i>.fc1|fc2`, `lm_head`) and a float64 reference forward.
 *
 * Children are looked up through the module tree at forward time (`getSubmodule`), so a method that replaces
 * `model.layers.0.fc1` with a tuner layer (or modules_to_save with a wrapper) is seen by the forward.
 */
import { tf } from "../../src/index.js";
import type { Tensor } from "../../src/index.js";
import { Module, ModuleList } from "../../src/index.js";
import { Embedding, Linear } from "../../src/index.js";
import type { ModelInputs, ModelOutput, PreTrainedModelLike } from "../../src/index.js";

interface Forward {
  forward(x: Tensor): Tensor;
}
function sub(m: Module, path: string): Forward {
  return m.getSubmodule(path) as unknown as Forward;
}

export class TinyBlock extends Module {
  constructor(dim: number, hidden: number) {
    super();
    this.registerModule("fc1", new Linear(dim, hidden));
    this.registerModule("fc2", new Linear(hidden, dim));
  }
  forward(x: Tensor): Tensor {
    return tf.tidy(() => tf.add(x, sub(this, "fc2").forward(tf.relu(sub(this, "fc1").forward(x)))));
  }
}

export class TinyBackbone extends Module {
  constructor(vocab: number, dim: number, hidden: number, layers: number) {
    super();
    this.registerModule("embed_tokens", new Embedding(vocab, dim, { initStd: 0.5 }));
    this.registerModule("layers", new ModuleList(Array.from({ length: layers }, () => new TinyBlock(dim, hidden))));
  }
}

export interface TinyOptions {
  vocab?: number;
  dim?: number;
  hidden?: number;
  layers?: number;
}

export class TinyModel extends Module implements PreTrainedModelLike {
  readonly config: { modelType: string; nameOrPath: string; vocab: number; dim: number; hidden: number; layers: number };
  readonly outputEmbeddingsPath = "lm_head";

  constructor(options: TinyOptions = {}) {
    super();
    const { vocab = 11, dim = 4, hidden = 6, layers = 2 } = options;
    this.config = { modelType: "tiny", nameOrPath: "peftjs/tiny-test", vocab, dim, hidden, layers };
    this.registerModule("model", new TinyBackbone(vocab, dim, hidden, layers));
    this.registerModule("lm_head", new Linear(dim, vocab, { bias: false }));
  }

  getInputEmbeddings(): Embedding {
    return this.getSubmodule("model.embed_tokens") as Embedding;
  }

  forward(inputs: ModelInputs): ModelOutput {
    return tf.tidy(() => {
      let h = inputs.inputsEmbeds ?? sub(this, "model.embed_tokens").forward(inputs.inputIds!);
      for (let i = 0; i < this.config.layers; i++) h = sub(this, `model.layers.${i}`).forward(h);
      return { logits: sub(this, "lm_head").forward(h) };
    });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Float64 reference (plain numbers), independent of tfjs.

export type Matrix = number[][];

/** Reads a 2-D tensor as float64 rows. */
export function rows(t: Tensor): Matrix {
  return t.arraySync() as Matrix;
}

/** y = x·Wᵀ + b for torch-layout W `[out, in]`. */
export function linear64(x: Matrix, w: Matrix, b: number[] | null): Matrix {
  return x.map((row) => w.map((wRow, o) => wRow.reduce((s, wi, i) => s + wi * row[i]!, 0) + (b === null ? 0 : b[o]!)));
}

export interface TinyWeights64 {
  embed: Matrix;
  layers: { w1: Matrix; b1: number[]; w2: Matrix; b2: number[] }[];
  head: Matrix;
}

/** The base weights (as they are now) from a TinyModel, reading through tuner layers' `base_layer`. */
export function tinyWeights64(model: Module, layers: number): TinyWeights64 {
  const p = new Map(model.namedParameters().map(([k, v]) => [k.replace(/\.base_layer\./, ".").replace(/\.original_module\./, "."), v]));
  const get = (k: string): Tensor => {
    const v = p.get(k);
    if (v === undefined) throw new Error(`tinyWeights64: no parameter ${k}`);
    return v;
  };
  return {
    embed: rows(get("model.embed_tokens.weight")),
    layers: Array.from({ length: layers }, (_, i) => ({
      w1: rows(get(`model.layers.${i}.fc1.weight`)),
      b1: get(`model.layers.${i}.fc1.bias`).arraySync() as number[],
      w2: rows(get(`model.layers.${i}.fc2.weight`)),
      b2: get(`model.layers.${i}.fc2.bias`).arraySync() as number[],
    })),
    head: rows(get("lm_head.weight")),
  };
}

/**
 * Logits for one sequence of token ids; `scales[path]` multiplies that Linear's output (the scale method's
 * Π(1 + v)), `head` replaces the output head weight (modules_to_save).
 */
export function tinyForward64(w: TinyWeights64, ids: number[], scales: Record<string, number[]> = {}, head: Matrix = w.head): Matrix {
  const scaled = (y: Matrix, path: string): Matrix => {
    const s = scales[path];
    return s === undefined ? y : y.map((r) => r.map((v, o) => v * s[o]!));
  };
  let h = ids.map((id) => [...w.embed[id]!]);
  w.layers.forEach((l, i) => {
    const a = scaled(linear64(h, l.w1, l.b1), `model.layers.${i}.fc1`).map((r) => r.map((v) => Math.max(0, v)));
    const f = scaled(linear64(a, l.w2, l.b2), `model.layers.${i}.fc2`);
    h = h.map((r, t) => r.map((v, d) => v + f[t]![d]!));
  });
  return scaled(linear64(h, head, null), "lm_head");
}

/**
 * Module-tree helpers the models share: calling children through the tree (so PEFT replacements are
 * seen), tying a Linear to an embedding matrix, and tidying a forward's output object.
 */
import { tf, nextSeed, Conv1D, Embedding, Linear, isTunerLayer } from "@peftjs/core";
import type { Module, ModelOutput, Tensor, Variable } from "@peftjs/core";

/** A module with a one-tensor forward: what the models call through the tree. */
export interface TensorModule extends Module {
  forward(x: Tensor): Tensor;
}

/**
 * Child `name` of `parent`, looked up in the module tree at call time, checked to have a forward method.
 * PEFT methods replace children (`setSubmodule("…attn.c_attn", loraLayer)`) after the model is built, so
 * a reference captured at construction would bypass them.
 */
export function childModule<M extends Module>(parent: Module, name: string): M {
  const m = parent.getSubmodule(name) as unknown as Partial<TensorModule>;
  if (typeof m.forward !== "function") {
    throw new Error(`Module "${name}" (${m.constructor?.name ?? "?"}) has no forward method; a module put in its place must keep the same forward signature.`);
  }
  return m as unknown as M;
}

/** `parent.<name>.forward(x)`, the child read through the tree (see `childModule`). */
export function callModule(parent: Module, name: string, x: Tensor): Tensor {
  return childModule<TensorModule>(parent, name).forward(x);
}

/**
 * Makes `linear` use `weight` (an embedding matrix `[vocab, hidden]`, which is already torch Linear's
 * `[out, in]` layout) as its own parameter: one variable under both paths, as torch's tied
 * `lm_head.weight is wte.weight`. `namedParameters()` then lists it once, `stateDict()` under both paths,
 * and training either path updates both.
 */
export function tieLinearWeight(linear: Linear, weight: Variable): void {
  if (linear.weight.shape.join() !== weight.shape.join()) {
    throw new Error(`tieLinearWeight: shapes differ: the linear layer has [${linear.weight.shape.join(", ")}], the tied weight [${weight.shape.join(", ")}].`);
  }
  linear.registerParameter("weight", weight);
  // Linear reads `this.weight` in forward; point the field at the shared variable too.
  (linear as { weight: Variable }).weight = weight;
}

/** `tf.tidy` for a forward that returns a ModelOutput (its tensors survive, everything else is freed). */
export function tidyOutput(fn: () => ModelOutput): ModelOutput {
  return tf.tidy(() => fn() as unknown as tf.TensorContainer) as unknown as ModelOutput;
}

/** The token embedding at `path`, looking through a tuner layer that may wrap it (LoRA on embeddings). */
export function embeddingAt(root: Module, path: string): Embedding {
  const m = root.getSubmodule(path);
  if (m instanceof Embedding) return m;
  if (isTunerLayer(m) && m.baseLayer instanceof Embedding) return m.baseLayer;
  throw new Error(`getInputEmbeddings: "${path}" is a ${m.constructor.name}, not an Embedding (nor a tuner layer wrapping one).`);
}

let skipInit = false;

/**
 * Runs `build` with every weight allocated as zeros instead of drawn at random: the weights are about to be
 * overwritten by a checkpoint (transformers skips initialisation on `from_pretrained` likewise). Saves
 * seconds of random sampling for a 100M-parameter model.
 */
export function withoutInit<T>(build: () => T): T {
  const previous = skipInit;
  skipInit = true;
  try {
    return build();
  } finally {
    skipInit = previous;
  }
}

/** N(0, std) from peftjs's seeded generator, or zeros inside `withoutInit`. */
export function initNormal(shape: number[], std: number): Tensor {
  return skipInit ? tf.zeros(shape) : tf.randomNormal(shape, 0, std, "float32", nextSeed());
}

/** A torch-layout Linear initialised as transformers does (`_init_weights`): weight N(0, std), bias 0. */
export function normalLinear(inFeatures: number, outFeatures: number, std: number, bias = true): Linear {
  const weight = initNormal([outFeatures, inFeatures], std);
  const zeros = tf.zeros([outFeatures]);
  // The variables share (and keep) the tensors' data; these handles can go.
  const linear = bias ? new Linear(inFeatures, outFeatures, { weight, bias_: zeros }) : new Linear(inFeatures, outFeatures, { bias: false, weight });
  weight.dispose();
  zeros.dispose();
  return linear;
}

/** GPT-2's Conv1D (weight `[in, out]`) with weight N(0, std) and bias 0. */
export function normalConv1D(inFeatures: number, outFeatures: number, std: number): Conv1D {
  const weight = initNormal([inFeatures, outFeatures], std);
  const conv = new Conv1D(inFeatures, outFeatures, { weight });
  weight.dispose();
  return conv;
}

/** An embedding table with rows N(0, std). */
export function normalEmbedding(num: number, dim: number, std: number): Embedding {
  const weight = initNormal([num, dim], std);
  const embedding = new Embedding(num, dim, { weight });
  weight.dispose();
  return embedding;
}

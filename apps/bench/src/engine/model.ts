/** Building, copying and describing the GPT-2 models the bench trains. */
import { setSeed, safetensorsStream, tf } from "@peftjs/core";
import type { Module, Tensor } from "@peftjs/core";
import { GPT2LMHeadModel, gpt2Config } from "@peftjs/models";
import type { GPT2Config } from "@peftjs/models";
import type { Gpt2Shape } from "../presets.js";
import type { ModelShape } from "../results.js";

export interface ConcreteShape extends Gpt2Shape {
  vocabSize: number;
}

/**
 * The config of a randomly initialised GPT-2 of this shape. Dropout is 0 everywhere (the peer uses the
 * same), so quality runs are deterministic and timings have no dropout kernels.
 */
export function gpt2ConfigFor(shape: ConcreteShape): GPT2Config {
  return gpt2Config("small", {
    vocabSize: shape.vocabSize,
    maxPositionEmbeddings: shape.nPositions,
    hiddenSize: shape.nEmbd,
    numHiddenLayers: shape.nLayer,
    numAttentionHeads: shape.nHead,
    residPdrop: 0,
    embdPdrop: 0,
    attnPdrop: 0,
  });
}

/** A model of `config`: random init from `seed` (same seed → same weights), then `weights` when given. */
export function instantiate(config: GPT2Config, seed: number, weights: Map<string, Tensor> | null = null): GPT2LMHeadModel {
  setSeed(seed);
  let model: GPT2LMHeadModel | undefined;
  // Layers make each variable from an initial tensor that stays alive unless a scope frees it; the tidy
  // frees those (variables are not tied to scopes), so building a model leaves only its parameters.
  tf.tidy(() => {
    model = new GPT2LMHeadModel(config);
  });
  if (weights !== null) assignWeights(model!, weights);
  return model!;
}

export function shapeOf(model: GPT2LMHeadModel): ConcreteShape {
  const c = model.config;
  return { nLayer: c.numHiddenLayers, nEmbd: c.hiddenSize, nHead: c.numAttentionHeads, vocabSize: c.vocabSize, nPositions: c.maxPositionEmbeddings };
}

export function describeModel(model: GPT2LMHeadModel, origin: string): ModelShape {
  return { family: "gpt2", ...shapeOf(model), params: model.numParameters(), origin };
}

/** Copies of every parameter (tied weights once), for restoring the shared base before each method. */
export function cloneWeights(model: Module): Map<string, Tensor> {
  return new Map(model.namedParameters().map(([path, v]) => [path, tf.keep(v.clone())] as const));
}

export function disposeWeights(weights: Map<string, Tensor>): void {
  for (const t of weights.values()) t.dispose();
}

/** Assigns saved weights into a model of the same shape (paths as `namedParameters()` lists them). */
export function assignWeights(model: Module, weights: Map<string, Tensor>): void {
  const params = new Map(model.namedParameters());
  for (const [path, t] of weights) {
    const v = params.get(path);
    if (v === undefined) throw new Error(`assignWeights: the model has no parameter "${path}"; the saved weights come from another shape.`);
    v.assign(t);
  }
}

/** Bytes of the safetensors file these tensors make (header from core's writer; data is not serialised). */
export async function safetensorsFileBytes(tensors: Map<string, Tensor>): Promise<number> {
  const it = safetensorsStream(tensors, { metadata: { format: "pt" } })[Symbol.asyncIterator]();
  const head = await it.next();
  await it.return?.();
  if (head.done === true) throw new Error("safetensorsFileBytes: the writer produced no header.");
  let bytes = head.value.byteLength;
  for (const t of tensors.values()) bytes += t.size * 4;
  return bytes;
}

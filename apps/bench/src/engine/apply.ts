/**
 * Puts a bench variant on a model: full fine-tuning marks every weight trainable; a PEFT variant wraps the
 * model with core's `getPeftModel` (base frozen, adapter trainable), exactly as a user would.
 */
import { getPeftModel, isTunerLayer, silentLogger, toAdapterConfigJson } from "@peftjs/core";
import type { Module, PeftModel, Variable } from "@peftjs/core";
import type { GPT2LMHeadModel } from "@peftjs/models";
import { adapterSpec, registry } from "../methods.js";
import type { BenchVariant } from "../methods.js";
import type { TrainableCount } from "../results.js";
import type { LmLike } from "./train.js";
import { safetensorsFileBytes } from "./model.js";

export interface Tuned {
  /** What trains: the PeftModel, or the model itself for full fine-tuning. */
  module: Module & LmLike;
  peft: PeftModel<GPT2LMHeadModel> | null;
  params: Variable[];
  trainable: TrainableCount;
  /** adapter_config.json as PEFT writes it; null for full fine-tuning. */
  peftConfig: Record<string, unknown> | null;
}

export function applyVariant(model: GPT2LMHeadModel, v: BenchVariant, warn: (message: string) => void): Tuned {
  if (v.method === null) {
    model.requiresGrad(true);
    const total = model.numParameters();
    return { module: model, peft: null, params: model.trainableParameters(), trainable: count(total, total), peftConfig: null };
  }
  const spec = adapterSpec(v);
  const peft = getPeftModel(model, spec, "default", { registry, logger: { ...silentLogger, warn } });
  const { trainableParams, allParams } = peft.getNbTrainableParameters();
  const config = peft.peftConfig.get("default") ?? spec.config;
  return {
    module: peft,
    peft,
    params: peft.trainableParameters(),
    trainable: count(trainableParams, allParams),
    peftConfig: toAdapterConfigJson(spec.method, config, null),
  };
}

function count(params: number, total: number): TrainableCount {
  return { params, total, percent: (100 * params) / total };
}

/**
 * Size of the file a user would ship: adapter_model.safetensors (the tensors `PeftModel.adapterFiles()`
 * writes, under core's header), or the whole model's weights for full fine-tuning. Computed from the
 * header alone: serialising reads tensors with dataSync, which the WebGPU backend cannot do in Node.
 */
export async function adapterFileBytes(model: GPT2LMHeadModel, tuned: Tuned): Promise<number> {
  if (tuned.peft !== null) return safetensorsFileBytes(tuned.peft.adapterStateDict("default"));
  return safetensorsFileBytes(new Map(model.namedParameters()));
}

/** A weight that merging writes: the base weight of the last tuner layer (read back to wait for a merge). */
export function mergeProbe(tuned: Tuned): Variable | null {
  if (tuned.peft === null) return null;
  const layers = tuned.peft.tunerLayers().filter(([, l]) => isTunerLayer(l));
  const last = layers[layers.length - 1];
  if (last === undefined) return null;
  return last[1].baseLayer.getParameter("weight") ?? null;
}

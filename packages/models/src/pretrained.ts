/**
 * `loadPretrained(dir)` / `savePretrained(model, dir)` for any architecture here, dispatching on
 * config.json's `model_type` (transformers `AutoModel…` style).
 */
import type { BaseModelConfig, JsonObject } from "./config.js";
import type { FileMap } from "@peftjs/core";
import { configJsonFromFiles, loadWithSpec, loadWithSpecFromFiles, readModelConfigJson, saveWithSpec } from "./checkpoint.js";
import type { ArchitectureSpec, LoadPretrainedOptions, SavePretrainedOptions } from "./checkpoint.js";
import { BertForSequenceClassification, bertArchitecture } from "./bert/model.js";
import { GPT2LMHeadModel, gpt2Architecture } from "./gpt2/model.js";
import { createDecoder, decoderArchitectures } from "./llama/model.js";
import type { LlamaForCausalLM } from "./llama/model.js";
import { bertConfigFromJson } from "./bert/config.js";
import type { BertConfig } from "./bert/config.js";
import { gpt2ConfigFromJson } from "./gpt2/config.js";
import type { GPT2Config } from "./gpt2/config.js";
import { decoderConfigFromJson, isDecoderModelType } from "./llama/families.js";
import type { LlamaConfig } from "./llama/config.js";

/** Every model class of this package. */
export type PretrainedModel = GPT2LMHeadModel | BertForSequenceClassification | LlamaForCausalLM;
export type ModelConfig = GPT2Config | BertConfig | LlamaConfig;

const ARCHITECTURES = {
  gpt2: gpt2Architecture,
  bert: bertArchitecture,
  ...decoderArchitectures,
} as const;

export type ModelType = keyof typeof ARCHITECTURES;

/** The model types `loadPretrained` can build. */
export const SUPPORTED_MODEL_TYPES = Object.keys(ARCHITECTURES) as ModelType[];

function supported(): string {
  return Object.values(ARCHITECTURES)
    .map((a) => `${a.modelType} (${a.architecture})`)
    .join(", ");
}

function specFor(modelType: unknown, where: string): ArchitectureSpec<BaseModelConfig, PretrainedModel> {
  if (typeof modelType !== "string" || !(modelType in ARCHITECTURES)) {
    throw new Error(`${where}: model_type ${JSON.stringify(modelType)} is not supported; supported: ${supported()}.`);
  }
  const name: ModelType = modelType as ModelType;
  return ARCHITECTURES[name];
}

/**
 * The model type of a config.json: its `model_type`, or (older or hand-written files without one) the
 * type whose transformers class its `architectures` names, as transformers' AutoConfig falls back to.
 */
export function modelTypeOf(json: JsonObject, where: string): ModelType {
  const type = json.model_type;
  if (type !== undefined && type !== null) {
    specFor(type, where);
    return type as ModelType;
  }
  const archs = Array.isArray(json.architectures) ? (json.architectures as unknown[]) : [];
  for (const a of archs) {
    const hit = Object.values(ARCHITECTURES).find((s) => s.architecture === a);
    if (hit !== undefined) return hit.modelType as ModelType;
  }
  throw new Error(
    `${where}: config.json has no model_type${archs.length > 0 ? ` and its architectures ${JSON.stringify(archs)} name no supported class` : " and no architectures"}; supported: ${supported()}.`,
  );
}

/**
 * Loads a local Hugging Face folder as the model its config.json names (gpt2 → GPT2LMHeadModel,
 * bert → BertForSequenceClassification, llama → LlamaForCausalLM, qwen2 → Qwen2ForCausalLM, mistral,
 * qwen3, gemma2, gemma3_text, phi3 likewise), in eval mode.
 */
export async function loadPretrained(dir: string, options: LoadPretrainedOptions = {}): Promise<PretrainedModel> {
  const json = await readModelConfigJson(dir, { allowLinksOutside: options.allowLinksOutside === true });
  const where = `loadPretrained("${dir}")`;
  const modelType = modelTypeOf(json, where);
  return loadWithSpec(dir, specFor(modelType, where), options, { ...json, model_type: modelType });
}

/**
 * `loadPretrained` from files in memory: a browser's picked folder (`readFileList(input.files)` from
 * @peftjs/core) or any map of name → bytes holding `config.json` and `model.safetensors` (or an index and
 * its shards).
 */
export function loadPretrainedFromFiles(files: FileMap, options: LoadPretrainedOptions = {}): PretrainedModel {
  const json = configJsonFromFiles(files);
  const where = "loadPretrainedFromFiles";
  const modelType = modelTypeOf(json, where);
  return loadWithSpecFromFiles(files, specFor(modelType, where), options, { ...json, model_type: modelType });
}

/** Alias of `loadPretrained`, in transformers' words. */
export const fromPretrained = loadPretrained;

/** Writes config.json + model.safetensors (atomically) in the layout transformers' `from_pretrained` reads. */
export async function savePretrained(model: PretrainedModel, dir: string, options: SavePretrainedOptions = {}): Promise<void> {
  await saveWithSpec(model, specFor(model.config.modelType, "savePretrained"), dir, options);
}

/** Parses a config.json object of any supported architecture. */
export function configFromJson(json: JsonObject, source = "config.json"): ModelConfig {
  switch (json.model_type) {
    case "gpt2":
      return gpt2ConfigFromJson(json, source);
    case "bert":
      return bertConfigFromJson(json, source);
    default:
      if (isDecoderModelType(json.model_type)) return decoderConfigFromJson(json, source);
      throw new Error(`${source}: model_type ${JSON.stringify(json.model_type)} is not supported; supported: ${supported()}.`);
  }
}

/** A random-init model for a config (tests, benchmarks, training from scratch). */
export function createModel(config: GPT2Config): GPT2LMHeadModel;
export function createModel(config: BertConfig): BertForSequenceClassification;
export function createModel(config: LlamaConfig): LlamaForCausalLM;
export function createModel(config: ModelConfig): PretrainedModel;
export function createModel(config: ModelConfig): PretrainedModel {
  switch (config.modelType) {
    case "gpt2":
      return new GPT2LMHeadModel(config);
    case "bert":
      return new BertForSequenceClassification(config);
    case "llama":
    case "mistral":
    case "qwen2":
    case "qwen3":
    case "gemma2":
    case "gemma3_text":
    case "phi3":
      return createDecoder(config);
  }
}

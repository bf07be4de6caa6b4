/**
 * PEFT's default `target_modules` per transformers `model_type`, used when a config gives none (peft
 * `utils/constants.py` `TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING`, PEFT 0.21; LoHa, LoKr, OFT,
 * BOFT, HRA, … copy the same table; `BaseTuner._prepare_adapter_config` looks the model type up and raises
 * "Please specify `target_modules` in `peft_config`" when it is missing). A string entry is a full-match
 * regular expression, as `target_modules` strings are.
 */
import type { Module } from "../nn/module.js";

export type TargetModulesDefault = readonly string[] | string;

/** PEFT 0.21 `TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING`, entry for entry. */
export const LORA_TARGET_MODULES_BY_MODEL_TYPE: Readonly<Record<string, TargetModulesDefault>> = {
  t5: ["q", "v"],
  mt5: ["q", "v"],
  bart: ["q_proj", "v_proj"],
  gpt2: ["c_attn"],
  bloom: ["query_key_value"],
  "blip-2": ["q", "v", "q_proj", "v_proj"],
  opt: ["q_proj", "v_proj"],
  gptj: ["q_proj", "v_proj"],
  gpt_neox: ["query_key_value"],
  gpt_neo: ["q_proj", "v_proj"],
  bert: ["query", "value"],
  roberta: ["query", "value"],
  "xlm-roberta": ["query", "value"],
  electra: ["query", "value"],
  "deberta-v2": ["query_proj", "value_proj"],
  deberta: ["in_proj"],
  layoutlm: ["query", "value"],
  llama: ["q_proj", "v_proj"],
  llama4: ["q_proj", "v_proj"],
  chatglm: ["query_key_value"],
  gpt_bigcode: ["c_attn"],
  mpt: ["Wqkv"],
  RefinedWebModel: ["query_key_value"],
  RefinedWeb: ["query_key_value"],
  falcon: ["query_key_value"],
  btlm: ["c_proj", "c_attn"],
  codegen: ["qkv_proj"],
  mistral: ["q_proj", "v_proj"],
  mixtral: ["q_proj", "v_proj"],
  stablelm: ["q_proj", "v_proj"],
  phi: ["q_proj", "v_proj", "fc1", "fc2"],
  gemma: ["q_proj", "v_proj"],
  gemma2: ["q_proj", "v_proj"],
  gemma3_text: ["q_proj", "v_proj"],
  gemma4: String.raw`.*language_model\..*\.(q_proj|v_proj)`,
  qwen2: ["q_proj", "v_proj"],
  qwen3: ["q_proj", "v_proj"],
  nemotron_h: ["q_proj", "k_proj", "v_proj", "o_proj"],
  rwkv: ["key", "value", "receptance", "output"],
  rwkv7: ["r_proj", "k_proj", "v_proj", "o_proj", "key", "value"],
};

/** The model's `config.modelType` (transformers `model_type`), or null. */
export function modelTypeOf(model: Module): string | null {
  const config = (model as unknown as { config?: { modelType?: unknown } }).config;
  return typeof config?.modelType === "string" ? config.modelType : null;
}

/**
 * `targetModules` as given, or — when null — the model type's default from `mapping` (a fresh copy).
 * Throws PEFT's error, with the fix, when there is no default (Phi-3 has none in PEFT: its fused
 * `qkv_proj` / `gate_up_proj` must be named).
 */
export function resolveTargetModules(
  model: Module,
  targetModules: readonly string[] | string | null | undefined,
  method: string,
  mapping: Readonly<Record<string, TargetModulesDefault>> = LORA_TARGET_MODULES_BY_MODEL_TYPE,
): string[] | string {
  if (targetModules !== null && targetModules !== undefined) return typeof targetModules === "string" ? targetModules : [...targetModules];
  const type = modelTypeOf(model);
  const found = type === null || !Object.hasOwn(mapping, type) ? undefined : mapping[type];
  if (found === undefined) {
    throw new Error(
      `${method}: targetModules is not set and PEFT has no default for model type ${type === null ? "(unknown: the model has no config.modelType)" : `"${type}"`}. ` +
        `Pass targetModules, e.g. ["q_proj", "v_proj"]${type === "phi3" ? ' (Phi-3 fuses them: ["qkv_proj"], ["gate_up_proj"])' : ""} or "all-linear". ` +
        `Model types with a default: ${Object.keys(mapping).join(", ")}.`,
    );
  }
  return typeof found === "string" ? found : [...found];
}

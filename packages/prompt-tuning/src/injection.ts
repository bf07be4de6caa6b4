/**
 * What the three methods' `inject` share (PEFT `PeftModel._setup_prompt_encoder`, `get_prompt_embedding_to_save`,
 * `BasePromptEncoder._get_adapter_state_dict`): the encoder is held by the PeftModel as `prompt_encoder`
 * (the base model is not changed), the input hook rewrites every forward, and the file holds one bare
 * `prompt_embeddings` key.
 *
 * What trains and what is saved differ when the table is reparameterised (P-tuning, prefix tuning with
 * `prefixProjection`): the encoder's parameters train, its output is saved (PEFT saves
 * `prompt_encoder(prompt_tokens)`), and a saved adapter loads as that table (PEFT loads prompt-learning
 * adapters in inference mode).
 */
import { tf } from "@peftjs/core";
import type { Injection, InputHook, Module, PreTrainedModelLike, Tensor } from "@peftjs/core";
import type { PromptTableEncoder } from "./encoder.js";
import type { PromptLearningConfig } from "./config.js";
import { configError } from "./config.js";

/** PEFT's one file key for every prompt-learning method. */
export const PROMPT_EMBEDDINGS_KEY = "prompt_embeddings";
/** The PeftModel's name for the encoders it holds (PEFT's `prompt_encoder` ModuleDict). */
export const PROMPT_ENCODER_MODULE = "prompt_encoder";
/**
 * PEFT's prompt-learning PeftModel leaves the base model unwrapped, so the SEQ_CLS head it saves is
 * `base_model.classifier.weight` (LoRA's are under `base_model.model.`).
 */
export const PROMPT_MODULES_TO_SAVE_PREFIX = "base_model.";

/** The base model as a prompt method needs it: a `@peftjs/models`-style model that takes `inputsEmbeds`. */
export function languageModel(model: Module, method: string): PreTrainedModelLike {
  const lm = model as unknown as Partial<PreTrainedModelLike>;
  if (typeof lm.getInputEmbeddings !== "function" || typeof lm.forward !== "function") {
    configError(method, "the model has no getInputEmbeddings() / forward(inputs); prompt methods need a model that takes inputsEmbeds, prefixKeyValues and attentionMask (a @peftjs/models model).");
  }
  return lm as PreTrainedModelLike;
}

export function promptInjection<C extends PromptLearningConfig>(config: C, encoder: PromptTableEncoder, inputHook: InputHook): Injection<C> {
  const reparameterised = !encoder.inferenceMode && encoder.parameters().length > 1;
  // The encoder's output as saved, recomputed on each savedState() call into a buffer of the encoder (freed
  // with it, by remove() or by disposing the PeftModel; buffers are neither parameters nor trained).
  const savedState = (): ReadonlyMap<string, Tensor> => new Map([[PROMPT_EMBEDDINGS_KEY, encoder.registerBuffer("saved_table", tf.tidy(() => encoder.table()))]]);
  return {
    config,
    targets: [],
    state: () =>
      reparameterised
        ? // What trains; the file gets savedState(). Named like PEFT's own state dict (`prompt_encoder.<param>`).
          new Map(encoder.namedParameters().map(([path, v]) => [`${PROMPT_ENCODER_MODULE}.${path}`, v] as const))
        : new Map([[PROMPT_EMBEDDINGS_KEY, encoder.embedding.weight]]),
    ...(reparameterised ? { savedState } : {}),
    modulesToSavePrefix: PROMPT_MODULES_TO_SAVE_PREFIX,
    inputHook,
    modules: new Map([[PROMPT_ENCODER_MODULE, encoder]]),
    remove: () => encoder.dispose(),
  };
}

/**
 * Prompt tuning configuration: PEFT's `PromptTuningConfig` (peft `tuners/prompt_tuning/config.py`) with its
 * defaults and `__post_init__` checks, camelCase here.
 */
import { COMMON_OPTIONS, OptionReader, commonToPeft, configError, describe, optionsFromPeft, parseCommon } from "../config.js";
import type { PromptLearningConfig } from "../config.js";

/** How the virtual-token table starts (PEFT `PromptTuningInit`). */
export type PromptTuningInit = "RANDOM" | "SAMPLE_VOCAB" | "TEXT";
export const PROMPT_TUNING_INITS: readonly PromptTuningInit[] = ["RANDOM", "SAMPLE_VOCAB", "TEXT"];

/**
 * What TEXT init needs from a tokenizer: the ids of a text, special tokens included, as PEFT's
 * `tokenizer(text)["input_ids"]`. `@peftjs/models`' `PretrainedTokenizer` is one.
 */
export interface TextTokenizer {
  encode(text: string): number[];
}

export interface PromptTuningConfig extends PromptLearningConfig {
  readonly peftType: "PROMPT_TUNING";
  /**
   * RANDOM (default): N(0, 1) like torch's nn.Embedding; SAMPLE_VOCAB: rows of the model's word embeddings at
   * random token ids; TEXT: the word embeddings of `promptTuningInitText`'s tokens, repeated or cut to length.
   */
  readonly promptTuningInit: PromptTuningInit;
  readonly promptTuningInitText: string | null;
  /** Where the tokenizer lives (written to adapter_config.json; PEFT needs it to accept a TEXT config). */
  readonly tokenizerNameOrPath: string | null;
  /** PEFT `tokenizer_kwargs` (kept for the file; the tokenizer here is the object given as `tokenizer`). */
  readonly tokenizerKwargs: Readonly<Record<string, unknown>> | null;
  /** The tokenizer TEXT init runs the text through; not saved. */
  readonly tokenizer: TextTokenizer | null;
}

export interface PromptTuningOptions {
  numVirtualTokens: number;
  promptTuningInit?: PromptTuningInit;
  promptTuningInitText?: string | null;
  tokenizer?: TextTokenizer | null;
  tokenizerNameOrPath?: string | null;
  tokenizerKwargs?: Record<string, unknown> | null;
  tokenDim?: number | null;
  numTransformerSubmodules?: number | null;
  numAttentionHeads?: number | null;
  numLayers?: number | null;
  taskType?: string | null;
  baseModelNameOrPath?: string | null;
  inferenceMode?: boolean;
  modulesToSave?: string[] | null;
}

const METHOD = "Prompt tuning";
/** This method's own options → adapter_config.json names (`tokenizer` is an object and is not saved). */
const OWN: Readonly<Record<string, string>> = {
  promptTuningInit: "prompt_tuning_init",
  promptTuningInitText: "prompt_tuning_init_text",
  tokenizerNameOrPath: "tokenizer_name_or_path",
  tokenizerKwargs: "tokenizer_kwargs",
};

/** Validates options and fills PEFT's defaults (PEFT `PromptTuningConfig.__post_init__`'s checks included). */
export function parsePromptTuningConfig(raw: unknown): PromptTuningConfig {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    configError(METHOD, `options must be an object such as { numVirtualTokens: 20 }, got ${describe(raw)}.`);
  }
  const r = new OptionReader(METHOD, raw as Record<string, unknown>);
  r.checkNames({ ...COMMON_OPTIONS, ...OWN }, ["tokenizer"]);
  const common = parseCommon(r, "PROMPT_TUNING");
  const init = r.oneOf("promptTuningInit", PROMPT_TUNING_INITS, "RANDOM");
  const text = r.string("promptTuningInitText");
  const tokenizerNameOrPath = r.string("tokenizerNameOrPath");
  const kwargs = r.options.tokenizerKwargs;
  if (kwargs !== undefined && kwargs !== null && (typeof kwargs !== "object" || Array.isArray(kwargs))) r.fail(`tokenizerKwargs must be an object or null, got ${describe(kwargs)}.`);
  const tokenizer = r.options.tokenizer ?? null;
  if (tokenizer !== null && typeof (tokenizer as Partial<TextTokenizer>).encode !== "function") {
    r.fail("tokenizer must have an encode(text) method returning token ids, e.g. `await loadTokenizer(dir)` from @peftjs/models.");
  }
  if (init === "TEXT") {
    if (text === null || text === "") r.fail('promptTuningInit "TEXT" needs promptTuningInitText: the text whose token embeddings start the virtual tokens, e.g. "Classify the sentiment of this review:".');
    // PEFT refuses a TEXT config without tokenizer_name_or_path, so an adapter saved without it would not load there.
    if (tokenizerNameOrPath === null || tokenizerNameOrPath === "") {
      r.fail('promptTuningInit "TEXT" needs tokenizerNameOrPath (the tokenizer\'s folder or hub id): PEFT requires it in adapter_config.json to load the adapter.');
    }
    if (tokenizer === null && !common.inferenceMode) {
      r.fail('promptTuningInit "TEXT" needs the tokenizer itself to turn the text into token ids: pass tokenizer (e.g. `await loadTokenizer(dir)` from @peftjs/models).');
    }
  } else if (kwargs !== undefined && kwargs !== null) {
    r.fail(`tokenizerKwargs is only used with promptTuningInit "TEXT" (got "${init}"); remove it.`);
  }
  return {
    ...common,
    promptTuningInit: init,
    promptTuningInitText: text,
    tokenizerNameOrPath,
    tokenizerKwargs: kwargs === undefined || kwargs === null ? null : { ...(kwargs as Record<string, unknown>) },
    tokenizer: tokenizer as TextTokenizer | null,
  };
}

/** Config → adapter_config.json object (snake_case). */
export function toPeftPromptTuningConfig(config: PromptTuningConfig): Record<string, unknown> {
  return {
    ...commonToPeft(config),
    prompt_tuning_init: config.promptTuningInit,
    prompt_tuning_init_text: config.promptTuningInitText,
    tokenizer_name_or_path: config.tokenizerNameOrPath,
    tokenizer_kwargs: config.tokenizerKwargs,
  };
}

/** adapter_config.json object → config (read for loading: the table comes from the file, no tokenizer needed). */
export function fromPeftPromptTuningConfig(json: Record<string, unknown>): { config: PromptTuningConfig; unknownFields: string[] } {
  const { options, unknownFields } = optionsFromPeft(METHOD, "PROMPT_TUNING", json, OWN);
  // A loaded table is not re-initialised, so TEXT init needs no tokenizer object here (PEFT skips the init
  // in inference mode too); the check for one applies when the config trains from scratch.
  const config = parsePromptTuningConfig({ ...options, inferenceMode: true });
  return { config: { ...config, inferenceMode: options.inferenceMode === true }, unknownFields };
}

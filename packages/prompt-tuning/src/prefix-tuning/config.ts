/**
 * Prefix tuning configuration: PEFT's `PrefixTuningConfig` (peft `tuners/prefix_tuning/config.py`) with its
 * defaults, camelCase here.
 */
import { COMMON_OPTIONS, OptionReader, commonToPeft, configError, describe, optionsFromPeft, parseCommon } from "../config.js";
import type { PromptLearningConfig } from "../config.js";

export interface PrefixTuningConfig extends PromptLearningConfig {
  readonly peftType: "PREFIX_TUNING";
  /** Reparameterise the prefix through Linear(tokenDim → encoderHiddenSize) → tanh → Linear(→ 2·layers·tokenDim) (Li & Liang 2021, §4.3). */
  readonly prefixProjection: boolean;
  /** Width of the projection's hidden layer; null: tokenDim (PEFT's default, filled at injection). */
  readonly encoderHiddenSize: number | null;
  /** "zero": the prefix (or the projection's last layer) starts at zero; null: random (N(0, 1) table, torch Linear init). */
  readonly initWeights: "zero" | null;
}

export interface PrefixTuningOptions {
  numVirtualTokens: number;
  prefixProjection?: boolean;
  encoderHiddenSize?: number | null;
  initWeights?: "zero" | null;
  tokenDim?: number | null;
  numTransformerSubmodules?: number | null;
  numAttentionHeads?: number | null;
  numLayers?: number | null;
  taskType?: string | null;
  baseModelNameOrPath?: string | null;
  inferenceMode?: boolean;
  modulesToSave?: string[] | null;
}

const METHOD = "Prefix tuning";
const OWN: Readonly<Record<string, string>> = {
  prefixProjection: "prefix_projection",
  encoderHiddenSize: "encoder_hidden_size",
  initWeights: "init_weights",
};

export function parsePrefixTuningConfig(raw: unknown): PrefixTuningConfig {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) configError(METHOD, `options must be an object such as { numVirtualTokens: 20 }, got ${describe(raw)}.`);
  const r = new OptionReader(METHOD, raw as Record<string, unknown>);
  r.checkNames({ ...COMMON_OPTIONS, ...OWN });
  const common = parseCommon(r, "PREFIX_TUNING");
  const init = r.options.initWeights;
  if (init !== undefined && init !== null && init !== "zero") r.fail(`initWeights must be "zero" or null (random), got ${describe(init)}.`);
  return {
    ...common,
    prefixProjection: r.bool("prefixProjection", false),
    encoderHiddenSize: r.positiveInt("encoderHiddenSize"),
    initWeights: init === "zero" ? "zero" : null,
  };
}

export function toPeftPrefixTuningConfig(config: PrefixTuningConfig): Record<string, unknown> {
  return {
    ...commonToPeft(config),
    prefix_projection: config.prefixProjection,
    encoder_hidden_size: config.encoderHiddenSize,
    init_weights: config.initWeights,
  };
}

export function fromPeftPrefixTuningConfig(json: Record<string, unknown>): { config: PrefixTuningConfig; unknownFields: string[] } {
  const { options, unknownFields } = optionsFromPeft(METHOD, "PREFIX_TUNING", json, OWN);
  return { config: parsePrefixTuningConfig(options), unknownFields };
}

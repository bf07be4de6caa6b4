/**
 * P-tuning configuration: PEFT's `PromptEncoderConfig` (peft `tuners/p_tuning/config.py`) with its defaults,
 * camelCase here.
 */
import { COMMON_OPTIONS, OptionReader, commonToPeft, configError, describe, optionsFromPeft, parseCommon } from "../config.js";
import type { PromptLearningConfig } from "../config.js";

/** PEFT `PromptEncoderReparameterizationType`. */
export type EncoderReparameterizationType = "MLP" | "LSTM";

export interface PromptEncoderConfig extends PromptLearningConfig {
  readonly peftType: "P_TUNING";
  /**
   * MLP (default): Linear → ReLU → Linear → ReLU → Linear on each virtual token; LSTM: a bidirectional LSTM over
   * the virtual tokens, then Linear → ReLU → Linear (Liu et al. 2021, §3.2; PEFT `PromptEncoder`).
   */
  readonly encoderReparameterizationType: EncoderReparameterizationType;
  /** The encoder's hidden width; null: tokenDim (PEFT's default, filled at injection). */
  readonly encoderHiddenSize: number | null;
  /** LSTM layers (default 2). The MLP always has PEFT's 3 layers (PEFT warns and ignores other values). */
  readonly encoderNumLayers: number;
  /** Dropout between LSTM layers (torch LSTM `dropout`, training only; default 0). The MLP has none. */
  readonly encoderDropout: number;
}

export interface PromptEncoderOptions {
  numVirtualTokens: number;
  encoderReparameterizationType?: EncoderReparameterizationType;
  encoderHiddenSize?: number | null;
  encoderNumLayers?: number;
  encoderDropout?: number;
  tokenDim?: number | null;
  numTransformerSubmodules?: number | null;
  numAttentionHeads?: number | null;
  numLayers?: number | null;
  taskType?: string | null;
  baseModelNameOrPath?: string | null;
  inferenceMode?: boolean;
  modulesToSave?: string[] | null;
}

/** PEFT's `encoder_num_layers` default, the only MLP depth it builds. */
export const MLP_ENCODER_LAYERS = 2;

const METHOD = "P-tuning";
const OWN: Readonly<Record<string, string>> = {
  encoderReparameterizationType: "encoder_reparameterization_type",
  encoderHiddenSize: "encoder_hidden_size",
  encoderNumLayers: "encoder_num_layers",
  encoderDropout: "encoder_dropout",
};

export function parsePromptEncoderConfig(raw: unknown): PromptEncoderConfig {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) configError(METHOD, `options must be an object such as { numVirtualTokens: 20 }, got ${describe(raw)}.`);
  const r = new OptionReader(METHOD, raw as Record<string, unknown>);
  r.checkNames({ ...COMMON_OPTIONS, ...OWN });
  const common = parseCommon(r, "P_TUNING");
  const type = r.oneOf<EncoderReparameterizationType>("encoderReparameterizationType", ["MLP", "LSTM"], "MLP");
  const given = r.options.encoderDropout ?? 0;
  if (typeof given !== "number" || !(given >= 0 && given < 1)) r.fail(`encoderDropout must be a number in [0, 1), got ${describe(given)}.`);
  const dropout = given as number;
  return {
    ...common,
    encoderReparameterizationType: type,
    encoderHiddenSize: r.positiveInt("encoderHiddenSize"),
    encoderNumLayers: r.positiveInt("encoderNumLayers") ?? MLP_ENCODER_LAYERS,
    encoderDropout: dropout,
  };
}

export function toPeftPromptEncoderConfig(config: PromptEncoderConfig): Record<string, unknown> {
  return {
    ...commonToPeft(config),
    encoder_reparameterization_type: config.encoderReparameterizationType,
    encoder_hidden_size: config.encoderHiddenSize,
    encoder_num_layers: config.encoderNumLayers,
    encoder_dropout: config.encoderDropout,
  };
}

export function fromPeftPromptEncoderConfig(json: Record<string, unknown>): { config: PromptEncoderConfig; unknownFields: string[] } {
  const { options, unknownFields } = optionsFromPeft(METHOD, "P_TUNING", json, OWN);
  return { config: parsePromptEncoderConfig(options), unknownFields };
}

/**
 * RoPE parameters and inverse frequencies as transformers 5.17 computes them
 * (transformers/modeling_rope_utils.py: `ROPE_INIT_FUNCTIONS`, `standardize_rope_params`,
 * `dynamic_rope_update`; each model's `compute_default_rope_parameters`).
 *
 * - default: inv_freq_i = 1 / θ^(2i/d)
 * - linear (kaiokendev): inv_freq / factor
 * - dynamic NTK (bloc97, emozilla): θ' = θ·(factor·L/L₀ − (factor − 1))^(d/(d−2)) with L = max(seq, L₀),
 *   recomputed from each call's largest position (transformers recomputes it when the sequence grows)
 * - llama3 (Llama 3.1): long wavelengths divided by factor, short kept, a smooth ramp between
 * - yarn (Peng et al. 2023, arXiv:2309.00071): interpolation/extrapolation blend over a linear ramp between
 *   the correction dims of beta_fast/beta_slow; cos/sin scaled by 0.1·ln(factor) + 1 (or `attention_factor`)
 * - longrope (LongRoPE, Phi-3): inv_freq / short_factor, or / long_factor once the sequence passes
 *   `original_max_position_embeddings`; cos/sin scaled by √(1 + ln(factor)/ln(L₀))
 *
 * d is `head_dim · partial_rotary_factor` (the rotated part of each head).
 */
import { ConfigReader } from "../config.js";
import type { JsonObject } from "../config.js";

export const ROPE_TYPES = ["default", "linear", "dynamic", "llama3", "yarn", "longrope"] as const;
export type RopeType = (typeof ROPE_TYPES)[number];

/** One rope_parameters dict, standardized (transformers `RopeParameters`). */
export interface RopeParameters {
  readonly ropeType: RopeType;
  readonly ropeTheta: number;
  readonly partialRotaryFactor: number;
  readonly factor: number | null;
  readonly originalMaxPositionEmbeddings: number | null;
  readonly lowFreqFactor: number | null;
  readonly highFreqFactor: number | null;
  readonly attentionFactor: number | null;
  readonly betaFast: number | null;
  readonly betaSlow: number | null;
  readonly mscale: number | null;
  readonly mscaleAllDim: number | null;
  readonly truncate: boolean;
  readonly shortFactor: readonly number[] | null;
  readonly longFactor: readonly number[] | null;
}

export function defaultRope(theta: number, partialRotaryFactor = 1): RopeParameters {
  return {
    ropeType: "default",
    ropeTheta: theta,
    partialRotaryFactor,
    factor: null,
    originalMaxPositionEmbeddings: null,
    lowFreqFactor: null,
    highFreqFactor: null,
    attentionFactor: null,
    betaFast: null,
    betaSlow: null,
    mscale: null,
    mscaleAllDim: null,
    truncate: true,
    shortFactor: null,
    longFactor: null,
  };
}

export interface RopeReadOptions {
  /** θ when neither the dict nor the config has one (transformers `default_theta`). */
  readonly defaultTheta: number;
  /** Top-level `partial_rotary_factor` (or 1). */
  readonly partialRotaryFactor: number;
  readonly maxPositionEmbeddings: number;
  /** Phi-3 keeps the pretraining length at top level and it wins over the dict's (transformers' note). */
  readonly topLevelOriginalMax: number | null;
  /** Rope types this family's transformers class accepts. */
  readonly allowed: readonly RopeType[];
  /** Old names of a type (Phi-3's "su" and "yarn" mean longrope). */
  readonly aliases?: Readonly<Record<string, RopeType>>;
}

/** Reads one rope dict (`rope_parameters`, 4.x `rope_scaling`, or one layer type's entry). */
export function readRopeParameters(params: JsonObject, o: RopeReadOptions, source: string): RopeParameters {
  const r = new ConfigReader(params, source);
  const rawType = params.rope_type ?? params.type ?? "default";
  if (typeof rawType !== "string") throw r.error("rope_type", "a string", rawType);
  const type = (o.aliases?.[rawType] ?? rawType) as RopeType;
  if (!o.allowed.includes(type)) {
    throw new Error(`${source}: rope_type ${JSON.stringify(rawType)} is not supported here; supported: ${o.allowed.join(", ")}.`);
  }
  const optional = (key: string): number | null => (r.has(key) ? r.number(key) : null);
  const list = (key: string): number[] | null => {
    const v = params[key];
    if (v === undefined || v === null) return null;
    if (!Array.isArray(v) || !v.every((x) => typeof x === "number" && Number.isFinite(x))) throw r.error(key, "a list of numbers", v);
    return v as number[];
  };
  const needsOriginal = type === "llama3" || type === "yarn" || type === "longrope";
  const originalMax = needsOriginal ? (o.topLevelOriginalMax ?? (r.has("original_max_position_embeddings") ? r.positiveInt("original_max_position_embeddings") : o.maxPositionEmbeddings)) : null;
  const p: RopeParameters = {
    ropeType: type,
    ropeTheta: r.has("rope_theta") ? r.number("rope_theta") : o.defaultTheta,
    partialRotaryFactor: r.has("partial_rotary_factor") ? r.number("partial_rotary_factor") : o.partialRotaryFactor,
    factor: optional("factor"),
    originalMaxPositionEmbeddings: originalMax,
    lowFreqFactor: optional("low_freq_factor"),
    highFreqFactor: optional("high_freq_factor"),
    attentionFactor: optional("attention_factor"),
    betaFast: optional("beta_fast"),
    betaSlow: optional("beta_slow"),
    mscale: optional("mscale"),
    mscaleAllDim: optional("mscale_all_dim"),
    truncate: r.has("truncate") ? r.bool("truncate") : true,
    shortFactor: list("short_factor"),
    longFactor: list("long_factor"),
  };
  if (!(p.ropeTheta > 0)) throw new Error(`${source}: rope_theta must be positive, got ${p.ropeTheta}.`);
  if (!(p.partialRotaryFactor > 0 && p.partialRotaryFactor <= 1)) throw new Error(`${source}: partial_rotary_factor must be in (0, 1], got ${p.partialRotaryFactor}.`);
  const need = (key: string, v: unknown): void => {
    if (v === null) throw new Error(`${source}: rope_type "${type}" needs "${key}".`);
  };
  if (type === "linear" || type === "dynamic" || type === "llama3") need("factor", p.factor);
  if (type === "llama3") {
    need("low_freq_factor", p.lowFreqFactor);
    need("high_freq_factor", p.highFreqFactor);
  }
  if (type === "yarn" && p.factor === null) need("factor", p.factor);
  if (type === "longrope") {
    need("short_factor", p.shortFactor);
    need("long_factor", p.longFactor);
  }
  return p;
}

/** transformers writes these keys back in rope_parameters (snake_case, nulls left out). */
export function ropeParametersToJson(p: RopeParameters): JsonObject {
  const out: JsonObject = { rope_type: p.ropeType, rope_theta: p.ropeTheta };
  const add = (key: string, v: unknown): void => {
    if (v !== null && v !== undefined) out[key] = v;
  };
  if (p.partialRotaryFactor !== 1) out.partial_rotary_factor = p.partialRotaryFactor;
  add("factor", p.factor);
  add("original_max_position_embeddings", p.originalMaxPositionEmbeddings);
  add("low_freq_factor", p.lowFreqFactor);
  add("high_freq_factor", p.highFreqFactor);
  add("attention_factor", p.attentionFactor);
  add("beta_fast", p.betaFast);
  add("beta_slow", p.betaSlow);
  add("mscale", p.mscale);
  add("mscale_all_dim", p.mscaleAllDim);
  if (!p.truncate) out.truncate = false;
  add("short_factor", p.shortFactor === null ? null : [...p.shortFactor]);
  add("long_factor", p.longFactor === null ? null : [...p.longFactor]);
  return out;
}

/** The rotated width of a head: int(head_dim · partial_rotary_factor). */
export function rotaryDim(headDim: number, p: RopeParameters): number {
  return Math.trunc(headDim * p.partialRotaryFactor);
}

/** θ^(-2i/d) for i < d/2, in float64 (transformers rounds the same formula to float32). */
function baseInvFreq(theta: number, dim: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < dim; i += 2) out.push(1 / Math.pow(theta, i / dim));
  return out;
}

/**
 * How a call's cos/sin are made: a fixed inv_freq (most types), dynamic NTK (θ from the call's length), or
 * longrope (short or long factors by the call's length). `attentionScaling` multiplies cos and sin.
 */
export type RopeFrequencies =
  | { readonly kind: "static"; readonly invFreq: number[]; readonly attentionScaling: number }
  | { readonly kind: "dynamic"; readonly dim: number; readonly theta: number; readonly factor: number; readonly maxPositionEmbeddings: number; readonly attentionScaling: number }
  | { readonly kind: "longrope"; readonly short: number[]; readonly long: number[]; readonly originalMaxPositionEmbeddings: number; readonly attentionScaling: number };

/** transformers `ROPE_INIT_FUNCTIONS[rope_type]` (or the default), for a head width and max length. */
export function ropeFrequencies(p: RopeParameters, headDim: number, maxPositionEmbeddings: number): RopeFrequencies {
  const dim = rotaryDim(headDim, p);
  const base = p.ropeTheta;
  switch (p.ropeType) {
    case "default":
      return { kind: "static", invFreq: baseInvFreq(base, dim), attentionScaling: 1 };
    case "linear":
      return { kind: "static", invFreq: baseInvFreq(base, dim).map((f) => f / p.factor!), attentionScaling: 1 };
    case "dynamic":
      return { kind: "dynamic", dim, theta: base, factor: p.factor!, maxPositionEmbeddings, attentionScaling: 1 };
    case "llama3":
      return { kind: "static", invFreq: llama3InvFreq(p, dim), attentionScaling: 1 };
    case "yarn":
      return yarn(p, dim, maxPositionEmbeddings);
    case "longrope":
      return longrope(p, dim, maxPositionEmbeddings);
  }
}

/** `_compute_llama3_parameters`. */
function llama3InvFreq(p: RopeParameters, dim: number): number[] {
  const factor = p.factor!;
  const low = p.lowFreqFactor!;
  const high = p.highFreqFactor!;
  const oldContext = p.originalMaxPositionEmbeddings!;
  const lowFreqWavelen = oldContext / low;
  const highFreqWavelen = oldContext / high;
  return baseInvFreq(p.ropeTheta, dim).map((f) => {
    const wavelen = (2 * Math.PI) / f;
    const scaled = wavelen > lowFreqWavelen ? f / factor : f;
    const medium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
    if (!medium) return scaled;
    const smooth = (oldContext / wavelen - low) / (high - low);
    return ((1 - smooth) * scaled) / factor + smooth * scaled;
  });
}

/** `_compute_yarn_parameters`. */
function yarn(p: RopeParameters, dim: number, maxPositionEmbeddings: number): RopeFrequencies {
  const base = p.ropeTheta;
  const originalMax = p.originalMaxPositionEmbeddings!;
  const factor = p.factor ?? maxPositionEmbeddings / originalMax;
  const getMscale = (scale: number, m = 1): number => (scale <= 1 ? 1 : 0.1 * m * Math.log(scale) + 1);
  let attentionFactor = p.attentionFactor;
  if (attentionFactor === null) {
    attentionFactor = p.mscale && p.mscaleAllDim ? getMscale(factor, p.mscale) / getMscale(factor, p.mscaleAllDim) : getMscale(factor);
  }
  // transformers uses `or`: a 0 in the config falls back to the paper's 32 / 1 as well.
  const betaFast = p.betaFast || 32;
  const betaSlow = p.betaSlow || 1;
  const correctionDim = (rotations: number): number => (dim * Math.log(originalMax / (rotations * 2 * Math.PI))) / (2 * Math.log(base));
  let low = correctionDim(betaFast);
  let high = correctionDim(betaSlow);
  if (p.truncate) {
    low = Math.floor(low);
    high = Math.ceil(high);
  }
  low = Math.max(low, 0);
  high = Math.min(high, dim - 1);
  if (low === high) high += 0.001; // transformers: "Prevent singularity"
  const out: number[] = [];
  for (let i = 0; i < dim / 2; i++) {
    const posFreq = Math.pow(base, (2 * i) / dim);
    const extrapolation = 1 / posFreq;
    const interpolation = 1 / (factor * posFreq);
    const ramp = Math.min(Math.max((i - low) / (high - low), 0), 1);
    const extrapolationFactor = 1 - ramp;
    out.push(interpolation * (1 - extrapolationFactor) + extrapolation * extrapolationFactor);
  }
  return { kind: "static", invFreq: out, attentionScaling: attentionFactor };
}

/** `_compute_longrope_parameters` with `dynamic_rope_update`'s choice of factors. */
function longrope(p: RopeParameters, dim: number, maxPositionEmbeddings: number): RopeFrequencies {
  const originalMax = p.originalMaxPositionEmbeddings!;
  const factor = p.factor ?? maxPositionEmbeddings / originalMax;
  let attentionFactor = p.attentionFactor;
  if (attentionFactor === null) attentionFactor = factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(originalMax));
  for (const [name, f] of [
    ["short_factor", p.shortFactor!],
    ["long_factor", p.longFactor!],
  ] as const) {
    if (f.length !== dim / 2) throw new Error(`rope_parameters.${name} must have ${dim / 2} entries (rotary dim / 2), got ${f.length}.`);
  }
  const base = baseInvFreq(p.ropeTheta, dim);
  return {
    kind: "longrope",
    short: base.map((b, i) => b / p.shortFactor![i]!),
    long: base.map((b, i) => b / p.longFactor![i]!),
    originalMaxPositionEmbeddings: originalMax,
    attentionScaling: attentionFactor,
  };
}

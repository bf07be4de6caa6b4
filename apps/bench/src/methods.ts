/**
 * What the bench runs: full fine-tuning (the baseline: every weight trainable, no PeftModel) and every
 * method of the registry, each with a stated configuration. The registry is core's `createRegistry` of
 * the installed method packages; adding a package is one entry in `METHOD_PACKAGES`. A package without
 * stated variants runs once with its own defaults.
 */
import { createRegistry } from "@peftjs/core";
import type { AdapterSpec, Method, MethodRegistry } from "@peftjs/core";
import { loraMethod } from "@peftjs/lora";
import { bottleneckMethod } from "@peftjs/adapter";
import { pTuningMethod, prefixTuningMethod, promptTuningMethod } from "@peftjs/prompt-tuning";

export interface BenchVariant {
  /** Unique, lowercase: the `--methods` name and the row key. */
  name: string;
  label: string;
  /** Registry method name; null for full fine-tuning. */
  method: string | null;
  /** Options given to the method's `parseConfig`. */
  options: Record<string, unknown>;
  learningRate: number;
  /** The configuration in words, for the report. */
  describe: string;
}

interface MethodPackage {
  method: Method;
  variants?: BenchVariant[];
}

/** LoRA on every projection of GPT-2 (attention qkv and output, MLP in and out). */
const GPT2_TARGETS = ["c_attn", "c_proj", "c_fc"];
// fanInFanOut: GPT-2 stores its projections as Conv1D ([in, out]); PEFT would set it (with a warning) anyway.
const LORA_OPTIONS = { r: 8, loraAlpha: 16, loraDropout: 0, targetModules: GPT2_TARGETS, fanInFanOut: true };
const LORA_WORDS = `r=8, α=16, dropout 0, on ${GPT2_TARGETS.join(", ")}`;

/** Virtual tokens of the prompt methods: 8, as long as the task's input (the prompt costs 8 positions). */
const VIRTUAL_TOKENS = 8;
const PROMPT_TUNING_OPTIONS = { numVirtualTokens: VIRTUAL_TOKENS, promptTuningInit: "SAMPLE_VOCAB", taskType: "CAUSAL_LM" };
const PROMPT_TUNING_WORDS = `${VIRTUAL_TOKENS} virtual tokens, SAMPLE_VOCAB init (rows of the vocabulary)`;
const PREFIX_TUNING_OPTIONS = { numVirtualTokens: VIRTUAL_TOKENS, prefixProjection: true, taskType: "CAUSAL_LM" };
const PREFIX_TUNING_WORDS = `${VIRTUAL_TOKENS} virtual tokens per layer, prefixProjection (Linear-tanh-Linear, hidden = model width)`;
const P_TUNING_OPTIONS = { numVirtualTokens: VIRTUAL_TOKENS, encoderReparameterizationType: "MLP", taskType: "CAUSAL_LM" };
const P_TUNING_WORDS = `${VIRTUAL_TOKENS} virtual tokens, MLP prompt encoder (hidden = model width)`;
const PROMPT_LR = { prompt: 1e-2, prefix: 1e-2, pTuning: 1e-2 };

/** The method packages this bench knows. Add a method package here (one entry). */
const METHOD_PACKAGES: MethodPackage[] = [
  {
    method: loraMethod,
    variants: [
      { name: "lora", label: "LoRA", method: "lora", options: LORA_OPTIONS, learningRate: 2e-3, describe: `${LORA_WORDS}; scaling α/r = 2` },
      { name: "rslora", label: "rsLoRA", method: "lora", options: { ...LORA_OPTIONS, useRslora: true }, learningRate: 2e-3, describe: `${LORA_WORDS}, useRslora; scaling α/√r ≈ 5.66` },
      { name: "dora", label: "DoRA", method: "lora", options: { ...LORA_OPTIONS, useDora: true }, learningRate: 2e-3, describe: `${LORA_WORDS}, useDora (learned magnitude per output feature)` },
    ],
  },
  {
    // AdapterHub's presets with their own defaults (reduction factor, non-linearity, init, scaling).
    method: bottleneckMethod,
    variants: [
      { name: "houlsby", label: "Houlsby adapter", method: "bottleneck", options: { preset: "houlsby" }, learningRate: 2e-3, describe: "AdapterHub double_seq_bn: after attention and after the FFN, reduction 16, swish" },
      { name: "pfeiffer", label: "Pfeiffer adapter", method: "bottleneck", options: { preset: "pfeiffer" }, learningRate: 2e-3, describe: "AdapterHub seq_bn: after the FFN, reduction 16, relu" },
      { name: "par_bn", label: "parallel adapter", method: "bottleneck", options: { preset: "par_bn" }, learningRate: 2e-3, describe: "AdapterHub par_bn: beside the FFN, reduction 2, relu, scaling 4, up-projection starting at zero" },
    ],
  },
  // Prompt methods: PEFT's method_comparison (MetaMathQA) trains prompt and prefix tuning at lr 1e-3 and
  // P-tuning's LSTM at 5e-4; this short, small task needs the higher rates below (see the README).
  {
    method: promptTuningMethod,
    variants: [{ name: "prompt-tuning", label: "prompt tuning", method: "prompt-tuning", options: PROMPT_TUNING_OPTIONS, learningRate: PROMPT_LR.prompt, describe: PROMPT_TUNING_WORDS }],
  },
  {
    method: prefixTuningMethod,
    variants: [{ name: "prefix-tuning", label: "prefix tuning", method: "prefix-tuning", options: PREFIX_TUNING_OPTIONS, learningRate: PROMPT_LR.prefix, describe: PREFIX_TUNING_WORDS }],
  },
  {
    method: pTuningMethod,
    variants: [{ name: "p-tuning", label: "P-tuning", method: "p-tuning", options: P_TUNING_OPTIONS, learningRate: PROMPT_LR.pTuning, describe: P_TUNING_WORDS }],
  },
];

export const FULL_FINE_TUNING: BenchVariant = {
  name: "full",
  label: "full fine-tuning",
  method: null,
  options: {},
  learningRate: 5e-4,
  describe: "every weight trainable (embeddings, LayerNorms, all projections); no adapter",
};

export const registry: MethodRegistry = createRegistry(...METHOD_PACKAGES.map((p) => p.method));

/** Full fine-tuning first, then every registered method's variants, in registration order. */
export function allVariants(): BenchVariant[] {
  const out: BenchVariant[] = [FULL_FINE_TUNING];
  for (const p of METHOD_PACKAGES) {
    out.push(
      ...(p.variants ?? [
        { name: p.method.name, label: p.method.name, method: p.method.name, options: {}, learningRate: 1e-3, describe: `${p.method.name} with its defaults` },
      ]),
    );
  }
  const names = new Set<string>();
  for (const v of out) {
    if (names.has(v.name)) throw new Error(`bench methods: two variants are named "${v.name}"; names must be unique.`);
    names.add(v.name);
  }
  return out;
}

/** The variants `--methods` asks for (all when null), in the bench's order; unknown names list the valid ones. */
export function selectVariants(names: readonly string[] | null): BenchVariant[] {
  const all = allVariants();
  if (names === null) return all;
  const unknown = names.filter((n) => !all.some((v) => v.name === n));
  if (unknown.length > 0) throw new Error(`--methods: unknown method(s) ${unknown.map((n) => `"${n}"`).join(", ")}; available: ${all.map((v) => v.name).join(", ")}.`);
  return all.filter((v) => names.includes(v.name));
}

/** The adapter spec of a PEFT variant (parsed by its method: validation and PEFT defaults). */
export function adapterSpec(v: BenchVariant): AdapterSpec {
  if (v.method === null) throw new Error(`adapterSpec: "${v.name}" is full fine-tuning, which has no adapter.`);
  const method = registry.find(v.method);
  if (method === undefined) throw new Error(`bench method "${v.name}" needs method "${v.method}", which is not registered (${registry.methods.map((m) => m.name).join(", ")}).`);
  return { method, config: method.parseConfig(v.options) };
}

/**
 * TEST ONLY: prefix tuning without the reparametrisation MLP (Li & Liang 2021; PEFT `PrefixEncoder` with
 * `prefix_projection=False`), against the public contract alone. One table `[numVirtualTokens, layers·2·kvHeads·headDim]`
 * (PEFT's saved `prompt_embeddings`) becomes every layer's key/value prefix, handed to the model as
 * `prefixKeyValues` in every phase. PEFT passes the prefix to transformers as a cache, so the text's positions
 * start after it: the hook moves position ids up by the prefix length.
 */
import { tf, Embedding, Module, readCommonPeftConfig, writeCommonPeftConfig } from "@peftjs/core";
import type { AdapterSpec, BasePeftConfig, InputHook, LayerKV, Method, ModelInputs, Variable } from "@peftjs/core";

export interface PrefixConfig extends BasePeftConfig {
  readonly peftType: "TEST_PREFIX";
  readonly numVirtualTokens: number;
}

interface AttentionShape {
  numHiddenLayers: number;
  numKeyValueHeads: number;
  headDim: number;
}

class PrefixEncoder extends Module {
  readonly embedding: Embedding;
  constructor(n: number, width: number) {
    super();
    this.embedding = this.registerModule("embedding", new Embedding(n, width, { initStd: 0.5 }));
  }
  get weight(): Variable {
    return this.embedding.weight;
  }
}

/** The table as per-layer prefixes `[1, kvHeads, n, headDim]` (PEFT `get_prompt`: view, permute, split). */
function prefixKeyValues(table: Variable, n: number, s: AttentionShape): LayerKV[] {
  const per = tf.reshape(table, [n, s.numHiddenLayers * 2, s.numKeyValueHeads, s.headDim]);
  const layers = tf.unstack(tf.transpose(per, [1, 2, 0, 3])); // each [kvHeads, n, headDim]
  return Array.from({ length: s.numHiddenLayers }, (_, i) => ({ key: tf.expandDims(layers[2 * i]!, 0), value: tf.expandDims(layers[2 * i + 1]!, 0) }));
}

function hook(encoder: PrefixEncoder, n: number, s: AttentionShape): InputHook {
  return {
    transformInputs(inputs: ModelInputs): ModelInputs {
      const out: ModelInputs = { ...inputs, prefixKeyValues: prefixKeyValues(encoder.weight, n, s) };
      const seq = (inputs.inputIds ?? inputs.inputsEmbeds)!.shape[1]!;
      const past = inputs.pastKeyValues?.[0]?.key.shape[2] ?? 0;
      out.positionIds = inputs.positionIds !== undefined ? tf.add(inputs.positionIds, n) : tf.reshape(tf.range(past + n, past + n + seq, 1, "int32"), [1, seq]);
      return out;
    },
  };
}

function parseConfig(raw: unknown): PrefixConfig {
  const o = (raw ?? {}) as Record<string, unknown>;
  const n = o["numVirtualTokens"] ?? 2;
  if (typeof n !== "number" || !Number.isInteger(n) || n <= 0) throw new Error(`prefix: numVirtualTokens must be a positive integer, got ${JSON.stringify(n)}.`);
  return { peftType: "TEST_PREFIX", numVirtualTokens: n, taskType: "CAUSAL_LM", baseModelNameOrPath: null, inferenceMode: (o["inferenceMode"] as boolean | undefined) ?? false, modulesToSave: null };
}

export const prefixMethod: Method<PrefixConfig> = {
  specificationVersion: "v2",
  name: "test-prefix",
  peftType: "TEST_PREFIX",
  prefix: "test_prefix_",
  canMerge: false,
  parseConfig,
  toPeftConfig: (config) => ({ ...writeCommonPeftConfig(config), num_virtual_tokens: config.numVirtualTokens }),
  fromPeftConfig: (json) => ({ config: parseConfig({ ...readCommonPeftConfig(json), numVirtualTokens: json["num_virtual_tokens"] }), unknownFields: [] }),
  inject(model, config) {
    const c = (model as unknown as { config?: Partial<AttentionShape> }).config;
    if (typeof c?.numHiddenLayers !== "number" || typeof c.numKeyValueHeads !== "number" || typeof c.headDim !== "number") {
      throw new Error("prefix: the model's config has no numHiddenLayers / numKeyValueHeads / headDim; prefix tuning needs an attention model.");
    }
    const shape = { numHiddenLayers: c.numHiddenLayers, numKeyValueHeads: c.numKeyValueHeads, headDim: c.headDim };
    const encoder = new PrefixEncoder(config.numVirtualTokens, shape.numHiddenLayers * 2 * shape.numKeyValueHeads * shape.headDim);
    return {
      config,
      targets: [],
      state: () => new Map([["prompt_embeddings", encoder.weight]]),
      inputHook: hook(encoder, config.numVirtualTokens, shape),
      modules: new Map([["prompt_encoder", encoder]]),
      remove: () => encoder.dispose(),
    };
  },
};

export function prefix(options: { numVirtualTokens?: number } = {}): AdapterSpec<PrefixConfig> {
  return { method: prefixMethod, config: prefixMethod.parseConfig(options) };
}

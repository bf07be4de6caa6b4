/**
 * TEST ONLY: a prompt-tuning method (Lester et al. 2021; PEFT `PromptEmbedding` + the prompt-learning branches of
 * `PeftModelForCausalLM.forward` / `prepare_inputs_for_generation`) written against @peftjs/core's public contract
 * alone. It learns `numVirtualTokens` embeddings that go before the input's token embeddings: the attention mask
 * gets ones for them, labels get -100 (not scored), given position ids move up by the virtual count. Generation
 * prepends them at "prefill"; at "decode" they are already in the cache, so only mask and positions move. The
 * module lives on the PeftModel (`prompt_encoder.<adapter>`), its weight is saved under PEFT's bare key
 * `prompt_embeddings`.
 */
import { tf, Embedding, Module, readCommonPeftConfig, writeCommonPeftConfig } from "@peftjs/core";
import type { AdapterSpec, BasePeftConfig, InputHook, InputPhase, Method, ModelInputs, PreTrainedModelLike, Variable } from "@peftjs/core";

export interface VirtualTokensConfig extends BasePeftConfig {
  readonly peftType: "TEST_VIRTUAL_TOKENS";
  readonly numVirtualTokens: number;
}

/** PEFT's `PromptEmbedding`: one table of virtual-token embeddings. */
export class PromptEmbedding extends Module {
  readonly embedding: Embedding;
  constructor(numVirtualTokens: number, tokenDim: number) {
    super();
    // nn.Embedding's init, N(0, 1), seeded by peftjs's generator.
    this.embedding = this.registerModule("embedding", new Embedding(numVirtualTokens, tokenDim));
  }
  get weight(): Variable {
    return this.embedding.weight;
  }
}

/** The -100 labels PEFT puts under virtual tokens (`IGNORE_INDEX`). */
const IGNORE = -100;

function hook(model: PreTrainedModelLike, prompt: PromptEmbedding, n: number): InputHook {
  return {
    transformInputs(inputs: ModelInputs, phase: InputPhase): ModelInputs {
      const out: ModelInputs = { ...inputs };
      const batch = (inputs.inputIds ?? inputs.inputsEmbeds)!.shape[0];
      if (inputs.attentionMask !== undefined) out.attentionMask = tf.concat([tf.ones([batch, n], inputs.attentionMask.dtype), inputs.attentionMask], 1);
      if (phase === "decode") {
        // The virtual tokens are in the cache already: only the positions of the new tokens move up.
        if (inputs.positionIds !== undefined) out.positionIds = tf.add(inputs.positionIds, n);
        return out;
      }
      const tokens = inputs.inputsEmbeds ?? model.getInputEmbeddings().forward(inputs.inputIds!);
      delete out.inputIds;
      out.inputsEmbeds = tf.concat([tf.tile(tf.expandDims(prompt.weight, 0), [batch, 1, 1]), tokens], 1);
      if (inputs.labels !== undefined) out.labels = tf.concat([tf.fill([batch, n], IGNORE, "int32"), tf.cast(inputs.labels, "int32")], 1);
      if (inputs.positionIds !== undefined) {
        const p = tf.cast(inputs.positionIds, "int32");
        const virtual = tf.tile(tf.reshape(tf.range(0, n, 1, "int32"), [1, n]), [p.shape[0], 1]);
        out.positionIds = tf.concat([virtual, tf.add(p, n)], 1);
      }
      return out;
    },
  };
}

function parseConfig(raw: unknown): VirtualTokensConfig {
  const o = (raw ?? {}) as Record<string, unknown>;
  const n = o["numVirtualTokens"] ?? 4;
  if (typeof n !== "number" || !Number.isInteger(n) || n <= 0) throw new Error(`virtual tokens: numVirtualTokens must be a positive integer, got ${JSON.stringify(n)}.`);
  return {
    peftType: "TEST_VIRTUAL_TOKENS",
    numVirtualTokens: n,
    taskType: (o["taskType"] as string | null | undefined) ?? "CAUSAL_LM",
    baseModelNameOrPath: (o["baseModelNameOrPath"] as string | null | undefined) ?? null,
    inferenceMode: (o["inferenceMode"] as boolean | undefined) ?? false,
    modulesToSave: null,
  };
}

export const virtualTokensMethod: Method<VirtualTokensConfig> = {
  specificationVersion: "v2",
  name: "test-virtual-tokens",
  peftType: "TEST_VIRTUAL_TOKENS",
  prefix: "test_virtual_",
  canMerge: false,
  parseConfig,
  toPeftConfig: (config) => ({ ...writeCommonPeftConfig(config), num_virtual_tokens: config.numVirtualTokens }),
  fromPeftConfig(json) {
    const config = parseConfig({ ...readCommonPeftConfig(json), numVirtualTokens: json["num_virtual_tokens"] });
    return { config, unknownFields: Object.keys(json).filter((k) => k !== "num_virtual_tokens") };
  },
  inject(model, config) {
    const lm = model as unknown as Partial<PreTrainedModelLike>;
    if (typeof lm.getInputEmbeddings !== "function") throw new Error("virtual tokens: the model has no getInputEmbeddings(); prompt tuning needs a model that takes inputsEmbeds.");
    const dim = lm.getInputEmbeddings().embeddingDim;
    const prompt = new PromptEmbedding(config.numVirtualTokens, dim);
    return {
      config,
      targets: [],
      state: () => new Map([["prompt_embeddings", prompt.weight]]),
      inputHook: hook(lm as PreTrainedModelLike, prompt, config.numVirtualTokens),
      modules: new Map([["prompt_encoder", prompt]]),
      remove: () => prompt.dispose(),
    };
  },
};

export function virtualTokens(options: { numVirtualTokens?: number } = {}): AdapterSpec<VirtualTokensConfig> {
  return { method: virtualTokensMethod, config: virtualTokensMethod.parseConfig(options) };
}

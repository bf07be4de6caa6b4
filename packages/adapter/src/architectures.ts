/**
 * Where bottleneck adapters go in each architecture: a mapping of module paths, not code. A location is the
 * residual connection after a sublayer (`ResidualConnection` in @peftjs/models: it receives the sublayer
 * output, the block residual and the block's norm there), which is exactly the point AdapterHub's
 * `BottleneckLayer` takes over:
 *
 * | model | mh_adapter (after attention) | output_adapter (after the FFN) | norm there |
 * |---|---|---|---|
 * | GPT-2 | `transformer.h.N.attn_residual` | `transformer.h.N.mlp_residual` | none (pre-LN) |
 * | LLaMA (and Mistral, Qwen2/3, Gemma 2/3, Phi-3) | `model.layers.N.self_attn_residual` | `model.layers.N.mlp_residual` | none (pre-RMSNorm) |
 * | BERT | `bert.encoder.layer.N.attention.output.residual` | `bert.encoder.layer.N.output.residual` | the post-LN `….LayerNorm` |
 *
 * AdapterHub keeps the same adapters at `transformer.h.N.attention_adapters` / `output_adapters` (GPT-2,
 * LLaMA `model.layers.N.…`: adapters `models/gpt2/mixin_gpt2.py`, `models/llama/mixin_llama.py`) and directly
 * on BERT's `attention.output` / `output` (`models/bert/mixin_bert.py`: `BertSelfOutput` is the
 * BottleneckLayer); `adapterHub` below maps those paths for importing its saved adapters.
 *
 * A new architecture needs an entry here, or `locations` in the config, and residual-connection modules at
 * the named paths.
 */
import type { AdapterLocations } from "./config.js";

export interface ArchitectureMapping extends AdapterLocations {
  /** AdapterHub's module path (inside one layer) holding `adapters.<name>` for each location. */
  adapterHub: { mhAdapter: string; outputAdapter: string } | null;
}

/** The LLaMA-style decoder layer of @peftjs/models (`model.layers.N`), shared by its decoder families. */
const DECODER = { layers: "model.layers", mhAdapter: "self_attn_residual", outputAdapter: "mlp_residual" } as const;
/** AdapterHub's `LlamaDecoderLayerWithAdapters` / `MistralDecoderLayerWithAdapters`: `attention_adapters`, `output_adapters`. */
const HUB_DECODER = { mhAdapter: "attention_adapters", outputAdapter: "output_adapters" } as const;

export const ARCHITECTURES: Readonly<Record<string, ArchitectureMapping>> = {
  gpt2: {
    layers: "transformer.h",
    mhAdapter: "attn_residual",
    outputAdapter: "mlp_residual",
    adapterHub: HUB_DECODER,
  },
  bert: {
    layers: "bert.encoder.layer",
    mhAdapter: "attention.output.residual",
    outputAdapter: "output.residual",
    adapterHub: { mhAdapter: "attention.output", outputAdapter: "output" },
  },
  llama: { ...DECODER, adapterHub: HUB_DECODER },
  mistral: { ...DECODER, adapterHub: HUB_DECODER },
  // Families AdapterHub reaches only through its plugin interface (forward hooks on o_proj, a different
  // placement), so there is no AdapterHub format to import for them; the adapters sit at the same residual
  // connections as in LLaMA. Gemma 2/3 norm the sublayer output before that residual add: the adapter sees the
  // normed output, as the block's residual does.
  qwen2: { ...DECODER, adapterHub: null },
  qwen3: { ...DECODER, adapterHub: null },
  gemma2: { ...DECODER, adapterHub: null },
  gemma3_text: { ...DECODER, adapterHub: null },
  phi3: { ...DECODER, adapterHub: null },
};

export type LocationKey = "mhAdapter" | "outputAdapter";

/** One place an adapter goes: its layer, which of the two locations, and the module path. */
export interface AdapterLocation {
  layerIdx: number;
  key: LocationKey;
  path: string;
}

/** The locations for a model type, or the config's own; a clear error for an unmapped model type. */
export function locationsFor(modelType: string, own: AdapterLocations | null): AdapterLocations {
  if (own !== null) return own;
  const m = ARCHITECTURES[modelType];
  if (m === undefined) {
    throw new Error(
      `Bottleneck adapters: no adapter placement is known for model type "${modelType}" (known: ${Object.keys(ARCHITECTURES).join(", ")}). ` +
        `Pass locations: { layers: "<path of the block list>", mhAdapter: "<residual module after attention, inside a block>", outputAdapter: "<residual module after the FFN>" } ` +
        `naming residual-connection modules (forward(sublayerOutput, residual, layerNorm)).`,
    );
  }
  return m;
}

/** Every location of a model with `numLayers` blocks that the config's `mhAdapter` / `outputAdapter` / `leaveOut` select. */
export function adapterLocations(
  locations: AdapterLocations,
  numLayers: number,
  select: { mhAdapter: boolean; outputAdapter: boolean; leaveOut: readonly number[] },
): AdapterLocation[] {
  const out: AdapterLocation[] = [];
  for (let i = 0; i < numLayers; i++) {
    if (select.leaveOut.includes(i)) continue;
    for (const key of ["mhAdapter", "outputAdapter"] as const) {
      const rel = locations[key];
      if (!select[key]) continue;
      if (rel === null) throw new Error(`Bottleneck adapters: the config asks for ${key} adapters but the placement names no ${key} location; set locations.${key} or turn ${key} off.`);
      out.push({ layerIdx: i, key, path: `${locations.layers}.${i}.${rel}` });
    }
  }
  return out;
}

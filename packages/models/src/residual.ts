/**
 * The residual connection after a transformer sublayer, as a module of its own:
 * `layerNorm(sublayerOutput + residual)` in a post-LN block (BERT), `sublayerOutput + residual` in a pre-LN
 * block (GPT-2, LLaMA: the layer norm is null). It holds no parameters, so state dicts are unchanged.
 *
 * Why a module: methods that act exactly here replace it by path, as LoRA replaces a Linear. Bottleneck
 * adapters are the case in point: AdapterHub's `BottleneckLayer.bottleneck_layer_forward(hidden_states,
 * residual_input, layer_norm)` takes the place of this addition (adapters `models/gpt2/modeling_gpt2.py`,
 * `models/bert/modeling_bert.py`, `models/llama/modeling_llama.py`) and needs all three inputs.
 */
import { tf, Module } from "@peftjs/core";
import type { Tensor } from "@peftjs/core";
import { childModule } from "./modules.js";
import type { TensorModule } from "./modules.js";

export class ResidualConnection extends Module {
  forward(sublayerOutput: Tensor, residual: Tensor, layerNorm: TensorModule | null): Tensor {
    const sum = tf.add(sublayerOutput, residual);
    return layerNorm === null ? sum : layerNorm.forward(sum);
  }
}

/** A module in a residual connection's place: the same three-argument forward. */
export interface ResidualModule extends Module {
  forward(sublayerOutput: Tensor, residual: Tensor, layerNorm: TensorModule | null): Tensor;
}

/** `parent.<name>.forward(sublayerOutput, residual, layerNorm)`, the child read through the tree (see `childModule`). */
export function callResidual(parent: Module, name: string, sublayerOutput: Tensor, residual: Tensor, layerNorm: TensorModule | null): Tensor {
  return childModule<ResidualModule>(parent, name).forward(sublayerOutput, residual, layerNorm);
}

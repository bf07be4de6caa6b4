/**
 * The activation functions of transformers' `ACT2FN` that these models use, in the same formulation
 * (transformers/activations.py), so results agree to float32 rounding.
 */
import { tf } from "@peftjs/core";
import type { Tensor } from "@peftjs/core";

export type Activation = (x: Tensor) => Tensor;

/** GPT-2's "gelu_new": 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (transformers `NewGELUActivation`). */
export function geluNew(x: Tensor): Tensor {
  return tf.tidy(() => {
    const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.mul(x, tf.square(x)))));
    return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)));
  });
}

/** BERT's "gelu": the exact x·Φ(x) = 0.5·x·(1 + erf(x/√2)) (torch `F.gelu`, approximate="none"). */
export function gelu(x: Tensor): Tensor {
  return tf.tidy(() => tf.mul(tf.mul(0.5, x), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))));
}

/** LLaMA's "silu": x·σ(x). */
export function silu(x: Tensor): Tensor {
  return tf.tidy(() => tf.mul(x, tf.sigmoid(x)));
}

export function relu(x: Tensor): Tensor {
  return tf.relu(x);
}

const ACTIVATIONS: Record<string, Activation> = {
  gelu_new: geluNew,
  gelu_pytorch_tanh: geluNew,
  gelu_fast: geluNew,
  gelu,
  silu,
  swish: silu,
  relu,
  tanh: (x) => tf.tanh(x),
};

/** The activation named in a config (`activation_function` / `hidden_act`). */
export function getActivation(name: string, source = "config"): Activation {
  const f = ACTIVATIONS[name];
  if (f === undefined) {
    throw new Error(`${source}: unsupported activation "${name}"; supported: ${Object.keys(ACTIVATIONS).join(", ")}.`);
  }
  return f;
}

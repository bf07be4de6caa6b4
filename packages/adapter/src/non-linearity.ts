/**
 * The bottleneck's non-linearity, by the names AdapterHub accepts: `Activation_Function_Class` lower-cases
 * the name, maps "leakyrelu" to torch's `leaky_relu` (slope 0.01) and everything else to transformers'
 * `get_activation` (transformers `activations.py`, `ACT2CLS`). Same formulas as there, so results agree to
 * float32 rounding.
 */
import { tf } from "@peftjs/core";
import type { Tensor } from "@peftjs/core";

export type NonLinearity = (x: Tensor) => Tensor;

/** 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (transformers `NewGELUActivation`, torch gelu approximate="tanh"). */
function geluTanh(x: Tensor): Tensor {
  const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.mul(x, tf.square(x)))));
  return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)));
}

export const NON_LINEARITIES: Readonly<Record<string, NonLinearity>> = {
  relu: (x) => tf.relu(x),
  // transformers `GELUActivation`: torch's exact gelu, x·Φ(x).
  gelu: (x) => tf.mul(tf.mul(0.5, x), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))),
  gelu_new: geluTanh,
  gelu_pytorch_tanh: geluTanh,
  // `FastGELUActivation`: 0.5·x·(1 + tanh(0.7978845608·x·(1 + 0.044715·x²))).
  gelu_fast: (x) => tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(tf.mul(tf.mul(x, 0.7978845608), tf.add(1, tf.mul(0.044715, tf.square(x))))))),
  // `QuickGELUActivation`: x·σ(1.702·x).
  quick_gelu: (x) => tf.mul(x, tf.sigmoid(tf.mul(1.702, x))),
  swish: (x) => tf.mul(x, tf.sigmoid(x)),
  silu: (x) => tf.mul(x, tf.sigmoid(x)),
  tanh: (x) => tf.tanh(x),
  sigmoid: (x) => tf.sigmoid(x),
  // AdapterHub's own entry: torch.nn.functional.leaky_relu, negative slope 0.01.
  leakyrelu: (x) => tf.leakyRelu(x, 0.01),
  leaky_relu: (x) => tf.leakyRelu(x, 0.01),
  relu6: (x) => tf.relu6(x),
  // `ReLUSquaredActivation`: relu(x)².
  relu2: (x) => tf.square(tf.relu(x)),
  // `MishActivation`: x·tanh(softplus(x)).
  mish: (x) => tf.mul(x, tf.tanh(tf.softplus(x))),
  linear: (x) => x,
};

/** The non-linearity named in a config (case-insensitive, like AdapterHub). */
export function getNonLinearity(name: string): NonLinearity {
  const f = NON_LINEARITIES[name.toLowerCase()];
  if (f === undefined) throw new Error(`Bottleneck adapter: non-linearity "${name}" is not supported; use one of ${Object.keys(NON_LINEARITIES).join(", ")}.`);
  return f;
}

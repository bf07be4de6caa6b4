/**
 * Built-in layers. Each stores its weights exactly as the Hugging Face / PyTorch checkpoint does, so a
 * state dict equals the file's tensors:
 * - `Linear`: torch `nn.Linear`, weight `[out, in]`, y = x·Wᵀ + b (matMul with transposeB, no copy).
 * - `Conv1D`: GPT-2's `Conv1D`, weight `[in, out]`, y = x·W + b (the tfjs/Keras kernel layout).
 * `linearToConv1DWeight` / `conv1DToLinearWeight` are the explicit conversions between the two.
 */
import { tf } from "../tf.js";
import type { Tensor, Variable } from "../tf.js";
import { Module } from "./module.js";
import { nextSeed } from "../random.js";

/** Any module that maps `[..., in]` to `[..., out]` with a 2-D weight: what LoRA-style methods target. */
export interface LinearLike extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** "out_in" for torch Linear (`[out, in]`), "in_out" for Conv1D (`fan_in_fan_out`). */
  readonly weightLayout: "out_in" | "in_out";
  readonly weight: Variable;
  readonly bias: Variable | null;
  forward(x: Tensor): Tensor;
}

export interface LinearOptions {
  bias?: boolean;
  /** Initial weight in the layer's own layout; default kaiming-uniform like torch. */
  weight?: Tensor;
  bias_?: Tensor;
}

/** Flattens `[..., n]` to `[rows, n]`, applies `f`, restores the leading dims. */
export function applyToLastDim(x: Tensor, f: (x2: Tensor) => Tensor): Tensor {
  if (x.rank === 2) return f(x);
  const lead = x.shape.slice(0, -1);
  const n = x.shape[x.rank - 1]!;
  const y = f(tf.reshape(x, [-1, n]));
  return tf.reshape(y, [...lead, y.shape[1]!]);
}

/**
 * A new variable from an initial value, without leaving the initial tensor alive: `tf.variable` keeps the
 * value's data but the tensor handle made to hold it would otherwise stay counted in `tf.memory()`.
 * Variables survive `tf.tidy`; a tensor the caller passed in (made outside) is left alone.
 */
function newVariable(init: () => Tensor): Variable {
  return tf.tidy(() => tf.variable(init()));
}

/** torch's default Linear init: U(-1/√in, 1/√in) for weight and bias (kaiming_uniform with a=√5). */
function torchUniform(shape: number[], fanIn: number): Tensor {
  const bound = 1 / Math.sqrt(fanIn);
  return tf.randomUniform(shape, -bound, bound, "float32", nextSeed());
}

export class Linear extends Module implements LinearLike {
  readonly weightLayout = "out_in" as const;
  readonly weight: Variable;
  readonly bias: Variable | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: LinearOptions = {},
  ) {
    super();
    this.weight = this.registerParameter("weight", newVariable(() => options.weight ?? torchUniform([outFeatures, inFeatures], inFeatures)));
    this.bias = options.bias === false ? null : this.registerParameter("bias", newVariable(() => options.bias_ ?? torchUniform([outFeatures], inFeatures)));
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() =>
      applyToLastDim(x, (x2) => {
        const y = tf.matMul(x2, this.weight, false, true);
        return this.bias === null ? y : tf.add(y, this.bias);
      }),
    );
  }
}

/** GPT-2's Conv1D: a linear layer whose weight is stored `[in, out]`. */
export class Conv1D extends Module implements LinearLike {
  readonly weightLayout = "in_out" as const;
  readonly weight: Variable;
  readonly bias: Variable;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: { weight?: Tensor; bias?: Tensor; initStd?: number } = {},
  ) {
    super();
    // transformers initialises Conv1D with N(0, 0.02) and zero bias.
    this.weight = this.registerParameter(
      "weight",
      newVariable(() => options.weight ?? tf.randomNormal([inFeatures, outFeatures], 0, options.initStd ?? 0.02, "float32", nextSeed())),
    );
    this.bias = this.registerParameter("bias", newVariable(() => options.bias ?? tf.zeros([outFeatures])));
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => applyToLastDim(x, (x2) => tf.add(tf.matMul(x2, this.weight), this.bias)));
  }
}

/** `[out, in]` (torch Linear) → `[in, out]` (Conv1D / tfjs kernel). */
export function linearToConv1DWeight(w: Tensor): Tensor {
  if (w.rank !== 2) throw new Error(`linearToConv1DWeight: expected a 2-D weight, got rank ${w.rank}.`);
  return tf.transpose(w);
}

/** `[in, out]` (Conv1D / tfjs kernel) → `[out, in]` (torch Linear). */
export function conv1DToLinearWeight(w: Tensor): Tensor {
  if (w.rank !== 2) throw new Error(`conv1DToLinearWeight: expected a 2-D weight, got rank ${w.rank}.`);
  return tf.transpose(w);
}

export function isLinearLike(m: Module): m is LinearLike {
  return m instanceof Linear || m instanceof Conv1D;
}

export class Embedding extends Module {
  readonly weight: Variable;

  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
    options: { weight?: Tensor; initStd?: number } = {},
  ) {
    super();
    this.weight = this.registerParameter(
      "weight",
      newVariable(() => options.weight ?? tf.randomNormal([numEmbeddings, embeddingDim], 0, options.initStd ?? 1, "float32", nextSeed())),
    );
  }

  /** ids: int32 tensor of any shape → `[...shape, dim]`. */
  forward(ids: Tensor): Tensor {
    return tf.tidy(() => {
      const flat = tf.reshape(ids, [-1]);
      const rows = tf.gather(this.weight, flat.dtype === "int32" ? flat : tf.cast(flat, "int32"));
      return tf.reshape(rows, [...ids.shape, this.embeddingDim]);
    });
  }
}

export class LayerNorm extends Module {
  readonly weight: Variable;
  readonly bias: Variable | null;

  constructor(
    readonly normalizedShape: number,
    readonly eps = 1e-5,
    options: { bias?: boolean } = {},
  ) {
    super();
    this.weight = this.registerParameter("weight", newVariable(() => tf.ones([normalizedShape])));
    this.bias = options.bias === false ? null : this.registerParameter("bias", newVariable(() => tf.zeros([normalizedShape])));
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const { mean, variance } = tf.moments(x, -1, true);
      const y = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, this.eps)));
      const scaled = tf.mul(y, this.weight);
      return this.bias === null ? scaled : tf.add(scaled, this.bias);
    });
  }
}

/** LLaMA's RMSNorm: x / √(mean(x²) + eps) · weight. */
export class RMSNorm extends Module {
  readonly weight: Variable;

  constructor(
    readonly hiddenSize: number,
    readonly eps = 1e-6,
  ) {
    super();
    this.weight = this.registerParameter("weight", newVariable(() => tf.ones([hiddenSize])));
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const ms = tf.mean(tf.square(x), -1, true);
      return tf.mul(tf.mul(x, tf.rsqrt(tf.add(ms, this.eps))), this.weight);
    });
  }
}

export class Dropout extends Module {
  constructor(readonly p: number) {
    super();
    if (!(p >= 0 && p < 1)) throw new Error(`Dropout: p must be in [0, 1), got ${p}.`);
  }

  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x;
    return tf.dropout(x, this.p, undefined, nextSeed());
  }
}

/** Passes its input through unchanged (torch `nn.Identity`). */
export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

/**
 * A multi-layer, optionally bidirectional LSTM with torch `nn.LSTM`'s maths, parameter names and layout
 * (batch_first), for P-tuning's `lstm_head` (PEFT `PromptEncoder`).
 *
 * Per direction and layer k (torch docs, `nn.LSTM`), gates stacked i, f, g, o in `weight_ih_l{k}` `[4H, in]`,
 * `weight_hh_l{k}` `[4H, H]`, `bias_ih_l{k}`, `bias_hh_l{k}` `[4H]` (the reverse direction adds `_reverse`):
 *   i = σ(W_ii x + b_ii + W_hi h + b_hi),  f = σ(W_if x + b_if + W_hf h + b_hf),
 *   g = tanh(W_ig x + b_ig + W_hg h + b_hg),  o = σ(W_io x + b_io + W_ho h + b_ho),
 *   c' = f ⊙ c + i ⊙ g,  h' = o ⊙ tanh(c'),  h₀ = c₀ = 0.
 * A bidirectional layer's output at t is [h_fwd(t), h_bwd(t)] (width 2H), the next layer's input. Dropout
 * (training only) is applied to every layer's output except the last. Initialisation is torch's:
 * every weight and bias U(−1/√H, 1/√H).
 */
import { Module, nextSeed, tf } from "@peftjs/core";
import type { Tensor, Variable } from "@peftjs/core";

export interface LSTMOptions {
  inputSize: number;
  hiddenSize: number;
  numLayers?: number;
  bidirectional?: boolean;
  dropout?: number;
}

interface Direction {
  weightIh: Variable;
  weightHh: Variable;
  biasIh: Variable;
  biasHh: Variable;
}

export class LSTM extends Module {
  readonly inputSize: number;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly bidirectional: boolean;
  readonly dropout: number;
  private readonly layers: Direction[][] = [];

  constructor(options: LSTMOptions) {
    super();
    const { inputSize, hiddenSize, numLayers = 1, bidirectional = false, dropout = 0 } = options;
    for (const [name, v] of Object.entries({ inputSize, hiddenSize, numLayers })) {
      if (!Number.isInteger(v) || v <= 0) throw new Error(`LSTM: ${name} must be a positive integer, got ${v}.`);
    }
    if (!(dropout >= 0 && dropout < 1)) throw new Error(`LSTM: dropout must be in [0, 1), got ${dropout}.`);
    this.inputSize = inputSize;
    this.hiddenSize = hiddenSize;
    this.numLayers = numLayers;
    this.bidirectional = bidirectional;
    this.dropout = dropout;
    const bound = 1 / Math.sqrt(hiddenSize);
    const param = (name: string, shape: number[]): Variable =>
      this.registerParameter(
        name,
        tf.tidy(() => tf.variable(tf.randomUniform(shape, -bound, bound, "float32", nextSeed()))),
      );
    const directions = bidirectional ? 2 : 1;
    for (let k = 0; k < numLayers; k++) {
      const input = k === 0 ? inputSize : hiddenSize * directions;
      const layer: Direction[] = [];
      for (let d = 0; d < directions; d++) {
        const suffix = `l${k}${d === 1 ? "_reverse" : ""}`;
        layer.push({
          weightIh: param(`weight_ih_${suffix}`, [4 * hiddenSize, input]),
          weightHh: param(`weight_hh_${suffix}`, [4 * hiddenSize, hiddenSize]),
          biasIh: param(`bias_ih_${suffix}`, [4 * hiddenSize]),
          biasHh: param(`bias_hh_${suffix}`, [4 * hiddenSize]),
        });
      }
      this.layers.push(layer);
    }
  }

  /** `[batch, seq, inputSize]` → `[batch, seq, directions·hiddenSize]` (torch's `output`, the first element of its tuple). */
  forward(x: Tensor): Tensor {
    if (x.rank !== 3 || x.shape[2] !== this.inputSize) throw new Error(`LSTM: input must be [batch, seq, ${this.inputSize}], got [${x.shape.join(", ")}].`);
    return tf.tidy(() => {
      let input = x;
      this.layers.forEach((layer, k) => {
        const outs = layer.map((dir, d) => this.runDirection(input, dir, d === 1));
        input = outs.length === 1 ? outs[0]! : tf.concat(outs, 2);
        if (this.training && this.dropout > 0 && k < this.numLayers - 1) input = tf.dropout(input, this.dropout, undefined, nextSeed());
      });
      return input;
    });
  }

  /** One direction of one layer: `[b, t, in]` → `[b, t, H]`, outputs in input order. */
  private runDirection(x: Tensor, w: Direction, reverse: boolean): Tensor {
    const [b, t] = x.shape as [number, number, number];
    const H = this.hiddenSize;
    // The input part of every gate at once: x·W_ihᵀ + b_ih + b_hh, [b, t, 4H].
    const xw = tf.add(tf.reshape(tf.matMul(tf.reshape(x, [b * t, -1]), w.weightIh, false, true), [b, t, 4 * H]), tf.add(w.biasIh, w.biasHh));
    let h: Tensor = tf.zeros([b, H]);
    let c: Tensor = tf.zeros([b, H]);
    const outputs = new Array<Tensor>(t);
    for (let s = 0; s < t; s++) {
      const step = reverse ? t - 1 - s : s;
      const gates = tf.add(tf.reshape(tf.slice(xw, [0, step, 0], [b, 1, 4 * H]), [b, 4 * H]), tf.matMul(h, w.weightHh, false, true));
      const [i, f, g, o] = tf.split(gates, 4, 1) as [Tensor, Tensor, Tensor, Tensor];
      c = tf.add(tf.mul(tf.sigmoid(f), c), tf.mul(tf.sigmoid(i), tf.tanh(g)));
      h = tf.mul(tf.sigmoid(o), tf.tanh(c));
      outputs[step] = h;
    }
    return tf.stack(outputs, 1);
  }
}

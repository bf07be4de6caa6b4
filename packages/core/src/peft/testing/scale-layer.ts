/**
 * TEST ONLY: the tuner layer of the test methods. It wraps a Linear/Conv1D and scales its outputs:
 * `y = base(x) ⊙ Π_active s_a` with `s_a = offset + v_a` (per output feature). With offset 1 ("scale",
 * TEST_SCALE) a zero vector is the identity; with offset 0 and a column vector `[out, 1]` it is PEFT's IA³
 * on a non-feedforward layer (Liu et al. 2022; peft `tuners/ia3/layer.py`: `ia3_l`, forward
 * `base_layer(x) * Π ia3_l.flatten()`, merge `W ⊙ ia3_l` row-wise and `b ⊙ ia3_l`).
 *
 * Parameters live in a per-adapter dict `<path>.<paramName>.<adapter>`, like PEFT's `ParameterDict` methods.
 */
import { tf } from "../../tf.js";
import type { Tensor, Variable } from "../../tf.js";
import { Module } from "../../nn/module.js";
import type { LinearLike } from "../../nn/layers.js";
import type { TunerLayer } from "../../method.js";
import { nextSeed } from "../../random.js";
import { allFiniteSync } from "../finite.js";

export interface ScaleStyle {
  readonly methodName: string;
  /** The per-adapter parameter dict's name: "scale_vector" or "ia3_l". */
  readonly paramName: string;
  /** s = offset + v. */
  readonly offset: 0 | 1;
  /** Store v as `[out, 1]` (IA³'s non-feedforward shape) instead of `[out]`. */
  readonly column: boolean;
}

/** How a new adapter's vector starts: a constant, or seeded U(low, high). */
export type ScaleInit = { constant: number } | { uniform: [number, number] };

class ParameterDict extends Module {}

export class ScaleLayer extends Module implements TunerLayer {
  readonly isTunerLayer = true as const;
  readonly methodName: string;
  disabled = false;
  private active: string[] = [];
  private merged: string[] = [];
  private rows: readonly string[] | null = null;
  private readonly vectors: ParameterDict;

  constructor(
    base: LinearLike,
    readonly style: ScaleStyle,
  ) {
    super();
    this.methodName = style.methodName;
    this.registerModule("base_layer", base);
    this.vectors = this.registerModule(style.paramName, new ParameterDict());
  }

  get baseLayer(): LinearLike {
    return this.getSubmodule("base_layer") as LinearLike;
  }

  addAdapter(name: string, init: ScaleInit): void {
    const n = this.baseLayer.outFeatures;
    const shape = this.style.column ? [n, 1] : [n];
    const v = "constant" in init ? tf.fill(shape, init.constant) : tf.randomUniform(shape, init.uniform[0], init.uniform[1], "float32", nextSeed());
    this.vectors.addParameter(name, v, true);
    v.dispose();
  }

  /** Adapter `name`'s parameter. */
  vector(name: string): Variable {
    const v = this.vectors.getParameter(name);
    if (v === undefined) throw new Error(`ScaleLayer: no adapter "${name}".`);
    return v;
  }

  adapterNames(): string[] {
    return this.vectors.ownParameters().map(([n]) => n);
  }
  activeAdapters(): readonly string[] {
    return this.active;
  }
  setActiveAdapters(names: readonly string[]): void {
    this.active = names.filter((n) => this.adapterNames().includes(n));
  }
  setRowAdapters(names: readonly string[] | null): void {
    this.rows = names;
  }
  deleteAdapter(name: string): void {
    this.vectors.deleteParameter(name);
    this.active = this.active.filter((n) => n !== name);
  }
  mergedAdapters(): readonly string[] {
    return this.merged;
  }

  forward(x: Tensor): Tensor {
    if (this.disabled) {
      // PEFT: a disabled layer with merged adapters unmerges, so the output is the base model's.
      if (this.merged.length > 0) this.unmerge();
      return this.baseLayer.forward(x);
    }
    return tf.tidy(() => {
      const y = this.baseLayer.forward(x);
      const out = this.baseLayer.outFeatures;
      if (this.rows !== null) {
        const rows = this.rows;
        if (rows.length !== x.shape[0]) throw new Error(`ScaleLayer: ${rows.length} row adapter names for a batch of ${x.shape[0]}.`);
        const one = tf.ones([out]);
        const perRow = tf.stack(rows.map((n) => (this.adapterNames().includes(n) ? this.factor([n]) : one)));
        return tf.mul(y, tf.reshape(perRow, [rows.length, ...new Array<number>(y.rank - 2).fill(1), out]));
      }
      const live = this.active.filter((n) => !this.merged.includes(n));
      return live.length === 0 ? y : tf.mul(y, this.factor(live));
    });
  }

  /** Π (offset + v) over `names`, as `[out]`. */
  private factor(names: readonly string[]): Tensor {
    return tf.tidy(() => names.map((n) => tf.reshape(tf.add(this.style.offset, this.vector(n)), [-1])).reduce((a, b) => tf.mul(a, b)));
  }

  merge(names: readonly string[], options: { safe: boolean }): void {
    const todo = names.filter((n) => !this.merged.includes(n));
    if (todo.length === 0) return;
    const base = this.baseLayer;
    const s = this.factor(todo);
    const w = tf.tidy(() => (base.weightLayout === "out_in" ? tf.mul(base.weight, tf.reshape(s, [-1, 1])) : tf.mul(base.weight, s)));
    const b = base.bias === null ? null : tf.mul(base.bias, s);
    s.dispose();
    const dispose = (): void => {
      w.dispose();
      b?.dispose();
    };
    if (options.safe) {
      let finite: boolean;
      try {
        finite = allFiniteSync(w, "await peftModel.mergeAsync({ safe: true })") && (b === null || allFiniteSync(b, "await peftModel.mergeAsync({ safe: true })"));
      } catch (error) {
        dispose();
        throw error;
      }
      if (!finite) {
        dispose();
        throw new Error(`NaNs or Infs detected in the merged weights of adapter(s) ${todo.join(", ")}; the adapter seems to be broken.`);
      }
    }
    base.weight.assign(w);
    if (b !== null) base.bias!.assign(b);
    dispose();
    this.merged.push(...todo);
  }

  unmerge(): void {
    if (this.merged.length === 0) return;
    const base = this.baseLayer;
    tf.tidy(() => {
      const s = this.factor(this.merged);
      base.weight.assign(base.weightLayout === "out_in" ? tf.div(base.weight, tf.reshape(s, [-1, 1])) : tf.div(base.weight, s));
      if (base.bias !== null) base.bias.assign(tf.div(base.bias, s));
    });
    this.merged = [];
  }
}

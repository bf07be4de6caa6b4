/**
 * TEST ONLY: the tuner layer of the test methods, on core's `BaseTunerLayer`. It wraps a Linear/Conv1D and
 * scales its outputs: `y = base(x) ⊙ Π_active s_a` with `s_a = offset + v_a` (per output feature). With offset
 * 1 ("scale", TEST_SCALE) a zero vector is the identity; with offset 0 and a column vector `[out, 1]` it is
 * PEFT's IA³ on a non-feedforward layer (Liu et al. 2022; peft `tuners/ia3/layer.py`: `ia3_l`, forward
 * `base_layer(x) * Π ia3_l.flatten()`, merge `W ⊙ ia3_l` row-wise and `b ⊙ ia3_l`).
 *
 * Parameters live in a per-adapter dict `<path>.<paramName>.<adapter>`, like PEFT's `ParameterDict` methods.
 */
import { tf, Module, BaseTunerLayer, defaultAdapterFileKey, isLinearLike, matchTargets, nextSeed, tunerLayerInjection } from "../../src/index.js";
import type { BasePeftConfig, Injection, LinearLike, MergePlan, TargetSelection, Tensor, Variable } from "../../src/index.js";

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

export class ScaleLayer extends BaseTunerLayer<ScaleInit> {
  readonly methodName: string;
  private readonly vectors: ParameterDict;

  constructor(
    base: LinearLike,
    readonly style: ScaleStyle,
  ) {
    super(base);
    this.methodName = style.methodName;
    this.vectors = this.registerModule(style.paramName, new ParameterDict());
  }

  override get baseLayer(): LinearLike {
    return super.baseLayer as LinearLike;
  }

  addAdapter(name: string, init: ScaleInit): void {
    this.registerAdapter(name, init);
  }

  protected createAdapter(name: string, init: ScaleInit): void {
    const n = this.baseLayer.outFeatures;
    const shape = this.style.column ? [n, 1] : [n];
    const v = "constant" in init ? tf.fill(shape, init.constant) : tf.randomUniform(shape, init.uniform[0], init.uniform[1], "float32", nextSeed());
    this.vectors.addParameter(name, v, true);
    v.dispose();
  }

  protected deleteAdapterWeights(name: string): void {
    this.vectors.deleteParameter(name);
  }

  /** Adapter `name`'s parameter. */
  vector(name: string): Variable {
    const v = this.vectors.getParameter(name);
    if (v === undefined) throw new Error(`ScaleLayer: no adapter "${name}".`);
    return v;
  }

  /** y·s = y + y·(s − 1): the delta form the base class adds. */
  protected adapterDelta(running: Tensor, _x: Tensor, name: string): Tensor {
    return tf.mul(running, tf.sub(this.factor([name]), 1));
  }

  /** Π (offset + v) over `names`, as `[out]`. */
  private factor(names: readonly string[]): Tensor {
    return tf.tidy(() => names.map((n) => tf.reshape(tf.add(this.style.offset, this.vector(n)), [-1])).reduce((a, b) => tf.mul(a, b)));
  }

  /** W and b scaled by s (`divide`: by 1/s), row-wise in W's layout. */
  private scaled(names: readonly string[], divide: boolean): MergePlan {
    const base = this.baseLayer;
    const vars: Variable[] = base.bias === null ? [base.weight] : [base.weight, base.bias];
    const values = tf.tidy(() => {
      const s = this.factor(names);
      const op = divide ? tf.div : tf.mul;
      return vars.map((v) => (v === base.weight && base.weightLayout === "out_in" ? op(v, tf.reshape(s, [-1, 1])) : op(v, s)));
    });
    return { values: vars.map((v, i) => [v, values[i]!] as const) };
  }

  protected override mergePlan(names: readonly string[]): MergePlan {
    return this.scaled(names, false);
  }

  protected override unmergePlan(name: string): MergePlan {
    return this.scaled([name], true);
  }
}

/** Wraps every matched Linear in a ScaleLayer of `style` (or adds to the one there) and says what was added. */
export function injectScaleLayers<C extends BasePeftConfig & TargetSelection>(model: Module, config: C, adapterName: string, style: ScaleStyle, prefix: string, init: ScaleInit): Injection<C> {
  const targets = matchTargets(model, config, { isTargetable: (m) => isLinearLike(m) || (m instanceof ScaleLayer && m.style === style) });
  const layers = targets.map((path) => {
    const m = model.getSubmodule(path);
    const layer = m instanceof ScaleLayer ? m : new ScaleLayer(m as LinearLike, style);
    layer.addAdapter(adapterName, init);
    if (layer !== m) model.setSubmodule(path, layer);
    return layer;
  });
  return tunerLayerInjection({ model, config, adapterName, targets, layers, fileKey: (p) => defaultAdapterFileKey(p, adapterName, prefix) });
}

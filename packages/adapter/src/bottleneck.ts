/**
 * One bottleneck adapter module: AdapterHub's `Adapter` (sequential) and `ParallelAdapter` (adapters
 * `methods/modeling.py`), with their parameter names, initialisations and the three steps a
 * `BottleneckLayer` runs around them:
 *
 *   preForward(h, inputTensor, layerNorm) → {hidden, residual}   (`Adapter.pre_forward`)
 *   forward(hidden, residual)             → {output, up}         (`Adapter.forward`)
 *   postForward(output, h, inputTensor, layerNorm) → block output (`Adapter.post_forward`)
 *
 * where h is the sublayer's output, inputTensor the block's residual stream and layerNorm the block's own
 * norm at that point (BERT's post-LN; null in pre-LN blocks). The module itself is
 * `adapter_down` (`0`: Linear in → bottleneck; with `lnBefore`, `0`: LayerNorm and `1`: the Linear) →
 * non-linearity → `adapter_up` (Linear bottleneck → in) → · scaling → dropout → gate → residual / `adapter_norm_after`.
 */
import { tf, Module, Linear, LayerNorm, Dropout, ModuleList } from "@peftjs/core";
import type { Tensor, Variable } from "@peftjs/core";
import type { BottleneckConfig } from "./config.js";
import { getNonLinearity } from "./non-linearity.js";
import type { NonLinearity } from "./non-linearity.js";

/** Something with a one-tensor forward (the block's LayerNorm / RMSNorm). */
export interface NormModule {
  forward(x: Tensor): Tensor;
}

/** The settings one adapter module needs (a config resolved for one layer). */
export type BottleneckSettings = Pick<
  BottleneckConfig,
  | "nonLinearity"
  | "originalLnBefore"
  | "originalLnAfter"
  | "lnBefore"
  | "lnAfter"
  | "initWeights"
  | "isParallel"
  | "scaling"
  | "useGating"
  | "residualBeforeLn"
  | "adapterResidualBeforeLn"
  | "dropout"
>;

/** Random numbers for the initialisation: a seed per draw (core's generator, or one reset per module with `initWeightsSeed`). */
export type SeedSource = () => number;

export class BottleneckAdapter extends Module {
  readonly nonLinearity: NonLinearity;
  /** The constant scaling, or null when it is a learned parameter (`scaling`). */
  private readonly constantScaling: number | null;

  constructor(
    readonly inputSize: number,
    readonly downSample: number,
    readonly settings: BottleneckSettings,
    seeds: SeedSource,
  ) {
    super();
    if (!Number.isInteger(downSample) || downSample < 1) throw new Error(`Bottleneck adapter: the bottleneck size must be a positive integer, got ${downSample}.`);
    const down = new ModuleList<Module>();
    if (settings.lnBefore) down.append(new LayerNorm(inputSize));
    down.append(new Linear(inputSize, downSample));
    this.registerModule("adapter_down", down);
    this.registerModule("adapter_up", new Linear(downSample, inputSize));
    this.nonLinearity = getNonLinearity(settings.nonLinearity);
    if (typeof settings.scaling === "number") {
      this.constantScaling = settings.scaling;
    } else {
      this.constantScaling = null;
      // "learned": one scalar; "channel": one factor per hidden unit (He et al. 2021; AdapterPlus). Both start at 1.
      const shape = settings.scaling === "learned" ? [1] : [inputSize];
      this.registerParameter("scaling", tf.tidy(() => tf.variable(tf.ones(shape))));
    }
    if (settings.lnAfter) this.registerModule("adapter_norm_after", new LayerNorm(inputSize));
    if (settings.useGating) this.registerModule("gate", new Linear(inputSize, 1));
    this.registerModule("dropout", new Dropout(settings.dropout));
    this.initWeights(seeds);
  }

  /** The down projection (a Linear, after the optional LayerNorm). */
  get downProjection(): Linear {
    const down = this.getSubmodule("adapter_down") as ModuleList<Module>;
    return down.at(down.length - 1) as Linear;
  }

  get upProjection(): Linear {
    return this.getSubmodule("adapter_up") as Linear;
  }

  /** The learned scaling parameter, or null for a constant one. */
  get scalingParameter(): Variable | null {
    return this.getParameter("scaling") ?? null;
  }

  /**
   * AdapterHub's three schemes (`Adapter.__init__`):
   * - "bert": every Linear (down, up, gate) N(0, 0.02), biases 0 (`init_bert_weights`);
   * - "mam_adapter": down kaiming-uniform(a=√5) = U(±1/√in) with bias 0; up weight and bias 0 (He et al. 2021), so
   *   the adapter starts as a no-op; gate as "bert";
   * - "houlsby": down and up N(0, 0.01²) truncated to ±0.02 (= ±2σ, tfjs' truncatedNormal), biases 0; the gate
   *   keeps torch's default Linear init.
   */
  private initWeights(seeds: SeedSource): void {
    const down = this.downProjection;
    const up = this.upProjection;
    const gate = this.settings.useGating ? (this.getSubmodule("gate") as Linear) : null;
    const set = (v: Variable | null, make: () => Tensor): void => {
      if (v !== null) tf.tidy(() => v.assign(make()));
    };
    const normal = (v: Variable, std: number): void => set(v, () => tf.randomNormal(v.shape, 0, std, "float32", seeds()));
    const zero = (v: Variable | null): void => set(v, () => tf.zeros(v!.shape));
    switch (this.settings.initWeights) {
      case "bert":
        for (const l of [down, up, gate]) {
          if (l === null) continue;
          normal(l.weight, 0.02);
          zero(l.bias);
        }
        break;
      case "mam_adapter": {
        const bound = 1 / Math.sqrt(this.inputSize);
        set(down.weight, () => tf.randomUniform(down.weight.shape, -bound, bound, "float32", seeds()));
        zero(down.bias);
        zero(up.weight);
        zero(up.bias);
        if (gate !== null) {
          normal(gate.weight, 0.02);
          zero(gate.bias);
        }
        break;
      }
      case "houlsby":
        for (const l of [down, up]) {
          set(l.weight, () => tf.truncatedNormal(l.weight.shape, 0, 1e-2, "float32", seeds()));
          zero(l.bias);
        }
        break;
      default: {
        const never: never = this.settings.initWeights;
        throw new Error(`Bottleneck adapter: unknown initWeights ${String(never)}.`);
      }
    }
  }

  /**
   * `Adapter.pre_forward` / `ParallelAdapter.pre_forward`: the adapter's input and the residual its output adds.
   * Parallel: both are the block's residual stream (the sublayer's input).
   */
  preForward(hidden: Tensor, inputTensor: Tensor, layerNorm: NormModule | null): { hidden: Tensor; residual: Tensor } {
    const s = this.settings;
    if (s.isParallel) return { hidden: inputTensor, residual: inputTensor };
    let residual: Tensor | undefined;
    if (s.residualBeforeLn === true) residual = hidden;
    if (s.originalLnBefore) {
      if (layerNorm !== null) {
        hidden = tf.add(hidden, inputTensor);
        if (s.residualBeforeLn === "post_add") residual = hidden;
        hidden = layerNorm.forward(hidden);
      } else {
        hidden = tf.add(hidden, inputTensor);
      }
    }
    if (s.residualBeforeLn === false) residual = hidden;
    if (residual === undefined) {
      // AdapterHub fails here with an unbound local; say why instead.
      throw new Error(
        `Bottleneck adapter: residualBeforeLn "post_add" needs originalLnBefore and a block LayerNorm at this location (post-LN blocks such as BERT's); ` +
          `this location has ${layerNorm === null ? "no LayerNorm" : "originalLnBefore false"}. Use residualBeforeLn true or false.`,
      );
    }
    return { hidden, residual };
  }

  /** `Adapter.forward` / `ParallelAdapter.forward` (`output_gating` aside). */
  forward(x: Tensor, residualInput: Tensor): { output: Tensor; up: Tensor } {
    const s = this.settings;
    const down = this.getSubmodule("adapter_down") as ModuleList<Module>;
    let h = x;
    for (const m of down) h = (m as unknown as NormModule).forward(h);
    h = this.nonLinearity(h);
    let up = this.upProjection.forward(h);
    const scaling = this.constantScaling ?? this.scalingParameter!;
    up = tf.mul(up, scaling);
    let output = (this.getSubmodule("dropout") as Dropout).forward(up);
    if (s.useGating) {
      // σ(gate(x)) averaged over positions (dim 1), one gate per sequence: [b, t, 1] → [b, 1, 1].
      const gate = tf.mean(tf.sigmoid((this.getSubmodule("gate") as Linear).forward(x)), 1, true);
      output = tf.mul(output, gate);
    }
    if (s.isParallel) {
      if (s.lnAfter) output = (this.getSubmodule("adapter_norm_after") as LayerNorm).forward(output);
      return { output, up };
    }
    if (s.adapterResidualBeforeLn) output = tf.add(output, residualInput);
    if (s.lnAfter) output = (this.getSubmodule("adapter_norm_after") as LayerNorm).forward(output);
    if (!s.adapterResidualBeforeLn) output = tf.add(output, residualInput);
    return { output, up };
  }

  /**
   * `Adapter.post_forward` / `ParallelAdapter.post_forward`: the block's residual (and norm) after the adapter.
   * `inputHidden` is the sublayer's output, which a parallel adapter's output is added to.
   */
  postForward(hidden: Tensor, inputHidden: Tensor, inputTensor: Tensor, layerNorm: NormModule | null): Tensor {
    if (this.settings.isParallel) hidden = tf.add(hidden, inputHidden);
    if (!this.settings.originalLnAfter) return hidden;
    const sum = tf.add(hidden, inputTensor);
    return layerNorm === null ? sum : layerNorm.forward(sum);
  }

  /** Parameters of this adapter module (AdapterHub's formula, written out in the tests). */
  static parameterCount(inputSize: number, downSample: number, s: BottleneckSettings): number {
    let n = inputSize * downSample + downSample + downSample * inputSize + inputSize;
    if (s.lnBefore) n += 2 * inputSize;
    if (s.lnAfter) n += 2 * inputSize;
    if (s.scaling === "learned") n += 1;
    if (s.scaling === "channel") n += inputSize;
    if (s.useGating) n += inputSize + 1;
    return n;
  }
}

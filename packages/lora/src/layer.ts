/**
 * LoRA tuner layers (peft `tuners/lora/layer.py`, DoRA from `tuners/lora/dora.py` + `variants.py`).
 *
 * A tuner layer keeps the original module at child `base_layer` and each adapter under PEFT's names:
 * - `LoraLinear` (torch Linear or GPT-2 Conv1D): `lora_A.<adapter>` / `lora_B.<adapter>` are bias-free
 *   `Linear`s with torch-layout weights `[r, in]` / `[out, r]`, whatever the base layout;
 * - `LoraEmbedding`: plain parameters `lora_embedding_A.<adapter>` `[r, numEmbeddings]` and
 *   `lora_embedding_B.<adapter>` `[dim, r]`;
 * - DoRA: `lora_magnitude_vector.<adapter>` `[out]`.
 *
 * Forward is `base(x) + s·B(A(dropout(x)))` as two small matmuls: `W + s·BA` is never formed while training,
 * and the frozen base weight gets no gradient (it is not a trainable variable, and the DoRA norm — the only
 * place the adapter meets W — is computed off the tape, as the DoRA paper §4.3 and PEFT prescribe).
 */
import { tf, Module, BaseTunerLayer, BASE_ADAPTER_NAME, Linear, Dropout, Identity, applyToLastDim, nextSeed, topSvd } from "@peftjs/core";
import type { Tensor, Variable, Embedding, LinearLike, MergePlan } from "@peftjs/core";
import type { InitLoraWeights } from "./config.js";

/** Name PEFT uses in mixed batches for rows that get no adapter (core's `BASE_ADAPTER_NAME`). */
export const BASE_ROW = BASE_ADAPTER_NAME;

/** The per-adapter settings of one tuner layer (after rank_pattern / alpha_pattern were applied). */
export interface LoraLayerSettings {
  r: number;
  loraAlpha: number;
  loraDropout: number;
  useRslora: boolean;
  useDora: boolean;
  initLoraWeights: InitLoraWeights;
}

interface AdapterState extends LoraLayerSettings {
  /** loraAlpha / r, or loraAlpha / √r with rsLoRA (peft `LoraLayer.update_layer`). */
  scaling: number;
}

/** A named container (torch `ModuleDict` / `ParameterDict`): children or parameters keyed by adapter name. */
class AdapterDict extends Module {}

/** Runs `compute` off the gradient tape: the result is a constant to autodiff (torch `.detach()`). */
function detached(compute: () => Tensor): Tensor {
  // A customGrad with no inputs: its forward runs inside a kernel (nothing inside is recorded) and its
  // output is connected to no variable, so backprop never reaches it.
  return tf.customGrad(() => ({ value: compute(), gradFunc: () => [] }))();
}

/**
 * ‖W + s·BA‖ per output feature, without forming the out×in matrix (DoRA's column norm; W' in PEFT's
 * `[out, in]` view). With w_o the o-th output row of W, b_o the o-th row of B:
 *   ‖w_o + s·b_o A‖² = ‖w_o‖² + 2s·b_o·(A w_oᵀ) + s²·b_o (A Aᵀ) b_oᵀ.
 * `layout` is how W is stored: "out_in" (torch Linear) or "in_out" (Conv1D, and an Embedding seen as
 * `[in = numEmbeddings, out = dim]`).
 */
export function updatedRowNorm(weight: Tensor, layout: "out_in" | "in_out", loraA: Tensor, loraB: Tensor, scaling: number): Tensor {
  return tf.tidy(() => {
    const inAxis = layout === "out_in" ? 1 : 0;
    const wSq = tf.sum(tf.square(weight), inAxis); // [out]
    const aw = layout === "out_in" ? tf.matMul(loraA, weight, false, true) : tf.matMul(loraA, weight); // [r, out]
    const cross = tf.sum(tf.mul(loraB, tf.transpose(aw)), 1); // [out]
    const gram = tf.matMul(loraA, loraA, false, true); // [r, r]
    const quad = tf.sum(tf.mul(tf.matMul(loraB, gram), loraB), 1); // [out]
    const sq = tf.add(tf.add(wSq, tf.mul(cross, 2 * scaling)), tf.mul(quad, scaling * scaling));
    return tf.sqrt(tf.relu(sq));
  });
}

/**
 * What every LoRA tuner layer shares on top of core's `BaseTunerLayer` (which holds the adapter dict, the
 * active / merged / mixed-batch state and the safe-merge check): the per-adapter settings and scaling, dropout,
 * the DoRA magnitude and the merge maths on the base weight (peft `LoraLayer`, `Linear.merge/unmerge`,
 * `DoraLinearVariant.merge_*`).
 */
export abstract class LoraLayer extends BaseTunerLayer<AdapterState> {
  readonly methodName = "lora";
  protected readonly loraDropout: AdapterDict;
  protected readonly loraMagnitudeVector: AdapterDict;
  /** DoRA norms at merge time: unmerge needs the norm of the unmerged weight, which the merged one no longer gives (PEFT caches it too). */
  private readonly mergeNorms = new Map<string, Tensor>();

  protected constructor(baseLayer: Module) {
    super(baseLayer);
    this.loraDropout = this.registerModule("lora_dropout", new AdapterDict());
    this.loraMagnitudeVector = this.registerModule("lora_magnitude_vector", new AdapterDict());
  }

  /** The base weight the adapters apply to, and how it is stored. */
  protected abstract baseWeight(): Variable;
  protected abstract readonly weightLayout: "out_in" | "in_out";
  /** The adapter's A `[r, in]` and B `[out, r]`, in the `[out, in]` view of W. */
  protected abstract loraA(name: string): Variable;
  protected abstract loraB(name: string): Variable;
  protected abstract createAdapterWeights(name: string, settings: AdapterState): void;
  /** Removes and disposes adapter `name`'s A and B. */
  protected abstract deleteLoraWeights(name: string): void;

  scaling(name: string): number {
    return this.settingsOf(name).scaling;
  }

  settings(name: string): Readonly<AdapterState> {
    return this.settingsOf(name);
  }

  protected state(name: string): AdapterState {
    return this.settingsOf(name);
  }

  /** DoRA magnitude m `[out]` of an adapter. */
  magnitude(name: string): Variable {
    const m = this.loraMagnitudeVector.getParameter(name);
    if (m === undefined) throw new Error(`LoRA adapter "${name}" is not a DoRA adapter (it has no lora_magnitude_vector).`);
    return m;
  }

  /**
   * Adds (or replaces) adapter `name` (peft `update_layer`). A newly created layer's only adapter is active;
   * adding to an existing layer keeps the active set, like PEFT.
   */
  updateLayer(name: string, settings: LoraLayerSettings): void {
    if (!Number.isInteger(settings.r) || settings.r <= 0) {
      throw new Error(`LoRA: r must be a positive integer, got ${settings.r} for adapter "${name}".`);
    }
    const scaling = settings.useRslora ? settings.loraAlpha / Math.sqrt(settings.r) : settings.loraAlpha / settings.r;
    this.registerAdapter(name, { ...settings, scaling });
  }

  protected createAdapter(name: string, state: AdapterState): void {
    this.loraDropout.registerModule(name, state.loraDropout > 0 ? new Dropout(state.loraDropout) : new Identity());
    this.createAdapterWeights(name, state);
    if (state.useDora) {
      // DoRA magnitude starts at ‖W + s·BA‖ per output feature (peft `DoraLinearLayer.update_layer`).
      const norm = tf.tidy(() => updatedRowNorm(this.baseWeight(), this.weightLayout, this.loraA(name), this.loraB(name), state.scaling));
      this.loraMagnitudeVector.addParameter(name, norm, true);
      norm.dispose();
    }
  }

  protected deleteAdapterWeights(name: string): void {
    this.deleteLoraWeights(name);
    if (this.loraDropout.namedChildren().some(([n]) => n === name)) this.loraDropout.deleteModule(name);
    if (this.loraMagnitudeVector.getParameter(name) !== undefined) this.loraMagnitudeVector.deleteParameter(name);
  }

  /** s·BA in the base weight's own layout (peft `get_delta_weight`). */
  deltaWeight(name: string): Tensor {
    const { scaling } = this.state(name);
    return tf.tidy(() => {
      const ba = tf.matMul(this.loraB(name), this.loraA(name)); // [out, in]
      const delta = tf.mul(ba, scaling);
      return this.weightLayout === "out_in" ? delta : tf.transpose(delta);
    });
  }

  /** Per-output factor shaped to broadcast over W in its layout. */
  private outputFactor(factor: Tensor): Tensor {
    return this.weightLayout === "out_in" ? tf.reshape(factor, [-1, 1]) : tf.reshape(factor, [1, -1]);
  }

  /** ‖W + Δ‖ per output feature of a weight in this layer's layout. */
  private directRowNorm(weightPlusDelta: Tensor): Tensor {
    return tf.sqrt(tf.sum(tf.square(weightPlusDelta), this.weightLayout === "out_in" ? 1 : 0));
  }

  /** W merged with one adapter; for DoRA also the norm to keep for unmerge (peft `DoraLinearVariant.merge_safe`). */
  private mergedWeight(weight: Tensor, name: string): { weight: Tensor; norm: Tensor | null } {
    const state = this.state(name);
    if (!state.useDora) return { weight: tf.tidy(() => tf.add(weight, this.deltaWeight(name))), norm: null };
    const pair: Tensor[] = tf.tidy(() => {
      const updated = tf.add(weight, this.deltaWeight(name));
      const rowNorm = this.directRowNorm(updated);
      const factor = this.outputFactor(tf.div(this.magnitude(name), rowNorm));
      return [tf.mul(updated, factor), rowNorm];
    });
    return { weight: pair[0]!, norm: pair[1]! };
  }

  /** W with adapters `names` merged in, in order (peft `merge`); the DoRA norms are kept once it is assigned. */
  protected override mergePlan(names: readonly string[]): MergePlan {
    const target = this.baseWeight();
    let weight: Tensor = target;
    const norms: [string, Tensor][] = [];
    try {
      for (const name of names) {
        const next = this.mergedWeight(weight, name);
        if (weight !== target) weight.dispose();
        weight = next.weight;
        if (next.norm !== null) norms.push([name, next.norm]);
      }
    } catch (e) {
      if (weight !== target) weight.dispose();
      for (const [, n] of norms) n.dispose();
      throw e;
    }
    return {
      values: [[target, weight]],
      commit: () => {
        for (const [name, norm] of norms) {
          this.mergeNorms.get(name)?.dispose();
          this.mergeNorms.set(name, norm);
        }
      },
      discard: () => {
        for (const [, n] of norms) n.dispose();
      },
    };
  }

  /** W with the merged adapter `name` subtracted back out (peft `unmerge`; DoRA divides by the kept factor first). */
  protected override unmergePlan(name: string): MergePlan {
    const target = this.baseWeight();
    const state = this.state(name);
    const restored = tf.tidy(() => {
      const delta = this.deltaWeight(name);
      if (!state.useDora) return tf.sub(target, delta);
      const norm = this.mergeNorms.get(name)!;
      const factor = this.outputFactor(tf.div(this.magnitude(name), norm));
      return tf.sub(tf.div(target, factor), delta);
    });
    return {
      values: [[target, restored]],
      commit: () => {
        this.mergeNorms.get(name)?.dispose();
        this.mergeNorms.delete(name);
      },
    };
  }

  /** The DoRA factor m / ‖W + s·BA‖ `[out]`, with the norm off the tape. */
  protected doraScale(name: string): Tensor {
    const { scaling } = this.state(name);
    const norm = detached(() => updatedRowNorm(this.baseWeight(), this.weightLayout, this.loraA(name), this.loraB(name), scaling));
    return tf.div(this.magnitude(name), norm);
  }

  protected dropout(name: string): Module & { forward(x: Tensor): Tensor } {
    const d = this.loraDropout.namedChildren().find(([n]) => n === name);
    if (d === undefined) throw new Error(`LoRA: no dropout for adapter "${name}".`);
    return d[1] as Module & { forward(x: Tensor): Tensor };
  }

  override dispose(): void {
    for (const n of this.mergeNorms.values()) n.dispose();
    this.mergeNorms.clear();
    super.dispose();
  }
}

/** kaiming_uniform(a=√5) on a `[rows, fanIn]` weight: U(−1/√fanIn, 1/√fanIn), torch's nn.Linear init. */
function kaimingUniform(shape: [number, number]): Tensor {
  const bound = 1 / Math.sqrt(shape[1]);
  return tf.randomUniform(shape, -bound, bound, "float32", nextSeed());
}

/** PiSSA (Meng et al. 2024; peft `pissa_init`) on W `[out, in]`: A = √(S/s)·Vᵀ, B = U·√(S/s), W ← W − s·BA. */
function pissa(weightOutIn: Float64Array, out: number, inF: number, r: number, scaling: number, niter: number | undefined) {
  if (r > Math.min(out, inF)) {
    throw new Error(`LoRA PiSSA init needs r ≤ min(in, out) = ${Math.min(out, inF)}, got r = ${r}; lower r for this layer (rankPattern).`);
  }
  const { u, s, vt } = topSvd(weightOutIn, out, inF, r, niter === undefined ? {} : { niter, exactWorkLimit: 0 });
  const a = new Float32Array(r * inF);
  const b = new Float32Array(out * r);
  const root = Array.from(s, (x) => Math.sqrt(x / scaling));
  for (let k = 0; k < r; k++) for (let i = 0; i < inF; i++) a[k * inF + i] = root[k]! * vt[k * inF + i]!;
  for (let o = 0; o < out; o++) for (let k = 0; k < r; k++) b[o * r + k] = u[o * r + k]! * root[k]!;
  const residual = new Float64Array(weightOutIn);
  for (let o = 0; o < out; o++) {
    for (let i = 0; i < inF; i++) {
      let acc = 0;
      for (let k = 0; k < r; k++) acc += b[o * r + k]! * a[k * inF + i]!;
      residual[o * inF + i]! -= scaling * acc;
    }
  }
  return { a, b, residual };
}

function pissaIterations(init: InitLoraWeights): number | undefined {
  if (typeof init !== "string" || !init.startsWith("pissa_niter_")) return undefined;
  return Number(init.slice("pissa_niter_".length));
}

/** LoRA on a `Linear` (`[out, in]`) or GPT-2 `Conv1D` (`[in, out]`, PEFT's `fan_in_fan_out`). */
export class LoraLinear extends LoraLayer {
  protected readonly weightLayout: "out_in" | "in_out";
  private readonly loraADict: AdapterDict;
  private readonly loraBDict: AdapterDict;

  constructor(baseLayer: LinearLike) {
    super(baseLayer);
    this.weightLayout = baseLayer.weightLayout;
    this.loraADict = this.registerModule("lora_A", new AdapterDict());
    this.loraBDict = this.registerModule("lora_B", new AdapterDict());
  }

  override get baseLayer(): LinearLike {
    return super.baseLayer as LinearLike;
  }

  get inFeatures(): number {
    return this.baseLayer.inFeatures;
  }

  get outFeatures(): number {
    return this.baseLayer.outFeatures;
  }

  /** Whether the base stores its weight `[in, out]` (Conv1D). */
  get fanInFanOut(): boolean {
    return this.weightLayout === "in_out";
  }

  protected baseWeight(): Variable {
    return this.baseLayer.weight;
  }

  protected override baseForward(x: Tensor): Tensor {
    return this.baseLayer.forward(x);
  }

  private child(dict: AdapterDict, name: string): Linear {
    const c = dict.namedChildren().find(([n]) => n === name);
    if (c === undefined) throw new Error(`LoRA layer has no adapter "${name}"; it holds: ${this.adapterNames().join(", ") || "(none)"}.`);
    return c[1] as Linear;
  }

  loraA(name: string): Variable {
    return this.child(this.loraADict, name).weight;
  }

  loraB(name: string): Variable {
    return this.child(this.loraBDict, name).weight;
  }

  protected createAdapterWeights(name: string, settings: AdapterState): void {
    const { r } = settings;
    const inF = this.inFeatures;
    const out = this.outFeatures;
    const init = settings.initLoraWeights;
    let a: Tensor;
    let b: Tensor;
    if (init === true) {
      // peft `reset_lora_parameters`: kaiming_uniform_(A, a=√5), B = 0 (Hu et al.: the adapter starts as a no-op).
      a = kaimingUniform([r, inF]);
      b = tf.zeros([out, r]);
    } else if (init === "gaussian") {
      a = tf.randomNormal([r, inF], 0, 1 / r, "float32", nextSeed());
      b = tf.zeros([out, r]);
    } else if (init === false) {
      // PEFT skips the reset, leaving nn.Linear's default init on both: a non-zero adapter, for tests.
      a = kaimingUniform([r, inF]);
      b = kaimingUniform([out, r]);
    } else {
      const w = tf.tidy(() => (this.weightLayout === "out_in" ? tf.clone(this.baseLayer.weight) : tf.transpose(this.baseLayer.weight)));
      // PiSSA's SVD runs in float64 JavaScript, so it reads the weight synchronously (inject is sync): that needs
      // a backend with sync reads (cpu, wasm, tensorflow). WebGPU in Node has none.
      let values: Float64Array;
      try {
        values = Float64Array.from(w.dataSync());
      } catch (cause) {
        throw new Error(
          `LoRA PiSSA init ("${String(init)}") reads the base weight synchronously, which the ${tf.getBackend()} backend cannot do (WebGPU in Node cannot). Add the adapter while the cpu or wasm backend is active (await tf.setBackend("cpu"); getPeftModel(...)), then switch back (await tf.setBackend("webgpu")): tfjs moves the tensors to the active backend on first use.`,
          { cause },
        );
      } finally {
        w.dispose();
      }
      const p = pissa(values, out, inF, r, settings.scaling, pissaIterations(init));
      a = tf.tensor2d(p.a, [r, inF]);
      b = tf.tensor2d(p.b, [out, r]);
      const residual = tf.tidy(() => {
        const res = tf.tensor2d(Float32Array.from(p.residual), [out, inF]);
        return this.weightLayout === "out_in" ? res : tf.transpose(res);
      });
      this.baseLayer.weight.assign(residual);
      residual.dispose();
    }
    this.loraADict.registerModule(name, new Linear(inF, r, { bias: false, weight: a }));
    this.loraBDict.registerModule(name, new Linear(r, out, { bias: false, weight: b }));
    a.dispose();
    b.dispose();
  }

  protected deleteLoraWeights(name: string): void {
    for (const dict of [this.loraADict, this.loraBDict]) {
      const c = dict.namedChildren().find(([n]) => n === name);
      if (c !== undefined) {
        c[1].dispose();
        dict.deleteModule(name);
      }
    }
  }

  /** x·W without the bias, in either layout. */
  private baseMatmul(x: Tensor): Tensor {
    const w = this.baseLayer.weight;
    return applyToLastDim(x, (x2) => (this.weightLayout === "out_in" ? tf.matMul(x2, w, false, true) : tf.matMul(x2, w)));
  }

  protected adapterDelta(running: Tensor, x: Tensor, name: string): Tensor {
    const state = this.state(name);
    const loraA = this.child(this.loraADict, name);
    const loraB = this.child(this.loraBDict, name);
    if (!state.useDora) {
      // peft `Linear.forward`: lora_B(lora_A(dropout(x))) * scaling — two thin matmuls.
      return tf.mul(loraB.forward(loraA.forward(this.dropout(name).forward(x))), state.scaling);
    }
    // DoRA (peft `DoraLinearVariant.forward` + `DoraLinearLayer.forward`):
    //   (m/‖W+sBA‖ − 1)·base + (m/‖W+sBA‖)·s·B(A(x)), base without bias.
    // Without active dropout PEFT reuses the running output (minus bias) as `base`; with dropout it
    // recomputes x_dropped·W. Both are kept as PEFT has them so that the numbers agree.
    let xd = x;
    let base: Tensor;
    if (state.loraDropout === 0 || !this.training) {
      base = this.baseLayer.bias === null ? running : tf.sub(running, this.baseLayer.bias);
    } else {
      xd = this.dropout(name).forward(x);
      base = this.baseMatmul(xd);
    }
    const scale = this.doraScale(name);
    const loraResult = loraB.forward(loraA.forward(xd));
    return tf.add(tf.mul(base, tf.sub(scale, 1)), tf.mul(loraResult, tf.mul(scale, state.scaling)));
  }
}

/** LoRA on an `Embedding` (peft `lora.Embedding`): ids → base(ids) + s·(Aᵀ[ids])·Bᵀ. No dropout, as in PEFT. */
export class LoraEmbedding extends LoraLayer {
  /** An embedding table `[numEmbeddings, dim]` acts as x_onehot·W: in = numEmbeddings, out = dim, stored `[in, out]`. */
  protected readonly weightLayout = "in_out" as const;
  private readonly embeddingA: AdapterDict;
  private readonly embeddingB: AdapterDict;

  constructor(baseLayer: Embedding) {
    super(baseLayer);
    this.embeddingA = this.registerModule("lora_embedding_A", new AdapterDict());
    this.embeddingB = this.registerModule("lora_embedding_B", new AdapterDict());
  }

  override get baseLayer(): Embedding {
    return super.baseLayer as Embedding;
  }

  protected baseWeight(): Variable {
    return this.baseLayer.weight;
  }

  protected override baseForward(x: Tensor): Tensor {
    return this.baseLayer.forward(x);
  }

  loraA(name: string): Variable {
    const a = this.embeddingA.getParameter(name);
    if (a === undefined) throw new Error(`LoRA embedding layer has no adapter "${name}"; it holds: ${this.adapterNames().join(", ") || "(none)"}.`);
    return a;
  }

  loraB(name: string): Variable {
    const b = this.embeddingB.getParameter(name);
    if (b === undefined) throw new Error(`LoRA embedding layer has no adapter "${name}"; it holds: ${this.adapterNames().join(", ") || "(none)"}.`);
    return b;
  }

  protected createAdapterWeights(name: string, settings: AdapterState): void {
    const { r } = settings;
    const vocab = this.baseLayer.numEmbeddings;
    const dim = this.baseLayer.embeddingDim;
    // peft `Embedding.update_layer` + `reset_lora_parameters`: A zeros and B ~ N(0, 1) for every truthy init
    // (PiSSA included: PEFT has no PiSSA for embeddings); `false` leaves both ~ N(0, 1).
    const a = settings.initLoraWeights === false ? tf.randomNormal([r, vocab], 0, 1, "float32", nextSeed()) : tf.zeros([r, vocab]);
    const b = tf.randomNormal([dim, r], 0, 1, "float32", nextSeed());
    this.embeddingA.addParameter(name, a);
    this.embeddingB.addParameter(name, b);
    a.dispose();
    b.dispose();
  }

  protected deleteLoraWeights(name: string): void {
    if (this.embeddingA.getParameter(name) !== undefined) this.embeddingA.deleteParameter(name);
    if (this.embeddingB.getParameter(name) !== undefined) this.embeddingB.deleteParameter(name);
  }

  /** ids → s·(Aᵀ[ids])·Bᵀ, `[...ids.shape, dim]`. */
  private loraEmbed(ids: Tensor, name: string): Tensor {
    const { scaling } = this.state(name);
    const flat = tf.reshape(ids, [-1]);
    const idx = flat.dtype === "int32" ? flat : tf.cast(flat, "int32");
    const afterA = tf.transpose(tf.gather(this.loraA(name), idx, 1)); // [n, r]
    const out = tf.mul(tf.matMul(afterA, this.loraB(name), false, true), scaling); // [n, dim]
    return tf.reshape(out, [...ids.shape, this.baseLayer.embeddingDim]);
  }

  protected adapterDelta(running: Tensor, x: Tensor, name: string): Tensor {
    const state = this.state(name);
    const lora = this.loraEmbed(x, name);
    if (!state.useDora) return lora;
    // peft `DoraEmbeddingVariant.forward`: result ← (m/‖·‖)·result + (m/‖·‖)·s·(Aᵀ[x])·Bᵀ.
    const scale = this.doraScale(name);
    return tf.add(tf.mul(running, tf.sub(scale, 1)), tf.mul(lora, scale));
  }
}

export function isLoraLayer(m: Module): m is LoraLayer {
  return m instanceof LoraLayer;
}

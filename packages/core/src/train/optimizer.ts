/**
 * AdamW with the exact update of `torch.optim.AdamW` (single-tensor path, amsgrad off), so that a run here
 * and a run in PyTorch follow the same trajectory up to float32 rounding. Per parameter, at its step t:
 *
 *   p ← p · (1 − lr·λ)                                   decoupled weight decay (Loshchilov & Hutter 2019)
 *   m ← lerp(m, g, 1 − β₁)                               torch uses lerp_, i.e. m + (1 − β₁)(g − m)
 *   v ← β₂·v + (1 − β₂)·g·g
 *   p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε) eps added after the bias-corrected √v
 *
 * Like torch, a parameter without a gradient this step is skipped entirely (no decay, its step count does
 * not advance), and state (m, v as non-trainable `tf.Variable`s, the step count) is created lazily on a
 * parameter's first gradient.
 */
import { tf } from "../tf.js";
import type { Tensor, Variable } from "../tf.js";
import type { Module } from "../nn/module.js";
import { LayerNorm, RMSNorm } from "../nn/layers.js";

export interface AdamWOptions {
  /** Learning rate. torch default 1e-3. */
  lr?: number;
  /** (β₁, β₂). torch default [0.9, 0.999]. */
  betas?: readonly [number, number];
  /** Added to the denominator after the bias correction. torch default 1e-8. */
  eps?: number;
  /** Decoupled weight decay λ. torch default 0.01. */
  weightDecay?: number;
}

/** A set of parameters with its own hyper-parameters (torch's param_groups); unset fields take the optimizer's. */
export interface ParamGroup extends AdamWOptions {
  params: Variable[];
}

export interface ResolvedParamGroup {
  params: Variable[];
  /** The current learning rate (a scheduler sets it each step). */
  lr: number;
  /** The learning rate the group was created with; schedules multiply this (torch LambdaLR's base_lrs). */
  readonly initialLr: number;
  betas: readonly [number, number];
  eps: number;
  weightDecay: number;
}

/** Gradients by variable, or by variable name as `tf.variableGrads` returns them. */
export type Gradients = Map<Variable, Tensor> | Record<string, Tensor>;

interface AdamState {
  step: number;
  expAvg: Variable;
  expAvgSq: Variable;
}

export class AdamW {
  readonly paramGroups: ResolvedParamGroup[];
  private readonly state = new Map<Variable, AdamState>();
  private readonly byName = new Map<string, Variable>();
  private disposed = false;

  constructor(params: Variable[] | ParamGroup[], options: AdamWOptions = {}) {
    const defaults = resolveOptions(options, "AdamW");
    const groups: ParamGroup[] = params.length > 0 && isParamGroup(params[0]) ? (params as ParamGroup[]) : [{ params: params as Variable[] }];
    this.paramGroups = groups.map((g, i) => {
      const o = resolveOptions({ ...defaults, ...stripUndefined(g) }, `AdamW param group ${i}`);
      return { params: [...g.params], lr: o.lr, initialLr: o.lr, betas: o.betas, eps: o.eps, weightDecay: o.weightDecay };
    });
    const all = this.paramGroups.flatMap((g) => g.params);
    if (all.length === 0) throw new Error("AdamW: no parameters to optimise; pass the trainable variables (e.g. model.trainableParameters()).");
    for (const v of all) {
      if (this.byName.has(v.name)) {
        throw new Error(`AdamW: parameter "${v.name}" appears more than once (in one group or in two); list each variable once.`);
      }
      if (v.dtype !== "float32") throw new Error(`AdamW: parameter "${v.name}" has dtype ${v.dtype}; only float32 variables can be optimised.`);
      this.byName.set(v.name, v);
    }
  }

  /** The parameter's step count (torch `state[p]["step"]`), 0 before its first gradient. */
  stepCount(v: Variable): number {
    return this.state.get(v)?.step ?? 0;
  }

  /** Sets every group's learning rate to `initialLr · factor` (what a schedule does each step). */
  scaleLr(factor: number): void {
    for (const g of this.paramGroups) g.lr = g.initialLr * factor;
  }

  /** Applies one update from `grads`; parameters missing from `grads` are left untouched. Disposes nothing it was given. */
  step(grads: Gradients): void {
    this.assertLive();
    const lookup = this.gradientLookup(grads);
    tf.tidy(() => {
      for (const group of this.paramGroups) {
        const { lr, eps, weightDecay } = group;
        const [beta1, beta2] = group.betas;
        for (const p of group.params) {
          const g = lookup(p);
          if (g === undefined) continue;
          if (!sameShape(g.shape, p.shape)) {
            throw new Error(`AdamW: gradient for "${p.name}" has shape [${g.shape.join(", ")}], the parameter [${p.shape.join(", ")}].`);
          }
          const s = this.stateFor(p);
          s.step += 1;
          const biasCorrection1 = 1 - beta1 ** s.step;
          const biasCorrection2Sqrt = Math.sqrt(1 - beta2 ** s.step);
          const stepSize = lr / biasCorrection1;

          const decayed = weightDecay !== 0 ? tf.mul(p, 1 - lr * weightDecay) : p;
          const expAvg = lerp(s.expAvg, g, 1 - beta1);
          const expAvgSq = tf.add(tf.mul(s.expAvgSq, beta2), tf.mul(tf.mul(g, 1 - beta2), g));
          const denom = tf.add(tf.div(tf.sqrt(expAvgSq), biasCorrection2Sqrt), eps);
          // torch addcdiv_(exp_avg, denom, value=-step_size): p + value · (exp_avg / denom)
          const updated = tf.add(decayed, tf.mul(tf.div(expAvg, denom), -stepSize));
          s.expAvg.assign(expAvg);
          s.expAvgSq.assign(expAvgSq);
          p.assign(updated);
        }
      }
    });
  }

  /** Resets the moments to zero and every step count to 0, as for a fresh optimizer (keeps the buffers). */
  zeroState(): void {
    this.assertLive();
    for (const s of this.state.values()) {
      s.step = 0;
      tf.tidy(() => {
        s.expAvg.assign(tf.zerosLike(s.expAvg));
        s.expAvgSq.assign(tf.zerosLike(s.expAvgSq));
      });
    }
  }

  /** Frees the optimizer state (the parameters are not touched). The optimizer cannot be used afterwards. */
  dispose(): void {
    for (const s of this.state.values()) {
      s.expAvg.dispose();
      s.expAvgSq.dispose();
    }
    this.state.clear();
    this.disposed = true;
  }

  private stateFor(p: Variable): AdamState {
    let s = this.state.get(p);
    if (s === undefined) {
      // Variables are not tracked by tidy scopes, so the state outlives the step that creates it.
      s = { step: 0, expAvg: tf.variable(tf.zerosLike(p), false), expAvgSq: tf.variable(tf.zerosLike(p), false) };
      this.state.set(p, s);
    }
    return s;
  }

  private gradientLookup(grads: Gradients): (p: Variable) => Tensor | undefined {
    if (grads instanceof Map) {
      for (const v of grads.keys()) {
        if (this.byName.get(v.name) !== v) throw new Error(`AdamW.step: got a gradient for "${v.name}", which is not one of this optimizer's parameters.`);
      }
      return (p) => grads.get(p);
    }
    for (const name of Object.keys(grads)) {
      if (!this.byName.has(name)) {
        throw new Error(`AdamW.step: got a gradient named "${name}", which is not one of this optimizer's parameters (${shortList([...this.byName.keys()])}).`);
      }
    }
    return (p) => (Object.prototype.hasOwnProperty.call(grads, p.name) ? grads[p.name] : undefined);
  }

  private assertLive(): void {
    if (this.disposed) throw new Error("AdamW: this optimizer was disposed; create a new one.");
  }
}

/**
 * torch.lerp(start, end, w): `start + w·(end − start)` for w < 0.5, else `end − (end − start)·(1 − w)`
 * (ATen's lerp kernel, which keeps the result exact at both ends).
 */
function lerp(start: Tensor, end: Tensor, weight: number): Tensor {
  const diff = tf.sub(end, start);
  return weight < 0.5 ? tf.add(start, tf.mul(diff, weight)) : tf.sub(end, tf.mul(diff, 1 - weight));
}

/**
 * Two groups the way transformers' Trainer builds them (`get_decay_parameter_names`): parameters of
 * LayerNorm/RMSNorm modules and any parameter whose name says bias or norm get no weight decay; all other
 * trainable parameters get `weightDecay`. Empty groups are left out.
 */
export function decayParameterGroups(model: Module, weightDecay: number): ParamGroup[] {
  const noDecayModules = new Set<string>();
  for (const [path, m] of model.namedModules()) if (m instanceof LayerNorm || m instanceof RMSNorm) noDecayModules.add(path);
  const decay: Variable[] = [];
  const noDecay: Variable[] = [];
  for (const [name, v] of model.namedParameters()) {
    if (!v.trainable) continue;
    const owner = name.includes(".") ? name.slice(0, name.lastIndexOf(".")) : "";
    (noDecayModules.has(owner) || NO_DECAY_NAME.test(name) ? noDecay : decay).push(v);
  }
  const groups: ParamGroup[] = [];
  if (decay.length > 0) groups.push({ params: decay, weightDecay });
  if (noDecay.length > 0) groups.push({ params: noDecay, weightDecay: 0 });
  return groups;
}

/** transformers Trainer's forbidden name patterns for weight decay. */
const NO_DECAY_NAME = /bias|layernorm|rmsnorm|(?:^|\.)norm(?:$|\.)|_norm(?:$|\.)/i;

interface ResolvedOptions {
  lr: number;
  betas: readonly [number, number];
  eps: number;
  weightDecay: number;
}

/** Validates like torch.optim.AdamW's constructor, with torch's defaults. */
function resolveOptions(o: AdamWOptions, where: string): ResolvedOptions {
  const lr = o.lr ?? 1e-3;
  const betas = o.betas ?? [0.9, 0.999];
  const eps = o.eps ?? 1e-8;
  const weightDecay = o.weightDecay ?? 0.01;
  if (!(Number.isFinite(lr) && lr >= 0)) throw new Error(`${where}: invalid learning rate ${lr}; expected a finite number >= 0.`);
  if (!(Number.isFinite(eps) && eps >= 0)) throw new Error(`${where}: invalid eps ${eps}; expected a finite number >= 0.`);
  for (const [i, b] of betas.entries()) {
    if (!(b >= 0 && b < 1)) throw new Error(`${where}: invalid beta at index ${i}: ${b}; expected 0 <= beta < 1.`);
  }
  if (!(Number.isFinite(weightDecay) && weightDecay >= 0)) throw new Error(`${where}: invalid weightDecay ${weightDecay}; expected a finite number >= 0.`);
  return { lr, betas: [betas[0], betas[1]], eps, weightDecay };
}

function isParamGroup(x: unknown): x is ParamGroup {
  return typeof x === "object" && x !== null && Array.isArray((x as { params?: unknown }).params);
}

function stripUndefined(g: ParamGroup): AdamWOptions {
  const out: AdamWOptions = {};
  if (g.lr !== undefined) out.lr = g.lr;
  if (g.betas !== undefined) out.betas = g.betas;
  if (g.eps !== undefined) out.eps = g.eps;
  if (g.weightDecay !== undefined) out.weightDecay = g.weightDecay;
  return out;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function shortList(names: string[]): string {
  return names.length > 8 ? `${names.slice(0, 8).join(", ")}, … (${names.length} in all)` : names.join(", ");
}

/**
 * Several named bottleneck adapters at one location, composed as AdapterHub composes them (adapters
 * `composition.py`; `methods/adapter_layer_base.py` `ComposableAdapterLayerBase.compose_*`;
 * `methods/bottleneck.py` `BottleneckLayer.pre_block` / `compose_single` / `mean` / `bottleneck_layer_forward`):
 *
 * - `Stack("a", "b")`: a's output is b's input; each adapter runs its own `preForward` on the running state
 *   (so a `seq_bn` adapter stacked on another adds the block residual again, as in AdapterHub's MAD-X setup).
 *   A single active adapter is `Stack(name)`, AdapterHub's `parse_composition` of a name.
 * - `Average(["a", "b"], {weights})`: every child reads the same input; the result is
 *   `torch.mean(stack(hᵢ) · wᵢ, dim 0)` = Σ wᵢ·hᵢ / N with the weights normalised to sum 1 (the default).
 *   Note the extra 1/N: that is AdapterHub's formula, kept so that an AdapterHub setup gives AdapterHub's outputs.
 * - `BatchSplit(["a", "b"], {batchSizes: [2, 1]})`: rows 0–1 through a, row 2 through b.
 *
 * The first adapter's `preForward` prepares the state of a block; the last applied adapter's `postForward` ends
 * the layer. Adapters a layer does not hold (`leaveOut`) are skipped, like AdapterHub.
 */
import { tf } from "@peftjs/core";
import type { Tensor } from "@peftjs/core";
import type { BottleneckAdapter, NormModule } from "./bottleneck.js";

export type AdapterSetup = string | Stack | Average | BatchSplit;

abstract class CompositionBlock {
  readonly children: readonly AdapterSetup[];

  protected constructor(children: readonly AdapterSetup[]) {
    if (children.length === 0) throw new Error(`${this.constructor.name}: needs at least one child (an adapter name or a composition block).`);
    for (const c of children) {
      if (typeof c !== "string" && !(c instanceof CompositionBlock)) throw new Error(`${this.constructor.name}: children must be adapter names or composition blocks, got ${JSON.stringify(c)}.`);
    }
    this.children = [...children];
  }

  /** Every adapter name in the block (AdapterHub `flatten`). */
  flatten(): Set<string> {
    return new Set(this.children.flatMap((c) => (typeof c === "string" ? [c] : [...c.flatten()])));
  }

  toString(): string {
    return `${this.constructor.name}[${this.children.map(String).join(", ")}]`;
  }
}

export class Stack extends CompositionBlock {
  readonly kind = "stack" as const;

  constructor(...children: AdapterSetup[]) {
    super(children);
  }
}

export class Average extends CompositionBlock {
  readonly kind = "average" as const;
  readonly weights: readonly number[];

  /** `weights` default to 1/N each; with `normalizeWeights` (default true) they are divided by their sum. */
  constructor(children: readonly AdapterSetup[], options: { weights?: readonly number[]; normalizeWeights?: boolean } = {}) {
    super(children);
    const { weights, normalizeWeights = true } = options;
    if (weights === undefined) {
      this.weights = children.map(() => 1 / children.length);
      return;
    }
    if (weights.length !== children.length || !weights.every((w) => Number.isFinite(w))) {
      throw new Error(`Average: weights must be ${children.length} finite numbers (one per child), got ${JSON.stringify(weights)}.`);
    }
    const sum = weights.reduce((a, b) => a + b, 0);
    if (normalizeWeights && sum === 0) throw new Error(`Average: the weights sum to 0 and cannot be normalised; pass normalizeWeights: false or other weights.`);
    this.weights = normalizeWeights ? weights.map((w) => w / sum) : [...weights];
  }
}

export class BatchSplit extends CompositionBlock {
  readonly kind = "batch_split" as const;
  readonly batchSizes: readonly number[];

  /** `batchSizes`: rows per child, in order (a single number: the same for every child). */
  constructor(children: readonly AdapterSetup[], options: { batchSizes: readonly number[] | number }) {
    super(children);
    const sizes = typeof options.batchSizes === "number" ? children.map(() => options.batchSizes as number) : [...options.batchSizes];
    if (sizes.length !== children.length || !sizes.every((n) => Number.isInteger(n) && n >= 0)) {
      throw new Error(`BatchSplit: batchSizes must be ${children.length} non-negative integers (one per child), got ${JSON.stringify(options.batchSizes)}.`);
    }
    this.batchSizes = sizes;
  }
}

/** Which blocks may sit inside which (AdapterHub `ALLOWED_NESTINGS`, restricted to the blocks implemented here). */
const ALLOWED_NESTINGS: Record<CompositionKind, readonly CompositionKind[]> = {
  stack: ["batch_split", "average"],
  batch_split: ["stack", "batch_split", "average"],
  average: ["stack", "batch_split"],
};
type CompositionKind = Stack["kind"] | Average["kind"] | BatchSplit["kind"];

/** A name, a list of names (a Stack) or a block → a block (AdapterHub `parse_composition` at level 0), validated. */
export function parseComposition(setup: AdapterSetup | readonly string[]): Stack | Average | BatchSplit {
  const block = typeof setup === "string" ? new Stack(setup) : Array.isArray(setup) ? new Stack(...(setup as string[])) : (setup as Stack | Average | BatchSplit);
  validate(block, 0);
  return block;
}

function validate(block: Stack | Average | BatchSplit, level: number): void {
  for (const child of block.children) {
    if (typeof child === "string") continue;
    // AdapterHub `check_composition_valid`: a Stack only at the top level may hold blocks.
    if (block.kind === "stack" && level >= 1) throw new Error(`Adapter setup too deep: cannot have ${child.constructor.name} inside a Stack at level ${level}.`);
    if (!ALLOWED_NESTINGS[block.kind].includes(child.kind)) {
      throw new Error(`Cannot nest ${child.constructor.name} inside ${block.constructor.name}; allowed: adapter names, ${ALLOWED_NESTINGS[block.kind].join(", ")}.`);
    }
    validate(child, level + 1);
  }
}

/** `BottleneckState`: the running hidden states, the block residual, the adapter residual, the last adapter applied. */
interface State {
  hidden: Tensor;
  inputTensor: Tensor;
  adapterResidual: Tensor;
  last: string | null;
}

type Adapters = ReadonlyMap<string, BottleneckAdapter>;

function firstHeld(setup: AdapterSetup, adapters: Adapters): string | null {
  if (typeof setup === "string") return adapters.has(setup) ? setup : null;
  for (const c of setup.children) {
    const f = firstHeld(c, adapters);
    if (f !== null) return f;
  }
  return null;
}

/** `BottleneckLayer.pre_block`: the first adapter of the setup prepares the state. */
function preBlock(setup: AdapterSetup, state: State, adapters: Adapters, layerNorm: NormModule | null): State {
  const first = firstHeld(setup, adapters);
  if (first === null) return state;
  const { hidden, residual } = adapters.get(first)!.preForward(state.hidden, state.inputTensor, layerNorm);
  return { ...state, hidden, adapterResidual: residual };
}

function single(name: string, state: State, adapters: Adapters): State {
  const { output } = adapters.get(name)!.forward(state.hidden, state.adapterResidual);
  return { ...state, hidden: output, last: name };
}

function sliceRows(state: State, begin: number, size: number): State {
  const rows = (t: Tensor): Tensor => tf.slice(t, [begin], [size]);
  return { hidden: rows(state.hidden), inputTensor: rows(state.inputTensor), adapterResidual: rows(state.adapterResidual), last: state.last };
}

function compose(block: Stack | Average | BatchSplit, state: State, adapters: Adapters, layerNorm: NormModule | null): State {
  switch (block.kind) {
    case "stack":
      for (const child of block.children) {
        if (typeof child !== "string") state = compose(child, state, adapters, layerNorm);
        else if (adapters.has(child)) state = single(child, preBlock(child, state, adapters, layerNorm), adapters);
      }
      return state;
    case "average": {
      state = preBlock(block, state, adapters, layerNorm);
      const outs: State[] = [];
      const weights: number[] = [];
      block.children.forEach((child, i) => {
        if (typeof child !== "string") outs.push(compose(child, state, adapters, layerNorm));
        else if (adapters.has(child)) outs.push(single(child, state, adapters));
        else return;
        weights.push(block.weights[i]!);
      });
      if (outs.length === 0) return state;
      if (outs.length !== block.children.length) {
        // AdapterHub multiplies N weights with fewer states and fails; refuse with the reason.
        throw new Error(`Average: this layer holds only ${outs.length} of the ${block.children.length} averaged adapters (leaveOut differs between them); average adapters placed in the same layers.`);
      }
      // torch.mean(torch.stack(h) * w, dim=0): Σ wᵢ·hᵢ / N.
      let sum = tf.mul(outs[0]!.hidden, weights[0]!);
      for (let i = 1; i < outs.length; i++) sum = tf.add(sum, tf.mul(outs[i]!.hidden, weights[i]!));
      return { ...outs[0]!, hidden: tf.div(sum, outs.length), last: outs[outs.length - 1]!.last };
    }
    case "batch_split": {
      const batch = state.hidden.shape[0];
      const total = block.batchSizes.reduce((a, b) => a + b, 0);
      if (total !== batch) throw new Error(`BatchSplit: the batch has ${batch} rows but batchSizes [${block.batchSizes.join(", ")}] sum to ${total}.`);
      state = preBlock(block, state, adapters, layerNorm);
      const parts: State[] = [];
      let begin = 0;
      block.children.forEach((child, i) => {
        const size = block.batchSizes[i]!;
        const part = sliceRows(state, begin, size);
        begin += size;
        if (typeof child !== "string") parts.push(compose(child, part, adapters, layerNorm));
        else if (adapters.has(child)) parts.push(single(child, part, adapters));
        else parts.push(part);
      });
      const cat = (f: (s: State) => Tensor): Tensor => tf.concat(parts.map(f), 0);
      const last = [...parts].reverse().find((p) => p.last !== null)?.last ?? null;
      return { hidden: cat((s) => s.hidden), inputTensor: cat((s) => s.inputTensor), adapterResidual: cat((s) => s.adapterResidual), last };
    }
    default: {
      const never: never = block;
      throw new Error(`Unknown composition block ${String(never)}.`);
    }
  }
}

/**
 * `BottleneckLayer.bottleneck_layer_forward`: the block output at one location for sublayer output `hidden`,
 * block residual `residualInput` and the block's norm there. With no adapter of `setup` held here, the base
 * computation: `layerNorm(hidden + residual)` or `hidden + residual`.
 */
export function bottleneckLayerForward(
  hidden: Tensor,
  residualInput: Tensor,
  layerNorm: NormModule | null,
  setup: Stack | Average | BatchSplit | null,
  adapters: Adapters,
): Tensor {
  const held = setup === null ? [] : [...setup.flatten()].filter((n) => adapters.has(n));
  if (setup === null || held.length === 0) {
    const sum = tf.add(hidden, residualInput);
    return layerNorm === null ? sum : layerNorm.forward(sum);
  }
  const state = compose(setup, { hidden, inputTensor: residualInput, adapterResidual: residualInput, last: null }, adapters, layerNorm);
  const last = adapters.get(state.last ?? held[held.length - 1]!)!;
  return last.postForward(state.hidden, hidden, state.inputTensor, layerNorm);
}

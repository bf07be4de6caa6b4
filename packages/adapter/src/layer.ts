/**
 * The bottleneck tuner layer: AdapterHub's `BottleneckLayer` (adapters `methods/bottleneck.py`) as one of
 * core's tuner layers. It takes the place of a residual connection (`ResidualConnection` in @peftjs/models,
 * `forward(sublayerOutput, residual, layerNorm)`), keeps it at `base_layer`, and holds every adapter of the
 * method at that location under `bottleneck_adapters.<name>` (each a `BottleneckAdapter`). Forward is
 * AdapterHub's `bottleneck_layer_forward` over the active composition (see `composition.ts`).
 *
 * Bottleneck adapters cannot be merged into the base weights: `up(f(down(x)))` has a non-linearity f between
 * the two projections, so no change of a weight matrix reproduces it.
 */
import { tf, BaseTunerLayer, BASE_ADAPTER_NAME, Module } from "@peftjs/core";
import type { MergePlan, Tensor } from "@peftjs/core";
import { BottleneckAdapter } from "./bottleneck.js";
import type { BottleneckSettings, NormModule, SeedSource } from "./bottleneck.js";
import { Stack, bottleneckLayerForward, parseComposition } from "./composition.js";
import type { Average, BatchSplit } from "./composition.js";

export const BOTTLENECK_METHOD_NAME = "bottleneck";
/** The per-location adapter container; also the method's parameter-name prefix. */
export const BOTTLENECK_CONTAINER = "bottleneck_adapters";

/** Why `merge` is refused, in the words of the error. */
export const CANNOT_MERGE_REASON =
  "bottleneck adapters compute up(f(down(x))) with a non-linearity f between the two projections (and add it around the block's residual and norm), " +
  "so no change of the base weights reproduces them; they stay separate modules (cost: two small matmuls per location)";

/** One adapter at one location: its size and settings, and where its random initialisation comes from. */
export interface BottleneckLayerSettings {
  inputSize: number;
  downSample: number;
  settings: BottleneckSettings;
  seeds: SeedSource;
}

/** A residual-connection module's forward. */
interface ResidualForward {
  forward(sublayerOutput: Tensor, residual: Tensor, layerNorm: NormModule | null): Tensor;
}

/** torch `ModuleDict`: adapter modules by name. */
class AdapterDict extends Module {}

export class BottleneckLayer extends BaseTunerLayer<BottleneckLayerSettings> {
  readonly methodName = BOTTLENECK_METHOD_NAME;
  private readonly dict: AdapterDict;
  /** An explicit composition (Average, BatchSplit, …); null means Stack(active adapters), AdapterHub's list semantics. */
  private composition: Stack | Average | BatchSplit | null = null;
  private rowNames: readonly string[] | null = null;

  constructor(baseLayer: Module) {
    super(baseLayer);
    this.dict = this.registerModule(BOTTLENECK_CONTAINER, new AdapterDict());
  }

  /** Adds (or replaces) adapter `name` at this location. */
  addAdapter(name: string, settings: BottleneckLayerSettings): void {
    this.registerAdapter(name, settings);
  }

  protected createAdapter(name: string, s: BottleneckLayerSettings): void {
    this.dict.registerModule(name, new BottleneckAdapter(s.inputSize, s.downSample, s.settings, s.seeds));
  }

  protected deleteAdapterWeights(name: string): void {
    const m = this.dict.namedChildren().find(([n]) => n === name)?.[1];
    if (m === undefined) return;
    m.dispose();
    this.dict.deleteModule(name);
  }

  /** Adapter module `name` at this location. */
  adapter(name: string): BottleneckAdapter {
    const m = this.dict.namedChildren().find(([n]) => n === name)?.[1];
    if (m === undefined) throw new Error(`Bottleneck layer has no adapter "${name}"; it holds: ${this.adapterNames().join(", ") || "(none)"}.`);
    return m as BottleneckAdapter;
  }

  private adapterMap(): Map<string, BottleneckAdapter> {
    return new Map(this.dict.namedChildren().map(([n, m]) => [n, m as BottleneckAdapter]));
  }

  /** Several active adapters are a Stack of them, in order (AdapterHub `parse_composition` of a list). */
  override setActiveAdapters(names: readonly string[]): void {
    super.setActiveAdapters(names);
    this.composition = null;
  }

  /** Sets an explicit composition; its adapters become the active ones. */
  setComposition(setup: Stack | Average | BatchSplit): void {
    const block = parseComposition(setup);
    super.setActiveAdapters([...block.flatten()]);
    this.composition = block;
  }

  /** The composition forward runs: the explicit one, or Stack(active adapters); null when none is active. */
  activeComposition(): Stack | Average | BatchSplit | null {
    if (this.composition !== null) return this.composition;
    const active = this.activeAdapters();
    return active.length === 0 ? null : new Stack(...active);
  }

  override setRowAdapters(names: readonly string[] | null): void {
    super.setRowAdapters(names);
    this.rowNames = names === null ? null : [...names];
  }

  protected adapterDelta(): Tensor {
    throw new Error("BottleneckLayer: adapters act on (sublayer output, residual, norm) together; call forward(sublayerOutput, residual, layerNorm).");
  }

  protected override mergePlan(): MergePlan {
    throw new Error(`Bottleneck adapters cannot be merged into the base weights: ${CANNOT_MERGE_REASON}.`);
  }

  protected override unmergePlan(): MergePlan {
    throw new Error(`Bottleneck adapters are never merged, so there is nothing to unmerge.`);
  }

  /**
   * `BottleneckLayer.bottleneck_layer_forward(hidden_states, residual_input, layer_norm)`. Disabled or with no
   * active adapter held here: the residual connection it replaced. A mixed batch (`setRowAdapters`) runs each
   * row through its own adapter alone (`"__base__"` rows through none).
   */
  override forward(sublayerOutput: Tensor, residual?: Tensor, layerNorm: NormModule | null = null): Tensor {
    if (residual === undefined) {
      throw new Error("BottleneckLayer.forward needs (sublayerOutput, residual, layerNorm): it replaces a residual connection, not a one-input layer.");
    }
    const base = this.baseLayer as unknown as ResidualForward;
    if (this.disabled) return base.forward(sublayerOutput, residual, layerNorm);
    return tf.tidy(() => {
      const adapters = this.adapterMap();
      if (this.rowNames !== null) return this.mixedBatch(sublayerOutput, residual, layerNorm, this.rowNames, adapters);
      const setup = this.activeComposition();
      if (setup === null || ![...setup.flatten()].some((n) => adapters.has(n))) return base.forward(sublayerOutput, residual, layerNorm);
      return bottleneckLayerForward(sublayerOutput, residual, layerNorm, setup, adapters);
    });
  }

  /** Rows grouped by adapter name, each group run as Stack(name) (or the base), then put back in row order. */
  private mixedBatch(h: Tensor, residual: Tensor, layerNorm: NormModule | null, rows: readonly string[], adapters: Map<string, BottleneckAdapter>): Tensor {
    const batch = h.shape[0];
    if (rows.length !== batch) {
      throw new Error(`bottleneck mixed batch: ${rows.length} adapter names for a batch of ${batch} rows; pass one name per row ("${BASE_ADAPTER_NAME}" for none).`);
    }
    const base = this.baseLayer as unknown as ResidualForward;
    const order: number[] = [];
    const parts: Tensor[] = [];
    for (const name of new Set(rows)) {
      const idx = rows.flatMap((n, i) => (n === name ? [i] : []));
      const pick = (t: Tensor): Tensor => tf.gather(t, tf.tensor1d(idx, "int32"));
      const hRows = pick(h);
      const rRows = pick(residual);
      parts.push(
        name === BASE_ADAPTER_NAME || !adapters.has(name)
          ? base.forward(hRows, rRows, layerNorm)
          : bottleneckLayerForward(hRows, rRows, layerNorm, new Stack(name), adapters),
      );
      order.push(...idx);
    }
    const inverse = new Array<number>(batch);
    order.forEach((row, i) => (inverse[row] = i));
    return tf.gather(tf.concat(parts, 0), tf.tensor1d(inverse, "int32"));
  }
}

export function isBottleneckLayer(m: Module): m is BottleneckLayer {
  return m instanceof BottleneckLayer;
}

/**
 * Makes `setup` (a Stack, Average or BatchSplit of adapter names) the active composition of every bottleneck
 * layer in `model`. On a PeftModel its adapters are made active first (`setAdapter`), so they are the ones that
 * train; a later `setAdapter` returns to Stack(active adapters).
 */
export function setAdapterComposition(model: Module & { setAdapter?(names: readonly string[]): void }, setup: Stack | Average | BatchSplit): void {
  const block = parseComposition(setup);
  model.setAdapter?.([...block.flatten()]);
  for (const [, m] of model.namedModules()) if (m instanceof BottleneckLayer) m.setComposition(block);
}

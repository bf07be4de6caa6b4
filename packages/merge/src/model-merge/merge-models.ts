/**
 * Model merging in the mergekit style, tensor by tensor, streamed from and to safetensors.
 *
 * Each output tensor is computed from the same tensor of every input and written before the next is read.
 * Tensors up to `chunkElements` (default 4M entries) are merged whole with this package's functions; larger
 * ones (embeddings, big MLP matrices) are read, merged and written in row blocks, with the statistics the
 * method needs over the whole tensor gathered in a first pass (TIES' magnitude threshold per model, DARE's
 * L1 norms, SLERP's and Model Stock's dot products) so that the result is the whole-tensor one. Methods
 * without a blockwise form (karcher, sce, della*, breadcrumbs*, nuslerp row-wise) read large tensors whole.
 */
import { readFile, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { tf } from "@peftjs/core";
import type { Tensor } from "@peftjs/core";
import { bernoulliMask } from "../functions/sparsify.js";
import { generalizedTaskArithmetic, seedFor, sce } from "../functions/task-arithmetic.js";
import type { GeneralizedTaskArithmeticOptions, MajoritySignMethod, Sparsification } from "../functions/task-arithmetic.js";
import { karcherMean, modelStock, nuslerp, slerp } from "../functions/interpolation.js";
import { openSource, rowsOf } from "./checkpoint.js";
import type { TensorSource } from "./checkpoint.js";
import { MergeConfigError, evaluateSetting, layerPosition, parseMergeConfig } from "./config.js";
import type { MergeConfig, Setting } from "./config.js";
import { writeShardedFolder } from "./writer.js";
import type { OutDtype, PlannedTensor } from "./writer.js";

export interface MergeProgress {
  index: number;
  total: number;
  name: string;
  shape: readonly number[];
  seconds: number;
  blockwise: boolean;
}

export interface MergeModelsOptions {
  /** Data bytes per output shard (default 2 GB, under which a GPT-2-small merge is one file). */
  maxShardBytes?: number;
  /** Tensors with more entries are merged in row blocks (default 4,194,304). */
  chunkElements?: number;
  /** Seed of the random sparsifications (DARE, DELLA). Default 0. */
  seed?: number;
  /** Called after each tensor is written. */
  onProgress?: (p: MergeProgress) => void;
  /** Relative model paths resolve against this folder (default: the config file's folder, or the cwd). */
  root?: string;
}

const GTA: Record<string, { consensus: MajoritySignMethod | null; sparsification: Sparsification | null; normalize: boolean; rescale: boolean }> = {
  task_arithmetic: { consensus: null, sparsification: null, normalize: false, rescale: false },
  ties: { consensus: "total", sparsification: "magnitude", normalize: true, rescale: false },
  dare_ties: { consensus: "total", sparsification: "random", normalize: false, rescale: true },
  dare_linear: { consensus: null, sparsification: "random", normalize: false, rescale: true },
  breadcrumbs: { consensus: null, sparsification: "magnitude_outliers", normalize: false, rescale: false },
  breadcrumbs_ties: { consensus: "total", sparsification: "magnitude_outliers", normalize: false, rescale: false },
  della: { consensus: "total", sparsification: "della_magprune", normalize: true, rescale: true },
  della_linear: { consensus: null, sparsification: "della_magprune", normalize: false, rescale: true },
};

interface Input {
  ref: string;
  source: TensorSource;
  parameters: Record<string, Setting>;
}

function numLayers(config: Record<string, unknown>): number {
  for (const k of ["num_hidden_layers", "n_layer", "num_layers"]) if (typeof config[k] === "number") return config[k];
  return 0;
}

/** Reads a YAML config file and merges: `peftjs-merge config.yaml OUT`. */
export async function mergeFromConfigFile(configPath: string, outDir: string, options: MergeModelsOptions = {}): Promise<void> {
  const text = await readFile(configPath, "utf8");
  await mergeModels(parseMergeConfig(text, configPath), outDir, { root: dirname(configPath), ...options });
}

export async function mergeModels(config: MergeConfig, outDir: string, options: MergeModelsOptions = {}): Promise<void> {
  const root = options.root ?? process.cwd();
  const chunkElements = options.chunkElements ?? 4 * 1024 * 1024;
  const seed = options.seed ?? 0;
  const method = config.mergeMethod;
  const opened: TensorSource[] = [];
  const openRef = async (ref: string): Promise<TensorSource> => {
    const s = await openSource(ref, root);
    opened.push(s);
    return s;
  };
  try {
    const base = config.baseModel === null ? null : await openRef(config.baseModel);
    const inputs: Input[] = [];
    for (const m of config.models) {
      if (base !== null && m.model === config.baseModel) {
        if (Object.keys(m.parameters).length > 0 && method !== "linear" && method !== "karcher") continue;
        inputs.push({ ref: m.model, source: base, parameters: m.parameters });
        continue;
      }
      inputs.push({ ref: m.model, source: await openRef(m.model), parameters: m.parameters });
    }
    const others = inputs.filter((i) => i.source !== base);
    checkMethodInputs(method, base, inputs, others);

    // Architecture and tensors: every input has the reference's tensors with the same shapes.
    const reference = base ?? inputs[0]!.source;
    const archOf = (s: TensorSource): string => JSON.stringify((s.config.architectures) ?? s.config.model_type ?? null);
    for (const i of inputs) {
      if (archOf(i.source) !== archOf(reference)) {
        throw new MergeConfigError(`model "${i.ref}" is architecture ${archOf(i.source)} but "${base !== null ? config.baseModel : inputs[0]!.ref}" is ${archOf(reference)}; only checkpoints of one architecture merge.`);
      }
    }
    const names = reference.tensorNames();
    for (const i of inputs) {
      const own = new Set(i.source.tensorNames());
      for (const n of names) {
        const a = reference.meta(n)!;
        const b = i.source.meta(n);
        if (b === undefined) throw new MergeConfigError(`model "${i.ref}" has no tensor "${n}" (the ${base !== null ? "base model" : "first model"} has it); the checkpoints are not of one architecture.`);
        if (a.shape.length !== b.shape.length || a.shape.some((d, j) => d !== b.shape[j])) {
          throw new MergeConfigError(`tensor "${n}": shape [${b.shape.join(", ")}] in "${i.ref}" but [${a.shape.join(", ")}] in "${base !== null ? config.baseModel : inputs[0]!.ref}"; the checkpoints are not fine-tunes of one base.`);
        }
        own.delete(n);
      }
      if (own.size > 0) throw new MergeConfigError(`model "${i.ref}" has tensor "${[...own][0]}", which the ${base !== null ? "base model" : "first model"} lacks; the checkpoints are not of one architecture.`);
    }

    const layers = numLayers(reference.config);
    const outDtypeOf = (n: string): OutDtype => {
      const d = config.outDtype ?? config.dtype;
      if (d !== null) return d;
      const src = reference.meta(n)!.dtype;
      return src === "F16" ? "float16" : src === "BF16" ? "bfloat16" : "float32";
    };
    const planned: PlannedTensor[] = names.map((n) => ({ name: n, shape: reference.meta(n)!.shape, dtype: outDtypeOf(n) }));
    const extra = await extraFiles(reference, root, config);
    let index = 0;
    await writeShardedFolder(outDir, planned, options.maxShardBytes ?? 2e9, async (t, write) => {
      const started = performance.now();
      const tPos = layerPosition(t.name, layers);
      const param = (name: string, input: Input | null, fallback?: number | boolean): number | boolean | undefined => {
        const own = input?.parameters[name];
        const v = own !== undefined ? evaluateSetting(t.name, own, tPos) : null;
        if (v !== null) return v as number | boolean;
        const g = config.parameters[name];
        const gv = g !== undefined ? evaluateSetting(t.name, g, tPos) : null;
        if (gv !== null) return gv as number | boolean;
        return fallback;
      };
      const blockwise = await mergeOne({ method, tensor: t, base, inputs, others, param, chunkElements, seed: seedFor(seed, index), write });
      index++;
      options.onProgress?.({ index, total: planned.length, name: t.name, shape: t.shape, seconds: (performance.now() - started) / 1000, blockwise });
    }, extra);
  } finally {
    for (const s of opened) await s.close();
  }
}

function checkMethodInputs(method: string, base: TensorSource | null, inputs: Input[], others: Input[]): void {
  const needBase = method in GTA || method === "slerp" || method === "model_stock" || method === "sce";
  if (needBase && base === null) throw new MergeConfigError(`merge_method ${method} needs base_model (the models' common ancestor).`);
  if (method === "slerp" && (others.length !== 1)) throw new MergeConfigError(`merge_method slerp merges exactly two models: base_model and one other (got ${others.length} besides the base).`);
  if (method === "nuslerp" && others.length !== 2) throw new MergeConfigError(`merge_method nuslerp merges exactly two models (plus an optional base_model); got ${others.length}.`);
  if (method === "model_stock" && others.length < 2) throw new MergeConfigError(`merge_method model_stock needs at least two models besides base_model; got ${others.length}.`);
  if (method === "passthrough" && inputs.length !== 1) throw new MergeConfigError(`merge_method passthrough copies exactly one model; got ${inputs.length}.`);
  if (inputs.length === 0) throw new MergeConfigError("no models to merge.");
}

async function extraFiles(reference: TensorSource, root: string, config: MergeConfig): Promise<Record<string, string | Uint8Array>> {
  const out: Record<string, string | Uint8Array> = {};
  const cfg = { ...reference.config };
  const d = config.outDtype ?? config.dtype;
  if (d !== null) {
    cfg.torch_dtype = d;
    if ("dtype" in cfg) cfg.dtype = d;
  }
  out["config.json"] = JSON.stringify(cfg, null, 2) + "\n";
  const refPath = config.baseModel ?? config.models[0]!.model;
  const dir = join(root, refPath.split("+")[0]!);
  for (const f of ["generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt", "tokenizer.model"]) {
    const p = join(dir, f);
    if (await stat(p).then((s) => s.isFile(), () => false)) out[f] = await readFile(p);
  }
  return out;
}

interface MergeOne {
  method: string;
  tensor: PlannedTensor;
  base: TensorSource | null;
  inputs: Input[];
  others: Input[];
  param: (name: string, input: Input | null, fallback?: number | boolean) => number | boolean | undefined;
  chunkElements: number;
  seed: number;
  write: (chunk: Float32Array) => Promise<void>;
}

function required(v: number | boolean | undefined, what: string, tensor: string): number {
  if (typeof v !== "number" || !Number.isFinite(v)) throw new MergeConfigError(`tensor "${tensor}": parameter ${what} is missing or not a number.`);
  return v;
}

/** Merges one tensor, writing its values in row order. Returns whether it went block by block. */
async function mergeOne(job: MergeOne): Promise<boolean> {
  const { method, tensor, base, inputs, others, param } = job;
  const { rows, cols } = rowsOf(tensor.shape);
  const size = rows * cols;
  const name = tensor.name;
  const rowsPerBlock = Math.max(1, Math.floor(job.chunkElements / Math.max(cols, 1)));
  const whole = size <= job.chunkElements;
  const blocks: [number, number][] = [];
  for (let r = 0; r < rows; r += whole ? rows : rowsPerBlock) blocks.push([r, Math.min(rows, r + (whole ? rows : rowsPerBlock))]);
  if (blocks.length === 0) blocks.push([0, rows]);
  const read = async (s: TensorSource, r0: number, r1: number): Promise<Tensor> => {
    const blockShape = tensor.shape.length === 0 ? [] : [r1 - r0, ...tensor.shape.slice(1)];
    return tf.tensor(await s.readRows(name, r0, r1), blockShape, "float32");
  };
  const emit = async (t: Tensor): Promise<void> => {
    const data = (await t.data()) as Float32Array;
    t.dispose();
    await job.write(data);
  };
  const readWhole = async (s: TensorSource): Promise<Tensor> => read(s, 0, rows);

  if (method === "passthrough") {
    for (const [r0, r1] of blocks) await emit(await read(inputs[0]!.source, r0, r1));
    return !whole;
  }

  if (method === "linear") {
    const weights = inputs.map((i) => required(param("weight", i), `weight of "${i.ref}"`, name));
    const normalize = param("normalize", null, true) !== false;
    const sum = weights.reduce((a, b) => a + b, 0);
    for (const [r0, r1] of blocks) {
      const xs = await Promise.all(inputs.map((i) => read(i.source, r0, r1)));
      const out = tf.tidy(() => {
        const acc = tf.addN(xs.map((x, k) => tf.mul(x, weights[k]!)));
        return normalize ? tf.div(acc, sum) : acc;
      });
      xs.forEach((x) => x.dispose());
      await emit(out);
    }
    return !whole;
  }

  if (method in GTA) {
    const spec = GTA[method]!;
    const models = others.map((i) => ({
      input: i,
      weight: required(param("weight", i), `weight of "${i.ref}"`, name),
      density: (param("density", i, 1) as number) ?? 1,
      gamma: param("gamma", i, 0.01) as number,
      epsilon: param("epsilon", i, 0.15) as number,
    }));
    const options: GeneralizedTaskArithmeticOptions = {
      sparsification: spec.sparsification,
      consensus: spec.consensus,
      normalize: param("normalize", null, spec.normalize) !== false,
      rescale: param("rescale", null, spec.rescale) !== false,
      lambda: param("lambda", null, 1) as number,
      seed: job.seed,
    };
    const needsSparsify = spec.sparsification !== null && models.some((m) => m.density < 1);
    if (whole || !needsSparsify) {
      // Whole tensor (exact mergekit semantics), or blocks when no sparsification applies (elementwise).
      for (const [r0, r1] of blocks) {
        const b = await read(base!, r0, r1);
        const deltas = await Promise.all(models.map(async (m) => {
          const x = await read(m.input.source, r0, r1);
          const d = tf.sub(x, b);
          x.dispose();
          return d;
        }));
        const out = tf.tidy(() => tf.add(b, generalizedTaskArithmetic(models.map((m, k) => ({ delta: deltas[k]!, weight: m.weight, density: m.density, gamma: m.gamma, epsilon: m.epsilon })), needsSparsify ? options : { ...options, sparsification: null })));
        b.dispose();
        deltas.forEach((d) => d.dispose());
        await emit(out);
      }
      return !whole;
    }
    if (spec.sparsification === "magnitude" || spec.sparsification === "random") {
      await sparsifiedBlocks(job, models, options, blocks, read, emit);
      return true;
    }
    // no blockwise form: whole tensor
    const b = await readWhole(base!);
    const deltas = await Promise.all(models.map((m) => deltaWhole(m.input.source, b)));
    const out = tf.tidy(() => tf.add(b, generalizedTaskArithmetic(models.map((m, k) => ({ delta: deltas[k]!, weight: m.weight, density: m.density, gamma: m.gamma, epsilon: m.epsilon })), options)));
    b.dispose();
    deltas.forEach((d) => d.dispose());
    await emit(out);
    return false;

    async function deltaWhole(s: TensorSource, bt: Tensor): Promise<Tensor> {
      const x = await readWhole(s);
      const d = tf.sub(x, bt);
      x.dispose();
      return d;
    }
  }

  if (method === "slerp") {
    const t = required(param("t", others[0]!), "t", name);
    if (whole) {
      const [a, b] = [await readWhole(base!), await readWhole(others[0]!.source)];
      const out = slerp(t, a, b);
      a.dispose();
      b.dispose();
      await emit(out);
      return false;
    }
    // pass 1: ‖v0‖², ‖v1‖², v0·v1; pass 2: the same coefficients as `slerp` applied block by block.
    let n0 = 0;
    let n1 = 0;
    let dot = 0;
    for (const [r0, r1] of blocks) {
      const a = await base!.readRows(name, r0, r1);
      const b = await others[0]!.source.readRows(name, r0, r1);
      for (let i = 0; i < a.length; i++) {
        n0 += a[i]! * a[i]!;
        n1 += b[i]! * b[i]!;
        dot += a[i]! * b[i]!;
      }
    }
    const [c0, c1] = slerpCoefficients(t, Math.sqrt(n0), Math.sqrt(n1), dot);
    for (const [r0, r1] of blocks) {
      const a = await read(base!, r0, r1);
      const b = await read(others[0]!.source, r0, r1);
      const out = tf.tidy(() => tf.add(tf.mul(a, c0), tf.mul(b, c1)));
      a.dispose();
      b.dispose();
      await emit(out);
    }
    return true;
  }

  if (method === "model_stock") {
    const filterWise = param("filter_wise", null, false) === true;
    if (whole || filterWise) {
      for (const [r0, r1] of blocks) {
        const w0 = await read(base!, r0, r1);
        const ws = await Promise.all(others.map((o) => read(o.source, r0, r1)));
        const out = modelStock(w0, ws, { filterWise });
        w0.dispose();
        ws.forEach((w) => w.dispose());
        await emit(out);
      }
      return !whole;
    }
    // pass 1: Gram matrix of the offsets δᵢ = wᵢ − w₀ (float64 sums over blocks)
    const n = others.length;
    const gram = new Float64Array(n * n);
    for (const [r0, r1] of blocks) {
      const w0 = await base!.readRows(name, r0, r1);
      const ws = await Promise.all(others.map((o) => o.source.readRows(name, r0, r1)));
      for (let i = 0; i < n; i++) {
        for (let j = i; j < n; j++) {
          let acc = 0;
          const wi = ws[i]!;
          const wj = ws[j]!;
          for (let k = 0; k < w0.length; k++) acc += (wi[k]! - w0[k]!) * (wj[k]! - w0[k]!);
          gram[i * n + j]! += acc;
        }
      }
    }
    let cosSum = 0;
    let pairs = 0;
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        const denom = Math.max(Math.sqrt(gram[i * n + i]!) * Math.sqrt(gram[j * n + j]!), 1e-6);
        cosSum += Math.min(1, Math.max(-1, gram[i * n + j]! / denom));
        pairs++;
      }
    }
    const cos = cosSum / pairs;
    const tt = (n * cos) / (1 + (n - 1) * cos);
    for (const [r0, r1] of blocks) {
      const w0 = await read(base!, r0, r1);
      const ws = await Promise.all(others.map((o) => read(o.source, r0, r1)));
      const out = tf.tidy(() => tf.add(tf.mul(tf.div(tf.addN(ws), n), tt), tf.mul(w0, 1 - tt)));
      w0.dispose();
      ws.forEach((w) => w.dispose());
      await emit(out);
    }
    return true;
  }

  // Whole-tensor methods.
  if (method === "nuslerp") {
    const w = others.map((o) => required(param("weight", o), `weight of "${o.ref}"`, name));
    const total = w[0]! + w[1]!;
    const t = Math.abs(total) < 1e-6 ? 0.5 : w[1]! / total;
    const opts = { rowWise: param("nuslerp_row_wise", null, false) === true, flatten: param("nuslerp_flatten", null, true) !== false };
    const [a, b] = [await readWhole(others[0]!.source), await readWhole(others[1]!.source)];
    let out: Tensor;
    if (base !== null) {
      const bt = await readWhole(base);
      out = tf.tidy(() => tf.add(bt, nuslerp(t, tf.sub(a, bt), tf.sub(b, bt), opts)));
      bt.dispose();
    } else out = nuslerp(t, a, b, opts);
    a.dispose();
    b.dispose();
    await emit(out);
    return false;
  }
  if (method === "karcher") {
    const xs = await Promise.all(inputs.map((i) => readWhole(i.source)));
    const out = karcherMean(xs, undefined, { maxIter: param("max_iter", null, 10) as number, tol: param("tol", null, 1e-5) as number });
    xs.forEach((x) => x.dispose());
    await emit(out);
    return false;
  }
  if (method === "sce") {
    const b = await readWhole(base!);
    const xs = await Promise.all(others.map((o) => readWhole(o.source)));
    const out = tf.tidy(() => tf.add(b, sce(xs.map((x) => tf.sub(x, b)), param("select_topk", null, 1) as number)));
    b.dispose();
    xs.forEach((x) => x.dispose());
    await emit(out);
    return false;
  }
  throw new MergeConfigError(`merge_method ${method} is not implemented for tensor "${name}".`);
}

/** The scalar coefficients (c0, c1) with slerp(t, v0, v1) = c0·v0 + c1·v1 (see `slerp`; mergekit's eps 1e-8, threshold 0.9995). */
export function slerpCoefficients(t: number, norm0: number, norm1: number, rawDot: number): [number, number] {
  const eps = 1e-8;
  const dot = rawDot / ((norm0 > eps ? norm0 : 1) * (norm1 > eps ? norm1 : 1));
  if (Math.abs(dot) > 0.9995) return [1 - t, t];
  const theta = Math.acos(Math.min(1, Math.max(-1, dot)));
  const s = Math.sin(theta);
  return [Math.sin((1 - t) * theta) / s, Math.sin(t * theta) / s];
}

/** TIES' magnitude trim and DARE's drop, block by block, with the whole-tensor threshold / L1 norms from a first pass. */
async function sparsifiedBlocks(
  job: MergeOne,
  models: { input: Input; weight: number; density: number }[],
  options: GeneralizedTaskArithmeticOptions,
  blocks: [number, number][],
  read: (s: TensorSource, r0: number, r1: number) => Promise<Tensor>,
  emit: (t: Tensor) => Promise<void>,
): Promise<void> {
  const { base, tensor } = job;
  const name = tensor.name;
  const size = tensor.shape.reduce((a, b) => a * b, 1);
  const magnitude = options.sparsification === "magnitude";
  // per model: magnitude → threshold and how many entries equal to it are kept; random → L1 factor
  const thresholds: { thr: number; equalKeep: number }[] = [];
  const factors: number[] = [];
  const maskSeed = (m: number, block: number): number => seedFor(seedFor(options.seed ?? 0, m), block);
  for (let m = 0; m < models.length; m++) {
    const d = models[m]!.density;
    if (magnitude) {
      if (d >= 1) {
        thresholds.push({ thr: -1, equalKeep: 0 });
        continue;
      }
      const abs = new Float32Array(size);
      let o = 0;
      for (const [r0, r1] of blocks) {
        const b = await base!.readRows(name, r0, r1);
        const x = await models[m]!.input.source.readRows(name, r0, r1);
        for (let i = 0; i < b.length; i++) abs[o++] = Math.abs(x[i]! - b[i]!);
      }
      const k = Math.floor(d * size);
      if (k <= 0) {
        thresholds.push({ thr: Infinity, equalKeep: 0 });
        continue;
      }
      const thr = kthLargest(abs, k);
      let greater = 0;
      for (let i = 0; i < size; i++) if (abs[i]! > thr) greater++;
      thresholds.push({ thr, equalKeep: k - greater });
    } else {
      let before = 0;
      let after = 0;
      for (let bi = 0; bi < blocks.length; bi++) {
        const [r0, r1] = blocks[bi]!;
        const b = await base!.readRows(name, r0, r1);
        const x = await models[m]!.input.source.readRows(name, r0, r1);
        const mask = bernoulliMask([b.length], d, maskSeed(m, bi));
        const mv = mask.dataSync();
        mask.dispose();
        for (let i = 0; i < b.length; i++) {
          const v = Math.abs(x[i]! - b[i]!);
          before += v;
          after += v * mv[i]!;
        }
      }
      // mergekit rescaled_masked_tensor: no rescale when either norm < 1e-7
      factors.push(!options.rescale || d >= 1 || before < 1e-7 || after < 1e-7 ? 1 : before / after);
    }
  }
  const equalLeft = thresholds.map((t) => t.equalKeep);
  for (let bi = 0; bi < blocks.length; bi++) {
    const [r0, r1] = blocks[bi]!;
    const b = await read(base!, r0, r1);
    const bv = (await b.data()) as Float32Array;
    const deltas: Tensor[] = [];
    for (let m = 0; m < models.length; m++) {
      const xv = await models[m]!.input.source.readRows(name, r0, r1);
      for (let i = 0; i < xv.length; i++) xv[i] = xv[i]! - bv[i]!;
      const d = models[m]!.density;
      if (magnitude && d < 1) {
        const { thr } = thresholds[m]!;
        for (let i = 0; i < xv.length; i++) {
          const a = Math.abs(xv[i]!);
          if (a > thr) continue;
          if (a === thr && equalLeft[m]! > 0) {
            equalLeft[m]!--;
            continue;
          }
          xv[i] = 0;
        }
      } else if (!magnitude && d < 1) {
        const mask = bernoulliMask([xv.length], d, maskSeed(m, bi));
        const mv = mask.dataSync();
        mask.dispose();
        const f = factors[m]!;
        for (let i = 0; i < xv.length; i++) xv[i] = xv[i]! * mv[i]! * f;
      }
      deltas.push(tf.tensor(xv, b.shape, "float32"));
    }
    const out = tf.tidy(() => tf.add(b, generalizedTaskArithmetic(models.map((m, k) => ({ delta: deltas[k]!, weight: m.weight })), { ...options, sparsification: null })));
    b.dispose();
    deltas.forEach((d) => d.dispose());
    await emit(out);
  }
}

/** The k-th largest value (k ≥ 1) of `values`, which is reordered (Hoare quickselect, O(n) expected). */
function kthLargest(values: Float32Array, k: number): number {
  let lo = 0;
  let hi = values.length - 1;
  const target = k - 1; // index in descending order
  let state = 12345;
  while (lo < hi) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    const pivot = values[lo + (state % (hi - lo + 1))]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (values[i]! > pivot) i++;
      while (values[j]! < pivot) j--;
      if (i <= j) {
        const tmp = values[i]!;
        values[i] = values[j]!;
        values[j] = tmp;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return values[target]!;
  }
  return values[target]!;
}

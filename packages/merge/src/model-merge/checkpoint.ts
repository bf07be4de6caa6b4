/**
 * Checkpoints read tensor by tensor, and row range by row range, straight from their safetensors files: an
 * HF folder (`model.safetensors`, or shards listed in `model.safetensors.index.json`), optionally with a PEFT
 * LoRA adapter merged in on the fly (mergekit's `base+adapter` syntax): W + s·BA, computed for the rows read.
 * Nothing but the requested rows is ever in memory.
 */
import { open, readFile, stat } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { bfloat16BitsToFloat32, float16BitsToFloat32, getPatternValue, readSafetensors, readSafetensorsHeader, tf } from "@peftjs/core";
import type { SafetensorsTensorInfo, Tensor } from "@peftjs/core";

export class CheckpointError extends Error {
  override name = "CheckpointError";
}

export interface TensorMeta {
  shape: readonly number[];
  dtype: string;
}

/** What the merge engine needs from a model. */
export interface TensorSource {
  readonly label: string;
  readonly config: Record<string, unknown>;
  tensorNames(): string[];
  meta(name: string): TensorMeta | undefined;
  /** Rows [r0, r1) of the tensor viewed as `[shape[0], rest]` (a scalar or vector: the whole), as float32. */
  readRows(name: string, r0: number, r1: number): Promise<Float32Array>;
  close(): Promise<void>;
}

const ITEM: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };

interface Located {
  file: string;
  dataStart: number;
  info: SafetensorsTensorInfo;
}

/** rows of a shape seen as 2-D `[rows, cols]`. */
export function rowsOf(shape: readonly number[]): { rows: number; cols: number } {
  if (shape.length === 0) return { rows: 1, cols: 1 };
  const rows = shape[0]!;
  const cols = shape.slice(1).reduce((a, b) => a * b, 1);
  return { rows, cols };
}

/** An HF model folder read lazily. */
export class HfCheckpoint implements TensorSource {
  private readonly handles = new Map<string, FileHandle>();

  private constructor(
    readonly label: string,
    readonly dir: string,
    readonly config: Record<string, unknown>,
    private readonly located: Map<string, Located>,
  ) {}

  static async open(dir: string, label = dir): Promise<HfCheckpoint> {
    const exists = async (p: string): Promise<boolean> => stat(p).then(() => true, () => false);
    if (!(await exists(dir))) throw new CheckpointError(`model "${label}": folder ${dir} does not exist (mergekit-style configs name local HF folders here; nothing is downloaded).`);
    let config: Record<string, unknown> = {};
    if (await exists(join(dir, "config.json"))) config = JSON.parse(await readFile(join(dir, "config.json"), "utf8")) as Record<string, unknown>;
    const files: string[] = [];
    const index = join(dir, "model.safetensors.index.json");
    if (await exists(index)) {
      const parsed = JSON.parse(await readFile(index, "utf8")) as { weight_map?: Record<string, string> };
      if (parsed.weight_map === undefined || typeof parsed.weight_map !== "object") throw new CheckpointError(`${index} has no "weight_map".`);
      for (const f of new Set(Object.values(parsed.weight_map))) {
        if (typeof f !== "string" || f.includes("/") || f.includes("\\") || f.startsWith(".")) throw new CheckpointError(`${index} names shard ${JSON.stringify(f)}, which is not a file name in the folder.`);
        files.push(f);
      }
    } else if (await exists(join(dir, "model.safetensors"))) {
      files.push("model.safetensors");
    } else {
      throw new CheckpointError(`model "${label}": ${dir} has neither model.safetensors nor model.safetensors.index.json (only safetensors checkpoints are read).`);
    }
    const located = new Map<string, Located>();
    for (const f of files) {
      const path = join(dir, f);
      const header = await readSafetensorsHeader(path);
      for (const [name, info] of header.tensors) {
        if (located.has(name)) throw new CheckpointError(`model "${label}": tensor "${name}" is in two shards (${located.get(name)!.file} and ${path}).`);
        located.set(name, { file: path, dataStart: header.dataStart, info });
      }
    }
    return new HfCheckpoint(label, dir, config, located);
  }

  tensorNames(): string[] {
    return [...this.located.keys()];
  }

  meta(name: string): TensorMeta | undefined {
    const l = this.located.get(name);
    return l === undefined ? undefined : { shape: l.info.shape, dtype: l.info.dtype };
  }

  async readRows(name: string, r0: number, r1: number): Promise<Float32Array> {
    const l = this.located.get(name);
    if (l === undefined) throw new CheckpointError(`model "${this.label}" has no tensor "${name}".`);
    const item = ITEM[l.info.dtype];
    if (item === undefined) throw new CheckpointError(`model "${this.label}": tensor "${name}" is ${l.info.dtype}; merging reads F32, F16 and BF16 tensors.`);
    const { cols } = rowsOf(l.info.shape);
    const count = (r1 - r0) * cols;
    const bytes = new Uint8Array(count * item);
    let handle = this.handles.get(l.file);
    if (handle === undefined) {
      handle = await open(l.file, "r");
      this.handles.set(l.file, handle);
    }
    const position = l.dataStart + l.info.dataOffsets[0] + r0 * cols * item;
    let done = 0;
    while (done < bytes.length) {
      const { bytesRead } = await handle.read(bytes, done, bytes.length - done, position + done);
      if (bytesRead === 0) throw new CheckpointError(`${l.file}: file ended while reading tensor "${name}"; it is truncated.`);
      done += bytesRead;
    }
    const view = new DataView(bytes.buffer);
    const out = new Float32Array(count);
    if (l.info.dtype === "F32") for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
    else if (l.info.dtype === "F16") for (let i = 0; i < count; i++) out[i] = float16BitsToFloat32(view.getUint16(2 * i, true));
    else for (let i = 0; i < count; i++) out[i] = bfloat16BitsToFloat32(view.getUint16(2 * i, true));
    return out;
  }

  async close(): Promise<void> {
    for (const h of this.handles.values()) await h.close();
    this.handles.clear();
  }
}

interface LoraTarget {
  a: Tensor; // [r, in] (embedding: [r, vocab])
  b: Tensor; // [out, r]
  scaling: number;
  /** W is stored [in, out] (Conv1D, Embedding): rows of W are columns of B·A. */
  inOut: boolean;
}

/**
 * A base checkpoint with a PEFT LoRA adapter merged in as rows are read (mergekit `model: base+adapter`). The
 * adapter's factors (small) are held in memory. DoRA adapters are refused: their merged rows need whole-column
 * norms; merge them with `mergeAndUnload` and save first.
 */
export class LoraMergedCheckpoint implements TensorSource {
  private constructor(
    readonly label: string,
    private readonly base: TensorSource,
    private readonly targets: Map<string, LoraTarget>,
  ) {}

  get config(): Record<string, unknown> {
    return this.base.config;
  }

  static async open(base: TensorSource, adapterDir: string, label: string): Promise<LoraMergedCheckpoint> {
    const cfgPath = join(adapterDir, "adapter_config.json");
    const cfg = JSON.parse(await readFile(cfgPath, "utf8").catch(() => {
      throw new CheckpointError(`model "${label}": ${cfgPath} not found; the part after "+" must be a PEFT LoRA adapter folder.`);
    })) as Record<string, unknown>;
    if (cfg.peft_type !== "LORA") throw new CheckpointError(`model "${label}": ${cfgPath} is peft_type ${JSON.stringify(cfg.peft_type)}; only LoRA adapters merge on the fly.`);
    if (cfg.use_dora === true) throw new CheckpointError(`model "${label}": DoRA adapters are not merged on the fly (their rows need whole-column norms). Merge it with peftModel.mergeAndUnload() and save the model, then name that folder.`);
    const r = cfg.r as number;
    const alpha = cfg.lora_alpha as number;
    const rankPattern = (cfg.rank_pattern as Record<string, number> | null) ?? {};
    const alphaPattern = (cfg.alpha_pattern as Record<string, number> | null) ?? {};
    const { tensors } = await readSafetensors(join(adapterDir, "adapter_model.safetensors"));
    const targets = new Map<string, LoraTarget>();
    const prefix = "base_model.model.";
    for (const [key, a] of tensors) {
      const m = /^(.*)\.lora_(embedding_)?A(\.weight)?$/.exec(key);
      if (m === null) continue;
      const module = m[1]!.startsWith(prefix) ? m[1]!.slice(prefix.length) : m[1]!;
      const embedding = m[2] !== undefined;
      const b = tensors.get(embedding ? `${m[1]}.lora_embedding_B` : `${m[1]}.lora_B.weight`);
      if (b === undefined) throw new CheckpointError(`model "${label}": adapter has ${key} but no matching lora_B.`);
      const weightName = findWeight(base, module);
      if (weightName === null) throw new CheckpointError(`model "${label}": the adapter targets "${module}", which has no "${module}.weight" in the base checkpoint; the adapter was made for another architecture.`);
      const meta = base.meta(weightName)!;
      const rank = getPatternValue(rankPattern, module, r);
      const la = getPatternValue(alphaPattern, module, alpha);
      const scaling = cfg.use_rslora === true ? la / Math.sqrt(rank) : la / rank;
      const inOut = embedding || cfg.fan_in_fan_out === true;
      const out = b.shape[0];
      const inF = a.shape[1]!;
      const expected = inOut ? [inF, out] : [out, inF];
      if (meta.shape.length !== 2 || meta.shape[0] !== expected[0] || meta.shape[1] !== expected[1]) {
        throw new CheckpointError(`model "${label}": tensor "${weightName}" has shape [${meta.shape.join(", ")}] but the adapter's factors need [${expected.join(", ")}]; the adapter was made for another model.`);
      }
      targets.set(weightName, { a, b, scaling, inOut });
    }
    for (const [k, t] of tensors) if (![...targets.values()].some((x) => x.a === t || x.b === t)) tensors.get(k)?.dispose();
    return new LoraMergedCheckpoint(label, base, targets);
  }

  tensorNames(): string[] {
    return this.base.tensorNames();
  }

  meta(name: string): TensorMeta | undefined {
    return this.base.meta(name);
  }

  async readRows(name: string, r0: number, r1: number): Promise<Float32Array> {
    const rows = await this.base.readRows(name, r0, r1);
    const t = this.targets.get(name);
    if (t === undefined) return rows;
    const delta = tf.tidy(() => {
      // out_in: rows are outputs, ΔW[r0:r1] = s·B[r0:r1]·A. in_out: rows are inputs, ΔW[r0:r1] = s·(B·A[:, r0:r1])ᵀ.
      const part = t.inOut
        ? tf.transpose(tf.matMul(t.b, tf.slice(t.a, [0, r0], [-1, r1 - r0])))
        : tf.matMul(tf.slice(t.b, [r0, 0], [r1 - r0, -1]), t.a);
      return tf.mul(part, t.scaling);
    });
    const d = (await delta.data()) as Float32Array;
    delta.dispose();
    for (let i = 0; i < rows.length; i++) rows[i]! += d[i]!;
    return rows;
  }

  async close(): Promise<void> {
    for (const t of this.targets.values()) {
      t.a.dispose();
      t.b.dispose();
    }
    await this.base.close();
  }
}

/** The base checkpoint's weight for an adapter's module path (with or without the architecture's head prefix). */
function findWeight(base: TensorSource, module: string): string | null {
  const names = new Set(base.tensorNames());
  if (names.has(`${module}.weight`)) return `${module}.weight`;
  // e.g. the adapter was made on GPT2LMHeadModel ("transformer.h.0…") and the checkpoint is GPT2Model ("h.0…")
  const dot = module.indexOf(".");
  if (dot > 0 && names.has(`${module.slice(dot + 1)}.weight`)) return `${module.slice(dot + 1)}.weight`;
  return null;
}

/** Opens `ref`: an HF folder, or `base+adapter` (mergekit's LoRA syntax), relative to `root`. */
export async function openSource(ref: string, root: string): Promise<TensorSource> {
  const plus = ref.indexOf("+");
  const resolve = (p: string): string => (p.startsWith("/") ? p : join(root, p));
  if (plus < 0) return HfCheckpoint.open(resolve(ref), ref);
  const base = await HfCheckpoint.open(resolve(ref.slice(0, plus)), ref.slice(0, plus));
  try {
    return await LoraMergedCheckpoint.open(base, resolve(ref.slice(plus + 1)), ref);
  } catch (e) {
    await base.close();
    throw e;
  }
}

/**
 * Hugging Face model folders on disk: `config.json` plus `model.safetensors`, or a sharded
 * `model.safetensors.index.json` (its `weight_map` names the shard of every tensor). Loading never
 * downloads anything: a missing file is an error naming it. Saving writes `config.json` and one
 * `model.safetensors` (metadata `{"format": "pt"}`, which transformers requires) atomically.
 *
 * What differs between architectures (legacy key names, tied weights, heads that may be newly
 * initialised) is described by an `ArchitectureSpec`; the models' files define theirs.
 */
import { tf, isTunerLayer, nodeFileSystem, parseSafetensors, readSafetensors, readTextFileSafely, resolveLogger, safetensorsStream, writeDirAtomic } from "@peftjs/core";
import type { FileMap, LoggerOptions, PreTrainedModelLike, SafeOpenOptions, Tensor, Variable } from "@peftjs/core";
import { fileMapEntries, fileMapGet } from "@peftjs/core";
import { initNormal, withoutInit } from "./modules.js";
import type * as NodeFsModule from "node:fs/promises";
import { configJsonText } from "./config.js";
import type { BaseModelConfig, JsonObject } from "./config.js";

/** How one architecture is read from and written to a Hugging Face folder. */
export interface ArchitectureSpec<C extends BaseModelConfig, M extends PreTrainedModelLike> {
  /** config.json `model_type`. */
  readonly modelType: string;
  /** The transformers class whose state_dict our parameter paths equal ("GPT2LMHeadModel"). */
  readonly architecture: string;
  configFromJson(json: JsonObject, source: string): C;
  configToJson(config: C): JsonObject;
  build(config: C): M;
  /**
   * Maps a checkpoint's keys onto ours in place (legacy names, prefix-less names, dropped buffers, one
   * copy of tied weights). Returns notes for the load report.
   */
  adaptStateDict(tensors: Map<string, Tensor>, config: C): string[];
  /** Model keys the checkpoint may lack: tied copies (silently) or heads that stay newly initialised (reported). */
  missingAllowed(key: string, config: C): "tied" | "initialised" | false;
  /** Keys left out on save: tied copies, as transformers' `save_pretrained` leaves them out. */
  tiedKeys(config: C): string[];
}

/**
 * `logger` / `verbose`: legacy names mapped are info lines; newly initialised heads and ignored tensors are
 * warnings. Default: the default logger (warnings only).
 */
export interface LoadPretrainedOptions extends LoggerOptions {
  /**
   * When true (default), a checkpoint tensor the model has no parameter for is an error. When false it is
   * reported and ignored.
   */
  strict?: boolean;
  /**
   * Follow symbolic links that lead out of the folder (default false: such a file is refused). A Hugging Face
   * cache snapshot (`~/.cache/huggingface/hub/models--…/snapshots/<rev>/`) holds links into `../../blobs/`:
   * pass true to load one.
   */
  allowLinksOutside?: boolean;
}

type NodeFs = typeof NodeFsModule;

// Through core's "#platform" seam: Node's fs in Node, an error naming the in-memory APIs in a browser build.
const node = nodeFileSystem;

async function exists(fs: NodeFs, file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}

/** Reads and parses a JSON file, with errors naming the file. */
export async function readJsonFile(file: string, what: string, options: SafeOpenOptions = {}): Promise<JsonObject> {
  let text: string;
  try {
    // Regular files only, no links out of the folder, at most MAX_JSON_BYTES (a FIFO or /dev/zero is refused at once).
    text = await readTextFileSafely(file, options);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      throw new Error(`${what}: "${file}" not found. peftjs never downloads; copy the whole Hugging Face folder to this machine first.`);
    }
    throw error;
  }
  return parseJsonObject(text, file, what);
}

/** config.json of a model folder. */
export async function readModelConfigJson(dir: string, options: SafeOpenOptions = {}): Promise<JsonObject> {
  const { path } = await node();
  return readJsonFile(path.join(dir, "config.json"), "loadPretrained", options);
}

/**
 * Every tensor of a model folder's weights: `model.safetensors`, else the shards listed by
 * `model.safetensors.index.json`. The caller owns (and must dispose) the tensors.
 */
export async function readModelWeights(dir: string, options: SafeOpenOptions = {}): Promise<Map<string, Tensor>> {
  const { fs, path } = await node();
  const single = path.join(dir, "model.safetensors");
  if (await exists(fs, single)) return (await readSafetensors(single, options)).tensors;
  const indexFile = path.join(dir, "model.safetensors.index.json");
  if (!(await exists(fs, indexFile))) {
    const hint = (await exists(fs, path.join(dir, "pytorch_model.bin")))
      ? ' The folder has pytorch_model.bin: convert it to safetensors in Python (model.save_pretrained(dir) writes model.safetensors).'
      : "";
    throw new Error(`loadPretrained: neither "${single}" nor "${indexFile}" exists; a model folder needs its weights as safetensors.${hint}`);
  }
  const byShard = shardsOf(await readJsonFile(indexFile, "loadPretrained", options), indexFile);
  const tensors = new Map<string, Tensor>();
  try {
    for (const [shard, names] of byShard) {
      const file = path.join(dir, shard);
      if (!(await exists(fs, file))) throw new Error(`loadPretrained: shard "${file}" (listed in model.safetensors.index.json) not found.`);
      for (const [name, t] of (await readSafetensors(file, { ...options, names })).tensors) tensors.set(name, t);
    }
  } catch (error) {
    for (const t of tensors.values()) t.dispose();
    throw error;
  }
  return tensors;
}

/** An index's `weight_map` as shard file → tensor names, every shard a plain file name in the same folder. */
function shardsOf(index: JsonObject, indexFile: string): Map<string, string[]> {
  const weightMap = index.weight_map;
  if (typeof weightMap !== "object" || weightMap === null || Array.isArray(weightMap)) {
    throw new Error(`loadPretrained: "${indexFile}" has no "weight_map" object (tensor name → shard file).`);
  }
  const byShard = new Map<string, string[]>();
  for (const [name, shard] of Object.entries(weightMap as Record<string, unknown>)) {
    if (typeof shard !== "string" || shard.includes("/") || shard.includes("\\") || shard.startsWith(".")) {
      throw new Error(`loadPretrained: "${indexFile}" maps "${name}" to ${JSON.stringify(shard)}, which is not a shard file name in the folder.`);
    }
    const names = byShard.get(shard) ?? [];
    names.push(name);
    byShard.set(shard, names);
  }
  return byShard;
}

function preview(keys: string[]): string {
  const shown = keys.slice(0, 12).join(", ");
  return keys.length > 12 ? `${shown}, … (${keys.length} in all)` : shown;
}

/** Loads a folder into a freshly built model of `spec`'s architecture (eval mode, like transformers). */
export async function loadWithSpec<C extends BaseModelConfig, M extends PreTrainedModelLike>(
  dir: string,
  spec: ArchitectureSpec<C, M>,
  options: LoadPretrainedOptions = {},
  configJson?: JsonObject,
): Promise<M> {
  const { path } = await node();
  const links = { allowLinksOutside: options.allowLinksOutside === true };
  const json = configJson ?? (await readModelConfigJson(dir, links));
  const configFile = path.join(dir, "config.json");
  const config = checkedConfig(json, spec, configFile);
  return buildWithSpec(spec, config, json, await readModelWeights(dir, links), dir, options);
}

/**
 * `loadWithSpec` from files in memory (a browser's picked files, see core's `readFileList`): `config.json`
 * and `model.safetensors`, or `model.safetensors.index.json` with its shards.
 */
export function loadWithSpecFromFiles<C extends BaseModelConfig, M extends PreTrainedModelLike>(
  files: FileMap,
  spec: ArchitectureSpec<C, M>,
  options: LoadPretrainedOptions = {},
  configJson?: JsonObject,
): M {
  const json = configJson ?? configJsonFromFiles(files);
  const config = checkedConfig(json, spec, "config.json");
  return buildWithSpec(spec, config, json, modelWeightsFromFiles(files), "the given files", options);
}

/** config.json from files in memory. */
export function configJsonFromFiles(files: FileMap): JsonObject {
  return parseJsonObject(requiredFile(files, "config.json", "a model folder's config"), "config.json", "loadPretrained");
}

/** Every tensor of `model.safetensors` (or the shards its index names) from files in memory. The caller owns them. */
export function modelWeightsFromFiles(files: FileMap): Map<string, Tensor> {
  const single = fileMapGet(files, "model.safetensors");
  if (single !== undefined) return parseSafetensors(fileBytes(single)).tensors;
  const index = fileMapGet(files, "model.safetensors.index.json");
  if (index === undefined) {
    const hint = fileMapGet(files, "pytorch_model.bin") !== undefined ? " The files hold pytorch_model.bin: convert it to safetensors in Python (model.save_pretrained(dir) writes model.safetensors)." : "";
    throw new Error(`loadPretrained: neither model.safetensors nor model.safetensors.index.json is among the given files (${listNames(files)}).${hint}`);
  }
  const byShard = shardsOf(parseJsonObject(index, "model.safetensors.index.json", "loadPretrained"), "model.safetensors.index.json");
  const tensors = new Map<string, Tensor>();
  try {
    for (const [shard, names] of byShard) {
      const bytes = fileMapGet(files, shard);
      if (bytes === undefined) throw new Error(`loadPretrained: shard "${shard}" (listed in model.safetensors.index.json) is not among the given files.`);
      for (const [name, t] of parseSafetensors(fileBytes(bytes), { names }).tensors) tensors.set(name, t);
    }
  } catch (error) {
    for (const t of tensors.values()) t.dispose();
    throw error;
  }
  return tensors;
}

function fileBytes(content: Uint8Array | string): Uint8Array {
  return typeof content === "string" ? new TextEncoder().encode(content) : content;
}

function requiredFile(files: FileMap, name: string, what: string): Uint8Array | string {
  const content = fileMapGet(files, name);
  if (content === undefined) throw new Error(`loadPretrained: ${name} (${what}) is not among the given files (${listNames(files)}).`);
  return content;
}

function listNames(files: FileMap): string {
  const names = fileMapEntries(files).map(([n]) => n);
  return names.length === 0 ? "no files" : names.map((n) => `"${n}"`).join(", ");
}

/** Parses a JSON object from file contents, with errors naming the file. */
export function parseJsonObject(content: Uint8Array | string, file: string, what: string): JsonObject {
  const text = typeof content === "string" ? content : new TextDecoder().decode(content);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`${what}: "${file}" is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new Error(`${what}: "${file}" must hold a JSON object.`);
  return json as JsonObject;
}

function checkedConfig<C extends BaseModelConfig, M extends PreTrainedModelLike>(json: JsonObject, spec: ArchitectureSpec<C, M>, configFile: string): C {
  if (json.model_type !== spec.modelType) {
    throw new Error(`loadPretrained: "${configFile}" has model_type ${JSON.stringify(json.model_type)}, expected "${spec.modelType}" for ${spec.architecture}.`);
  }
  return spec.configFromJson(json, configFile);
}

/** Builds the model and loads `tensors` into it (disposed here, whatever happens). */
function buildWithSpec<C extends BaseModelConfig, M extends PreTrainedModelLike>(
  spec: ArchitectureSpec<C, M>,
  config: C,
  json: JsonObject,
  tensors: Map<string, Tensor>,
  dir: string,
  options: LoadPretrainedOptions,
): M {
  const logger = resolveLogger(options);
  const warn = (m: string): void => logger.warn(m);
  let model: M | undefined;
  try {
    for (const note of spec.adaptStateDict(tensors, config)) logger.info(note);
    // Weights start as zeros (no random sampling): the checkpoint overwrites them, and heads it lacks are
    // initialised below as transformers initialises new heads.
    model = withoutInit(() => spec.build(config));
    const own = model.stateDict();
    const missing = [...own.keys()].filter((k) => !tensors.has(k));
    const unexpected = [...tensors.keys()].filter((k) => !own.has(k));
    const notAllowed = missing.filter((k) => spec.missingAllowed(k, config) === false);
    if (notAllowed.length > 0) {
      throw new Error(
        `loadPretrained: "${dir}" lacks weights of ${spec.architecture}: ${preview(notAllowed)}. ` +
          `Check that the folder holds a ${spec.architecture} checkpoint (config.json architectures: ${JSON.stringify(json.architectures)}).`,
      );
    }
    const initialised = missing.filter((k) => spec.missingAllowed(k, config) === "initialised");
    if (initialised.length > 0) {
      warn(`loadPretrained: ${spec.architecture} weights not in the checkpoint, newly initialised: ${preview(initialised)}. Train them before use.`);
      for (const key of initialised) {
        const v = own.get(key) as Variable;
        // transformers `_init_weights`: biases 0, weights N(0, initializer_range) (norm weights would be 1, but
        // heads are Linear layers).
        tf.tidy(() => v.assign(key.endsWith(".bias") ? tf.zerosLike(v) : initNormal(v.shape, config.initializerRange)));
      }
    }
    if (unexpected.length > 0) {
      const message = `the checkpoint has tensors ${spec.architecture} does not use: ${preview(unexpected)}`;
      if (options.strict ?? true) throw new Error(`loadPretrained: ${message}. Pass { strict: false } to ignore them.`);
      warn(`loadPretrained: ignored ${message}.`);
    }
    const toLoad = new Map<string, Tensor>();
    for (const [key, target] of own) {
      const t = tensors.get(key);
      if (t === undefined) continue;
      if (t.dtype !== target.dtype) {
        if (target.dtype !== "float32" || t.dtype === "bool") throw new Error(`loadPretrained: "${key}" is ${t.dtype} in the checkpoint, the model needs ${target.dtype}.`);
        const cast = tf.cast(t, "float32");
        t.dispose();
        tensors.set(key, cast);
        toLoad.set(key, cast);
      } else {
        toLoad.set(key, t);
      }
    }
    model.loadStateDict(toLoad, { strict: false });
    model.eval();
    return model;
  } catch (error) {
    model?.dispose();
    throw error;
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}

export interface SavePretrainedOptions {
  /**
   * Files already in the folder that are not weights or config (tokenizer files, README.md) are kept.
   * Weight files of an earlier save (`model.safetensors.index.json`, shards) are removed so they cannot
   * shadow the new `model.safetensors`. Default true; false leaves exactly config.json + model.safetensors.
   */
  keepOtherFiles?: boolean;
}

const STALE_WEIGHTS = /^(model\.safetensors\.index\.json|model-\d+-of-\d+\.safetensors|pytorch_model.*\.bin(\.index\.json)?)$/;

/** Writes `config.json` + `model.safetensors` for `model` in the layout transformers reads. */
export async function saveWithSpec<C extends BaseModelConfig, M extends PreTrainedModelLike>(
  model: M,
  spec: ArchitectureSpec<C, M>,
  dir: string,
  options: SavePretrainedOptions = {},
): Promise<void> {
  const { fs, path } = await node();
  const wrapped = [...model.namedModules()].filter(([, m]) => isTunerLayer(m)).map(([p]) => p);
  if (wrapped.length > 0) {
    throw new Error(
      `savePretrained: the model holds PEFT tuner layers at ${preview(wrapped)}; save the adapter with PeftModel.save, ` +
        `or merge and unload it first to save a plain ${spec.architecture}.`,
    );
  }
  const config = model.config as unknown as C;
  const tied = new Set(spec.tiedKeys(config));
  const state = new Map([...model.stateDict()].filter(([k]) => !tied.has(k)));
  const files: Record<string, Uint8Array | string | AsyncIterable<Uint8Array>> = {
    "config.json": configJsonText(spec.configToJson(config)),
    "model.safetensors": safetensorsStream(state, { metadata: { format: "pt" } }),
  };
  let keepOtherFiles = options.keepOtherFiles ?? true;
  if (keepOtherFiles) {
    const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
    const stale = entries.filter((e) => STALE_WEIGHTS.test(e.name));
    if (stale.length > 0) {
      // writeDirAtomic keeps all or nothing; carry the other top-level files over ourselves.
      const subdirs = entries.filter((e) => e.isDirectory());
      if (subdirs.length > 0) {
        throw new Error(
          `savePretrained: "${dir}" holds old weight files (${stale.map((e) => e.name).join(", ")}) and subfolders (${subdirs.map((e) => e.name).join(", ")}); ` +
            `save into another folder, or remove the old weights first.`,
        );
      }
      for (const e of entries) {
        if (e.isFile() && !STALE_WEIGHTS.test(e.name) && !(e.name in files)) files[e.name] = await fs.readFile(path.join(dir, e.name));
      }
      keepOtherFiles = false;
    }
  }
  await writeDirAtomic(dir, files, { keepOtherFiles });
}

/** Moves a tensor to another key (no-op if absent). */
export function renameKey(tensors: Map<string, Tensor>, from: string, to: string): void {
  const t = tensors.get(from);
  if (t === undefined || from === to) return;
  if (tensors.has(to)) throw new Error(`loadPretrained: the checkpoint has both "${from}" and "${to}", which name the same parameter.`);
  tensors.delete(from);
  tensors.set(to, t);
}

/** Removes (and disposes) the tensors whose keys match; returns the keys removed. */
export function dropKeys(tensors: Map<string, Tensor>, match: (key: string) => boolean): string[] {
  const dropped = [...tensors.keys()].filter(match);
  for (const k of dropped) {
    tensors.get(k)!.dispose();
    tensors.delete(k);
  }
  return dropped;
}

/**
 * Tied input/output embeddings: keep one copy under the embedding's key (transformers saves only that one;
 * older or hand-made files may hold the output key instead, or both).
 */
export function keepOneTiedCopy(tensors: Map<string, Tensor>, embeddingKey: string, outputKey: string): void {
  if (tensors.has(embeddingKey)) dropKeys(tensors, (k) => k === outputKey);
  else renameKey(tensors, outputKey, embeddingKey);
}

/**
 * adapter_config.json in PEFT's layout (peft `config.py`: `PeftConfigMixin`, `PeftConfig`): the method's own
 * fields plus the common ones every PEFT config has, written like `json.dumps(indent=2, sort_keys=True)`.
 * Reading picks the method by `peft_type` and, like PEFT's `from_peft_type`, ignores fields it does not know
 * with a warning (a config saved by a newer version still loads).
 */
import type { BasePeftConfig } from "../contract/config.js";
import type { Method } from "../contract/method.js";
import type { MethodRegistry } from "./registry.js";
import { recoverInterruptedWrite } from "../io/atomic.js";
import { nodeFileSystem } from "../io/node.js";
import { UnsafeFileError, readFileSafely, readTextFileSafely } from "../io/safe-open.js";
import { fileBytes, fileMapEntries, fileMapGet, fileText } from "../io/memory-files.js";
import type { FileMap } from "../io/memory-files.js";

/**
 * The `peft_version` written into saved configs. peftjs writes PEFT's 0.21 layout (the version the fixtures are
 * made with); PEFT only reads this field for OFT compatibility checks.
 */
export const PEFT_VERSION = "0.21.0";
export const ADAPTER_CONFIG_NAME = "adapter_config.json";
export const ADAPTER_WEIGHTS_NAME = "adapter_model.safetensors";
/** The task types PEFT accepts (`TaskType`). */
export const TASK_TYPES = ["SEQ_CLS", "SEQ_2_SEQ_LM", "CAUSAL_LM", "TOKEN_CLS", "QUESTION_ANS", "FEATURE_EXTRACTION"] as const;

/** Fields of every PEFT config (`PeftConfigMixin` + `PeftConfig`, and `modules_to_save`): core reads and writes these. */
export const COMMON_PEFT_CONFIG_FIELDS: readonly string[] = [
  "peft_type",
  "task_type",
  "base_model_name_or_path",
  "revision",
  "inference_mode",
  "peft_version",
  "auto_mapping",
  "modules_to_save",
];

export type CommonPeftConfig = Pick<BasePeftConfig, "taskType" | "baseModelNameOrPath" | "inferenceMode" | "modulesToSave">;

/**
 * The common fields of an adapter_config.json object, validated, camelCase (for a method's `fromPeftConfig`).
 * Absent fields get PEFT's defaults (null / false).
 */
export function readCommonPeftConfig(json: Record<string, unknown>): CommonPeftConfig {
  const taskType = json["task_type"] ?? null;
  if (taskType !== null && (typeof taskType !== "string" || !(TASK_TYPES as readonly string[]).includes(taskType))) {
    throw new Error(`adapter_config.json: invalid task_type ${JSON.stringify(taskType)}; expected one of ${TASK_TYPES.join(", ")} or null.`);
  }
  const base = json["base_model_name_or_path"] ?? null;
  if (base !== null && typeof base !== "string") throw new Error(`adapter_config.json: base_model_name_or_path must be a string or null, got ${JSON.stringify(base)}.`);
  const inference = json["inference_mode"] ?? false;
  if (typeof inference !== "boolean") throw new Error(`adapter_config.json: inference_mode must be true or false, got ${JSON.stringify(inference)}.`);
  const mts = json["modules_to_save"] ?? null;
  if (mts !== null && (!Array.isArray(mts) || !mts.every((m) => typeof m === "string"))) {
    throw new Error(`adapter_config.json: modules_to_save must be a list of module names or null, got ${JSON.stringify(mts)}.`);
  }
  return { taskType, baseModelNameOrPath: base, inferenceMode: inference, modulesToSave: mts === null ? null : [...(mts)] };
}

/** The common fields of a config, snake_case, as PEFT writes them (without `peft_version`, added on save). */
export function writeCommonPeftConfig(config: BasePeftConfig): Record<string, unknown> {
  return {
    peft_type: config.peftType,
    task_type: config.taskType,
    base_model_name_or_path: config.baseModelNameOrPath,
    revision: null,
    inference_mode: config.inferenceMode,
    auto_mapping: null,
    modules_to_save: config.modulesToSave,
  };
}

/**
 * The adapter_config.json object for a saved adapter: the method's fields, then the common ones. Like PEFT's
 * `save_pretrained`, `inference_mode` is written as true and a missing `base_model_name_or_path` is filled in.
 */
export function toAdapterConfigJson<C extends BasePeftConfig>(method: Method<C>, config: C, baseModelNameOrPath: string | null): Record<string, unknown> {
  const own = method.toPeftConfig(config);
  if (own["peft_type"] !== undefined && own["peft_type"] !== method.peftType) {
    throw new Error(`Method "${method.name}": toPeftConfig wrote peft_type ${JSON.stringify(own["peft_type"])} but the method's peftType is "${method.peftType}".`);
  }
  const common = writeCommonPeftConfig(config);
  const revision = own["revision"] ?? null;
  return {
    ...own,
    ...common,
    revision,
    peft_type: method.peftType,
    base_model_name_or_path: config.baseModelNameOrPath ?? baseModelNameOrPath,
    inference_mode: true,
    peft_version: PEFT_VERSION,
  };
}

/** `json.dumps(obj, indent=2, sort_keys=True)` with Python's default `ensure_ascii`. */
export function serializeAdapterConfig(json: Record<string, unknown>): string {
  const text = JSON.stringify(sortKeys(json), null, 2);
  return text.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === "object") {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}

export interface ParsedAdapterConfig {
  method: Method;
  config: BasePeftConfig;
  /** Fields neither core nor the method knows; PeftModel warns and ignores them, like PEFT. */
  unknownFields: string[];
}

/** Parses adapter_config.json (text or object) and picks its method from `registry` by `peft_type`. */
export function parseAdapterConfig(source: string | Record<string, unknown>, registry: MethodRegistry, where = ADAPTER_CONFIG_NAME): ParsedAdapterConfig {
  let json: unknown = source;
  if (typeof source === "string") {
    try {
      json = JSON.parse(source);
    } catch (error) {
      throw new Error(`${where} is not valid JSON: ${(error as Error).message}`);
    }
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) throw new Error(`${where} must hold a JSON object, got ${JSON.stringify(json)}.`);
  const obj = json as Record<string, unknown>;
  const peftType = obj["peft_type"];
  // PEFT's MIN_EXPECTED_CONFIG_KEYS: peft_type is the one field a config cannot do without.
  if (typeof peftType !== "string") throw new Error(`${where} has no "peft_type" (e.g. "LORA"); it is not a PEFT adapter config.`);
  const method = registry.byPeftType(peftType);
  let parsed: { config: BasePeftConfig; unknownFields: string[] };
  try {
    parsed = method.fromPeftConfig(obj);
  } catch (error) {
    throw new Error(`${where}: invalid ${peftType} config: ${(error as Error).message}`, { cause: error });
  }
  const unknownFields = parsed.unknownFields.filter((f) => !COMMON_PEFT_CONFIG_FIELDS.includes(f));
  return { method, config: parsed.config, unknownFields };
}

/** What an adapter folder holds, in memory (browser use, or after reading a folder). */
export interface AdapterFiles {
  /** adapter_config.json, as text or parsed. */
  config: string | Record<string, unknown>;
  /** adapter_model.safetensors bytes. */
  weights: Uint8Array;
}

/**
 * The adapter in a map of files (`peftModel.adapterFiles()`, or `readFileList` of picked/dropped files):
 * `[subfolder/]adapter_config.json` and `[subfolder/]adapter_model.safetensors`. When the map holds exactly
 * one adapter in some folder (a picked parent folder), that one is taken; a missing file is an error naming
 * what the map has.
 */
export function adapterFilesFromMap(files: FileMap, subfolder?: string): AdapterFiles & { where: string } {
  const names = fileMapEntries(files).map(([n]) => n);
  let folder = subfolder === undefined || subfolder === "" ? "" : `${subfolder.replace(/\/+$/, "")}/`;
  if (subfolder === undefined && fileMapGet(files, ADAPTER_CONFIG_NAME) === undefined) {
    const configs = names.filter((n) => n.endsWith(`/${ADAPTER_CONFIG_NAME}`));
    if (configs.length === 1) folder = configs[0]!.slice(0, -ADAPTER_CONFIG_NAME.length);
  }
  const where = folder === "" ? "the given files" : `the given files (folder "${folder.slice(0, -1)}")`;
  const config = fileMapGet(files, folder + ADAPTER_CONFIG_NAME);
  const weights = fileMapGet(files, folder + ADAPTER_WEIGHTS_NAME);
  const have = names.length === 0 ? "no files" : names.map((n) => `"${n}"`).join(", ");
  if (config === undefined) throw new Error(`No ${folder}${ADAPTER_CONFIG_NAME} among the given files (${have}). Give both files a PEFT adapter folder holds.`);
  if (weights === undefined) {
    const bin = fileMapGet(files, `${folder}adapter_model.bin`) !== undefined;
    throw new Error(
      bin
        ? `The files hold adapter_model.bin (a pickled torch file), which peftjs does not read. Re-save it in Python with safe_serialization=True to get ${ADAPTER_WEIGHTS_NAME}.`
        : `No ${folder}${ADAPTER_WEIGHTS_NAME} among the given files (${have}).`,
    );
  }
  return { config: fileText(config, folder + ADAPTER_CONFIG_NAME), weights: fileBytes(weights), where };
}

/** The largest adapter_model.safetensors `readAdapterDir` reads into memory: 2 GiB (a LoRA adapter is MBs). */
export const MAX_ADAPTER_WEIGHTS_BYTES = 2 ** 31;

export interface ReadAdapterDirOptions {
  /** Follow symbolic links that lead out of `dir` (e.g. a Hugging Face cache snapshot). Default false. */
  allowLinksOutside?: boolean;
}

/**
 * Reads `dir[/subfolder]/adapter_config.json` and `adapter_model.safetensors` (Node only), through the safe
 * opener: `subfolder` must be a folder inside `dir`, links out of `dir` are refused (unless
 * `allowLinksOutside`), only regular files are read (a FIFO or `/dev/zero` is refused at once), the config is at
 * most MAX_JSON_BYTES and the weights at most {@link MAX_ADAPTER_WEIGHTS_BYTES}. An interrupted save of `dir` is
 * first finished or rolled back (the recovery rule of io/atomic.ts).
 */
export async function readAdapterDir(dir: string, subfolder?: string, options: ReadAdapterDirOptions = {}): Promise<AdapterFiles & { where: string }> {
  const { fs, path } = await nodeFileSystem();
  if (subfolder !== undefined) checkSubfolder(subfolder);
  await recoverInterruptedWrite(dir);
  const where = subfolder === undefined ? dir : path.join(dir, subfolder);
  const configPath = path.join(where, ADAPTER_CONFIG_NAME);
  const weightsPath = path.join(where, ADAPTER_WEIGHTS_NAME);
  const access = { root: dir, ...(options.allowLinksOutside !== undefined ? { allowLinksOutside: options.allowLinksOutside } : {}) };
  let config: string;
  try {
    config = await readTextFileSafely(configPath, access);
  } catch (error) {
    if (error instanceof UnsafeFileError) throw error;
    throw new Error(`No ${ADAPTER_CONFIG_NAME} in "${where}" (${(error as NodeJS.ErrnoException).code ?? String(error)}). Pass the folder that save() wrote; a non-default adapter is in a subfolder named after it.`);
  }
  let weights: Uint8Array;
  try {
    weights = await readFileSafely(weightsPath, { ...access, maxBytes: MAX_ADAPTER_WEIGHTS_BYTES });
  } catch (error) {
    if (error instanceof UnsafeFileError) {
      if (error.code !== "TOO_LARGE") throw error;
      throw new UnsafeFileError(
        `"${weightsPath}" is larger than ${MAX_ADAPTER_WEIGHTS_BYTES} bytes (2 GiB), the limit for an adapter's weights, which peftjs reads ` +
          `into memory; this is not an adapter (a LoRA adapter is megabytes). For a large checkpoint use readSafetensors, which reads one tensor at a time.`,
        "TOO_LARGE",
      );
    }
    const hasBin = await fs.stat(path.join(where, "adapter_model.bin")).then(
      () => true,
      () => false,
    );
    throw new Error(
      hasBin
        ? `"${where}" holds adapter_model.bin (a pickled torch file), which peftjs does not read. Re-save it in Python with safe_serialization=True to get ${ADAPTER_WEIGHTS_NAME}.`
        : `No ${ADAPTER_WEIGHTS_NAME} in "${where}" (${(error as NodeJS.ErrnoException).code ?? String(error)}).`,
    );
  }
  return { config, weights, where };
}

/** `subfolder` must name a folder inside the adapter folder (PEFT's `subfolder` is a relative path too). */
function checkSubfolder(subfolder: string): void {
  const parts = subfolder.split(/[\\/]/);
  if (typeof subfolder !== "string" || subfolder === "" || subfolder.includes("\0") || /^([a-zA-Z]:)?[\\/]/.test(subfolder) || parts.some((p) => p === "..")) {
    throw new Error(
      `subfolder ${JSON.stringify(subfolder)} must be a relative folder name inside the adapter folder (no "..", no absolute path); ` +
        `to load an adapter from elsewhere, pass its own folder as the path.`,
    );
  }
}

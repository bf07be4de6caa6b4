/**
 * Which modules a method adapts, with PEFT's semantics (peft `tuners/tuners_utils.py`:
 * `check_target_module_exists`, `_maybe_include_all_linear_layers`, `BaseTuner.inject_adapter`;
 * `utils/other.py`: `get_pattern_key`).
 *
 * - `targetModules` list: an entry matches a module path exactly or as a `.suffix` (`"c_attn"` matches
 *   `transformer.h.0.attn.c_attn`); a string is a full-match regular expression; `"all-linear"` is every
 *   Linear / Conv1D except the output head.
 * - `excludeModules`: the same forms, checked first.
 * - `modulesToSave` (when the selection is a whole config): modules saved in full are never adapted.
 * - `layersToTransform` + `layersPattern`: keep only modules whose layer index (the number after the first
 *   `.<pattern>.` segment) is listed.
 */
import type { Module } from "../nn/module.js";
import { isLinearLike } from "../nn/layers.js";
import { isTunerLayer } from "../tuners/base-tuner-layer.js";
import type { BasePeftConfig, TargetSelection } from "../contract/config.js";
import { pyFullMatch, pyMatch } from "./python-regex.js";
import { resolveLogger } from "../log.js";
import type { LoggerOptions } from "../log.js";

/** PEFT's `INCLUDE_LINEAR_LAYERS_SHORTHAND`. */
export const ALL_LINEAR = "all-linear";
/** Classification heads `"all-linear"` leaves out for SEQ_CLS models without an output embedding (PEFT `SEQ_CLS_HEAD_NAMES`). */
const SEQ_CLS_HEAD_NAMES = ["score", "classifier"];

export interface MatchTargetsOptions extends LoggerOptions {
  /**
   * The output projection `"all-linear"` leaves out (`"lm_head"`). Default: the model's own
   * `outputEmbeddingsPath` when it has one (PreTrainedModelLike), else none.
   */
  outputEmbeddingsPath?: string | null;
  /**
   * Modules the method can adapt. A module whose path matches but that this rejects is skipped (and named in
   * the error when nothing is left). The no-match error lists only targetable module paths.
   */
  isTargetable?: (m: Module, path: string) => boolean;
}

/** Nothing was selected; `modulePaths` are the model's (targetable) module paths. */
export class NoMatchingTargetsError extends Error {
  override name = "NoMatchingTargetsError";
  constructor(
    message: string,
    readonly modulePaths: readonly string[],
  ) {
    super(message);
  }
}

/**
 * Marks wrappers whose inside must never be adapted (core's ModulesToSaveWrapper sets it): like a tuner
 * layer's internals, the wrapper's `original_module` and per-adapter copies are not targets.
 */
export interface OpaqueWrapper {
  readonly isModulesToSaveWrapper: true;
}
export function isModulesToSaveWrapper(m: Module): m is Module & OpaqueWrapper {
  return (m as unknown as Partial<OpaqueWrapper>).isModulesToSaveWrapper === true;
}

/**
 * Every module path a method may look at, in tree order: the root and anything inside a tuner layer
 * (`x.base_layer`, `x.lora_A.default`) or a modules-to-save wrapper is left out; the tuner layer / wrapper
 * itself is kept (PEFT skips keys under `existing_adapter_prefixes`).
 */
export function adaptableModules(model: Module): [string, Module][] {
  const out: [string, Module][] = [];
  const sealed: string[] = [];
  for (const [path, m] of model.namedModules()) {
    if (path === "") continue;
    if (sealed.some((s) => path.startsWith(`${s}.`))) continue;
    out.push([path, m]);
    if (isTunerLayer(m) || isModulesToSaveWrapper(m)) sealed.push(path);
  }
  return out;
}

/**
 * The matched module paths in tree order. A path that already is a tuner layer matches (a second adapter is
 * added to it); paths inside tuner layers never do. Throws `NoMatchingTargetsError` (listing the model's module
 * paths) when nothing matches.
 *
 * `selection` may be a whole method config: its `modulesToSave` and `taskType` are honoured like PEFT's.
 */
export function matchTargets(model: Module, selection: TargetSelection, options: MatchTargetsOptions = {}): string[] {
  // PEFT's warnings (an `excludeModules` that excluded nothing) go to the logger's warn level.
  const logger = resolveLogger(options);
  const warn = (m: string): void => logger.warn(m);
  const extra = selection as TargetSelection & Partial<Pick<BasePeftConfig, "modulesToSave" | "taskType">>;
  const layers = normaliseLayers(selection.layersToTransform);
  const patterns = selection.layersPattern === null || selection.layersPattern === undefined ? [] : typeof selection.layersPattern === "string" ? [selection.layersPattern] : selection.layersPattern;
  validateSelection(selection, layers, patterns);

  const candidates = adaptableModules(model);
  const allLinear = typeof selection.targetModules === "string" && selection.targetModules.toLowerCase() === ALL_LINEAR;
  const targets: string | readonly string[] = allLinear ? allLinearPaths(model, candidates, options, extra.taskType ?? null) : selection.targetModules ?? [];
  const modulesToSave = extra.modulesToSave ?? [];

  const matched: string[] = [];
  const notTargetable: string[] = [];
  let excludedCount = 0;
  let excludedByConfig = 0;
  for (const [path, m] of candidates) {
    if (isModulesToSaveWrapper(m)) {
      excludedCount++;
      continue;
    }
    if (isExcluded(selection.excludeModules, path)) {
      excludedCount++;
      excludedByConfig++;
      continue;
    }
    // PEFT: adapters never match modules_to_save modules ("(^|.*\.)m($|\..*)") — their wrapper would conflict.
    if (modulesToSave.some((name) => pyMatch("(?:|.*\\.)(?:", name, ")(?:$|\\..*)", path, "modulesToSave") !== null)) {
      excludedCount++;
      continue;
    }
    if (!isTargetMatch(targets, path, layers, patterns, allLinear)) continue;
    if (options.isTargetable !== undefined && !options.isTargetable(m, path)) {
      notTargetable.push(path);
      continue;
    }
    matched.push(path);
  }

  if (matched.length === 0) {
    throw noMatchError(candidates, selection, targets, allLinear, excludedCount, notTargetable, options);
  }
  if (excludedByConfig === 0 && hasEntries(selection.excludeModules)) {
    warn(`You have passed excludeModules=${show(selection.excludeModules)} but no modules were excluded. Please check that excludeModules was set correctly.`);
  }
  return matched;
}

/**
 * PEFT's `get_pattern_key` + lookup: the value of the first key of `pattern` that matches the end of `path`
 * as a regular expression (`(.*\.)?(key)$`), else `fallback`. Used for `rank_pattern` / `alpha_pattern`.
 */
export function getPatternValue(pattern: Record<string, number> | null, path: string, fallback: number): number {
  if (pattern === null) return fallback;
  for (const [key, value] of Object.entries(pattern)) {
    if (pyMatch("(?:.*\\.)?(?:", key, ")$", path, "a rank/alpha pattern key") !== null) return value;
  }
  return fallback;
}

function normaliseLayers(layers: TargetSelection["layersToTransform"] | undefined): number[] | null {
  if (layers === null || layers === undefined) return null;
  const raw: unknown = layers; // a parsed config may hold anything here
  if (typeof raw !== "number" && !Array.isArray(raw)) {
    throw new Error(`layersToTransform must be a layer index or a list of layer indices (e.g. [0, 1]); got ${show(raw)}.`);
  }
  const list = typeof layers === "number" ? [layers] : layers;
  // PEFT: an empty list means "no layer filter".
  return list.length === 0 ? null : [...list];
}

function validateSelection(selection: TargetSelection, layers: number[] | null, patterns: readonly string[]): void {
  const t = selection.targetModules;
  if (t !== null && t !== undefined && typeof t !== "string" && !Array.isArray(t)) {
    throw new Error(`targetModules must be a list of module names, a regular expression string, "all-linear" or null; got ${show(t)}.`);
  }
  for (const [field, v] of [
    ["targetModules", t],
    ["excludeModules", selection.excludeModules],
  ] as const) {
    if (Array.isArray(v) && !v.every((e) => typeof e === "string" && e !== "")) throw new Error(`${field} entries must be non-empty module names; got ${show(v)}.`);
  }
  if (layers !== null) {
    for (const i of layers) {
      if (!Number.isInteger(i) || i < 0) throw new Error(`layersToTransform must hold non-negative integers; got ${show(selection.layersToTransform)}.`);
    }
    if (typeof t === "string" && t.toLowerCase() !== ALL_LINEAR) {
      // PEFT LoraConfig.__post_init__ refuses this combination: a regex already selects layers.
      throw new Error(`layersToTransform cannot be used when targetModules is a regular expression ("${t}"); put the layer numbers into the expression or pass a list of module names.`);
    }
  }
  if (patterns.length > 0 && layers === null) {
    throw new Error(`layersPattern ${show(selection.layersPattern)} needs layersToTransform as well (PEFT: "When layers_pattern is specified, layers_to_transform must also be specified").`);
  }
}

function hasEntries(v: readonly string[] | string | null | undefined): v is readonly string[] | string {
  return v !== null && v !== undefined && v.length > 0;
}

function isExcluded(exclude: readonly string[] | string | null | undefined, path: string): boolean {
  if (!hasEntries(exclude)) return false;
  if (typeof exclude === "string") return pyFullMatch(exclude, path, "excludeModules");
  return exclude.some((e) => path === e || path.endsWith(`.${e}`));
}

function isTargetMatch(targets: string | readonly string[], path: string, layers: number[] | null, patterns: readonly string[], allLinear: boolean): boolean {
  if (typeof targets === "string") return pyFullMatch(targets, path, "targetModules");
  // PEFT returns True for an exact entry before looking at layers_to_transform. "all-linear" expands to exact
  // paths, and PEFT (above 20 of them) condenses those to suffixes that do go through the layer filter, so the
  // layer filter is applied to "all-linear" here: what PEFT does on any real model.
  if (!allLinear && targets.includes(path)) return true;
  const found = targets.includes(path) || targets.some((t) => path.endsWith(`.${t}`));
  if (!found || layers === null) return found;
  const index = layerIndex(path, patterns);
  return index !== null && layers.includes(index);
}

/**
 * PEFT: with no layers_pattern the first numbered segment after some `.name.` (`re.match(r".*?\.[^.]*\.(\d+)\.")`),
 * else the number after the first `.<pattern>.` for the first pattern that matches. Note both need a dot before
 * the layer container: `layers.0.q` (no parent) has no layer index in PEFT either.
 */
function layerIndex(path: string, patterns: readonly string[]): number | null {
  if (patterns.length === 0) {
    const m = /^.*?\.[^.]*\.(\d+)\./.exec(path);
    return m === null ? null : Number(m[1]);
  }
  for (const p of patterns) {
    const m = pyMatch(".*?\\.(?:", p, ")\\.(?<layerIndex>\\d+)\\.", path, "layersPattern");
    if (m !== null) return Number(m.groups!["layerIndex"]);
  }
  return null;
}

/** PEFT `_maybe_include_all_linear_layers`: every Linear/Conv1D (or tuner layer wrapping one) but the output head. */
function allLinearPaths(model: Module, candidates: [string, Module][], options: MatchTargetsOptions, taskType: string | null): string[] {
  const excluded = new Set<string>();
  const output = options.outputEmbeddingsPath !== undefined ? options.outputEmbeddingsPath : modelOutputPath(model);
  if (output !== null) {
    excluded.add(output);
  } else if (taskType === "SEQ_CLS") {
    // PEFT (issue 2027): without an output embedding, leave out the classifier head of a classification model.
    const children = new Map(model.namedChildren());
    const head = SEQ_CLS_HEAD_NAMES.find((n) => children.has(n));
    if (head !== undefined) excluded.add(head);
  }
  return candidates
    .filter(([path, m]) => !excluded.has(path) && (isLinearLike(m) || (isTunerLayer(m) && isLinearLike(m.baseLayer))))
    .map(([path]) => path);
}

function modelOutputPath(model: Module): string | null {
  const p = (model as unknown as { outputEmbeddingsPath?: unknown }).outputEmbeddingsPath;
  return typeof p === "string" ? p : null;
}

function noMatchError(
  candidates: [string, Module][],
  selection: TargetSelection,
  targets: string | readonly string[],
  allLinear: boolean,
  excludedCount: number,
  notTargetable: string[],
  options: MatchTargetsOptions,
): NoMatchingTargetsError {
  const listed = candidates
    .filter(([path, m]) => options.isTargetable === undefined || options.isTargetable(m, path))
    .map(([path]) => path);
  const what = options.isTargetable === undefined ? "module paths" : "targetable module paths";
  const names = [...new Set(listed.map((p) => p.slice(p.lastIndexOf(".") + 1)))];
  const tail =
    listed.length === 0
      ? ` The model has no ${what}.`
      : ` The model's ${what} are: ${preview(listed, 200)}. Their last names (usable as list entries): ${preview(names, 100)}.`;
  let head: string;
  const layerNote =
    (selection.layersToTransform !== null && selection.layersToTransform !== undefined ? ` Note: you specified layersToTransform ${show(selection.layersToTransform)}.` : "") +
    (selection.layersPattern !== null && selection.layersPattern !== undefined ? ` You also specified layersPattern ${show(selection.layersPattern)}.` : "");
  if (selection.targetModules === null || selection.targetModules === undefined || (Array.isArray(selection.targetModules) && selection.targetModules.length === 0)) {
    head = "No targetModules given: pass a list of module names (exact paths or last names), a regular expression, or \"all-linear\".";
  } else if (allLinear && targets.length === 0) {
    head = `targetModules "all-linear" found no Linear/Conv1D module in the model (the output head is left out).`;
  } else if (notTargetable.length > 0) {
    head = `targetModules ${show(selection.targetModules)} matched only modules this method cannot adapt: ${preview(notTargetable, 20)}.${layerNote}`;
  } else if (excludedCount > 0 && excludedCount === candidates.length) {
    head = "All modules were excluded. Check targetModules, excludeModules and modulesToSave.";
  } else if (excludedCount > 0) {
    head = `No modules were targeted: targetModules ${show(selection.targetModules)} matched nothing that excludeModules / modulesToSave left.${layerNote}`;
  } else {
    head = `Target modules ${show(selection.targetModules)} not found in the model.${layerNote}`;
  }
  return new NoMatchingTargetsError(head + tail, listed);
}

function show(v: unknown): string {
  return JSON.stringify(v);
}

function preview(items: readonly string[], max: number): string {
  const shown = items.slice(0, max).join(", ");
  return items.length > max ? `${shown}, … (${items.length} in all)` : shown;
}

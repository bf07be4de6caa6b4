/** One tfjs-core engine: two copies mean two kernel registries that do not reliably meet. */
import { nodeModules } from "#platform";
import { tf } from "../tf.js";

/**
 * Throws when more than one @tensorflow/tfjs-core is in play. Two copies mean two module instances whose
 * kernels, gradients and tensors do not reliably meet: a backend registered through one copy's import is
 * invisible to ops from the other, and versions can drift apart. Checks: (1) the engine this package uses
 * is the global one (`globalThis._tfengine`); (2) its Tensor class is the globally registered one (another
 * copy loaded first otherwise); (3) in Node, every loaded or installed tfjs package resolves the same
 * tfjs-core folder as core does.
 */
export function assertSingleEngine(): void {
  const fix =
    "Make every package use one @tensorflow/tfjs-core 4.22.0: run `npm dedupe` / `pnpm dedupe`, or pin it with npm `overrides` / pnpm `overrides` / yarn `resolutions`, and import tfjs only through @peftjs/core's `tf`.";
  const g = globalThis as { _tfengine?: unknown; _tfGlobals?: Map<string, unknown> };
  if (g._tfengine !== undefined && g._tfengine !== tf.engine()) {
    throw new Error(`Two TensorFlow.js engines are loaded: globalThis._tfengine is not the engine @peftjs/core uses. ${fix}`);
  }
  const globalTensor = g._tfGlobals?.get("Tensor");
  if (globalTensor !== undefined && globalTensor !== tf.Tensor) {
    throw new Error(`Two copies of @tensorflow/tfjs-core are loaded: another copy registered its Tensor class before @peftjs/core's. ${fix}`);
  }
  const other = otherLoadedInstance();
  if (other !== undefined) {
    throw new Error(`Two instances of @tensorflow/tfjs-core are loaded: ${other} is not the one @peftjs/core uses (a bundle with tfjs-core inside, plus a package loaded from node_modules?). ${fix}`);
  }
  const copies = tfjsCoreCopies();
  if (copies.size > 1) {
    const list = [...copies].map(([dir, seenBy]) => `  ${dir} (used by ${[...seenBy].join(", ")})`).join("\n");
    throw new Error(`${copies.size} copies of @tensorflow/tfjs-core are installed or loaded:\n${list}\n${fix}`);
  }
}

/** Node only: a CommonJS tfjs-core in the module cache whose exports are not our `tf` (so a second module instance). */
function otherLoadedInstance(): string | undefined {
  const moduleApi = nodeModules()?.module;
  if (moduleApi === undefined) return undefined;
  const cache = moduleApi.createRequire(import.meta.url).cache;
  for (const [file, mod] of Object.entries(cache)) {
    if (!/[\\/]@tensorflow[\\/]tfjs-core[\\/]dist[\\/]/.test(file)) continue;
    const exported = (mod?.exports as { Tensor?: unknown } | undefined)?.Tensor;
    if (exported !== undefined && exported !== tf.Tensor) return file;
  }
  return undefined;
}

/** Node only: tfjs-core package folder (real path) → who loads or resolves it. Empty elsewhere. */
function tfjsCoreCopies(): Map<string, Set<string>> {
  const copies = new Map<string, Set<string>>();
  const node = nodeModules();
  if (node === undefined) return copies;
  const { module: moduleApi, fs, path } = node;
  const add = (file: string, who: string): void => {
    let dir = file;
    try {
      dir = fs.realpathSync(file);
    } catch {
      // keep the unresolved path
    }
    const m = /^(.*[\\/]@tensorflow[\\/]tfjs-core)[\\/]/.exec(dir);
    const root = m?.[1] ?? path.dirname(dir);
    const set = copies.get(root) ?? new Set<string>();
    set.add(who);
    copies.set(root, set);
  };
  const require = moduleApi.createRequire(import.meta.url);
  // Loaded copies (CommonJS builds, which Node uses for tfjs packages).
  for (const file of Object.keys(require.cache)) {
    if (/[\\/]@tensorflow[\\/]tfjs-core[\\/]dist[\\/]/.test(file)) add(file, "loaded");
  }
  // Installed copies: what core and each installed tfjs package would import.
  try {
    add(require.resolve("@tensorflow/tfjs-core/package.json"), "@peftjs/core");
  } catch {
    // no tfjs-core resolvable from here: nothing to compare against
    return copies;
  }
  for (const pkg of ["@tensorflow/tfjs-layers", "@tensorflow/tfjs-backend-cpu", "@tensorflow/tfjs-backend-wasm", "@tensorflow/tfjs-backend-webgpu", "@tensorflow/tfjs-node", "@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs"]) {
    let main: string;
    try {
      main = require.resolve(pkg);
    } catch {
      continue; // not installed
    }
    try {
      add(moduleApi.createRequire(main).resolve("@tensorflow/tfjs-core/package.json"), pkg);
    } catch {
      // that package cannot see tfjs-core at all; it would fail on import, which its own error reports
    }
  }
  return copies;
}

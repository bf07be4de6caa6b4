/**
 * Backend selection: picks the fastest TensorFlow.js backend that is installed and usable here, says why
 * it skipped the others, and checks that only one tfjs-core engine is loaded.
 *
 * Order (DESIGN.md "Backends"): `tensorflow` (tfjs-node-gpu, then tfjs-node: native TensorFlow, CUDA when
 * the -gpu package finds a device), `webgpu` (the browser's `navigator.gpu`; in Node the Dawn binding from
 * the npm `webgpu` package), `wasm`, `cpu`. Every package beyond tfjs-core and the cpu backend is optional:
 * a missing one is a skip with a reason, never a crash. Packages are loaded with a computed specifier so
 * that bundlers and TypeScript do not require them to be present.
 */
import { nodeModules } from "#platform";
import { tf } from "../tf.js";
import { resolveLogger } from "../log.js";
import { registerKernels } from "../kernels/register.js";
import { BACKEND_ORDER, BackendUnavailableError } from "./types.js";
import type { Attempt, BackendChoice, BackendName, Context, SelectBackendOptions, SkippedBackend } from "./types.js";
import { currentBackendName, errorMessage, importOptional, isNode } from "./util.js";
import { tryWebgpu } from "./webgpu.js";

/**
 * Chooses and activates a backend (`tf.setBackend`), after a one-op smoke test. Logs one line per
 * candidate tried: chosen, or skipped and why. On failure the previously active backend is restored.
 */
export async function selectBackend(options: SelectBackendOptions = {}): Promise<BackendChoice> {
  const logger = resolveLogger(options);
  const log = options.log ?? ((line: string) => logger.info(line));
  const preferred = options.prefer === undefined ? undefined : typeof options.prefer === "string" ? [options.prefer] : [...options.prefer];
  if (preferred !== undefined) {
    if (preferred.length === 0) throw new Error("selectBackend: prefer is empty; name at least one of " + BACKEND_ORDER.join(", ") + ", or leave it out.");
    for (const name of preferred) {
      if (!BACKEND_ORDER.includes(name)) {
        throw new Error(`selectBackend: unknown backend "${String(name)}" in prefer. Valid names: ${BACKEND_ORDER.join(", ")}.`);
      }
    }
  }
  const candidates = preferred ?? [...BACKEND_ORDER];
  const ctx: Context = {
    requireGpu: options.requireGpu === true,
    allowSoftwareAdapter: options.allowSoftwareAdapter === true && options.requireGpu !== true,
    wasmPaths: options.wasmPaths,
    load: (pkg) => importOptional(pkg, options.loaders?.[pkg]),
  };
  const previous = currentBackendName();
  const skipped: SkippedBackend[] = [];

  const choose = (name: BackendName, attempt: Extract<Attempt, { ok: true }>): BackendChoice => {
    const addedKernels = registerKernels(name);
    log(`[peftjs] backend ${name}: chosen — ${attempt.reason}${addedKernels.length > 0 ? `; added kernels: ${addedKernels.join(", ")}` : ""}`);
    const choice: BackendChoice = { name, reason: attempt.reason, isGpu: attempt.isGpu, skipped, addedKernels };
    if (attempt.adapterInfo !== undefined) choice.adapterInfo = attempt.adapterInfo;
    return choice;
  };
  // In the default order, native TensorFlow on the CPU (plain tfjs-node) is held back while WebGPU is
  // tried: a hardware adapter beats it; anything else (no adapter, a software one) does not.
  let heldBack: Extract<Attempt, { ok: true }> | undefined;

  for (const name of candidates) {
    let attempt: Attempt;
    try {
      attempt = await tryBackend(name, ctx);
      if (attempt.ok) {
        const smoke = await smokeTest(name);
        if (smoke !== null) attempt = { ok: false, reason: smoke };
      }
    } catch (e) {
      attempt = { ok: false, reason: `unexpected error: ${errorMessage(e)}` };
    }
    if (attempt.ok && name === "tensorflow" && !attempt.isGpu && preferred === undefined && candidates.includes("webgpu")) {
      heldBack = attempt;
      continue;
    }
    if (attempt.ok && (heldBack === undefined || attempt.isGpu)) return choose(name, attempt);
    if (!attempt.ok) {
      log(`[peftjs] backend ${name}: skipped — ${attempt.reason}`);
      skipped.push({ name, reason: attempt.reason });
    } else {
      log(`[peftjs] backend ${name}: skipped — ${attempt.reason}, but not a GPU: native TensorFlow on the CPU is faster`);
      skipped.push({ name, reason: `${attempt.reason}, but not a GPU` });
    }
    if (heldBack !== undefined && name === "webgpu") {
      if (await tf.setBackend("tensorflow")) return choose("tensorflow", { ...heldBack, reason: `${heldBack.reason} (WebGPU has no GPU here)` });
      skipped.push({ name: "tensorflow", reason: 'tf.setBackend("tensorflow") failed when switching back to it' });
      heldBack = undefined;
    }
  }

  if (previous !== undefined && currentBackendName() !== previous) await tf.setBackend(previous);
  const reasons = skipped.map((s) => `  ${s.name}: ${s.reason}`).join("\n");
  const what = ctx.requireGpu ? "No GPU backend is usable" : preferred !== undefined ? `None of the preferred backends (${preferred.join(", ")}) is usable` : "No backend is usable";
  const fix = ctx.requireGpu
    ? "Install @tensorflow/tfjs-node-gpu (CUDA) or run where WebGPU has a hardware adapter (the npm `webgpu` package needs Vulkan/Metal/D3D12), or drop requireGpu."
    : "Install the missing package, or leave `prefer` out to fall back to the cpu backend.";
  throw new BackendUnavailableError(`${what}:\n${reasons}\n${fix}`, skipped);
}

async function tryBackend(name: BackendName, ctx: Context): Promise<Attempt> {
  switch (name) {
    case "tensorflow":
      return tryTensorflow(ctx);
    case "webgpu":
      return tryWebgpu(ctx);
    case "wasm":
      if (ctx.requireGpu) return { ok: false, reason: "not a GPU backend (requireGpu is set)" };
      return tryWasm(ctx);
    case "cpu":
      if (ctx.requireGpu) return { ok: false, reason: "not a GPU backend (requireGpu is set)" };
      if (!(await tf.setBackend("cpu"))) return { ok: false, reason: "tf.setBackend('cpu') failed" };
      return { ok: true, reason: "plain JavaScript kernels (@tensorflow/tfjs-backend-cpu), always available", isGpu: false };
  }
}

// ---------------------------------------------------------------------------------------------------------
// tensorflow: tfjs-node-gpu, then tfjs-node. Neither is a dependency of ours; used only when installed.

async function tryTensorflow(ctx: Context): Promise<Attempt> {
  const reasons: string[] = [];
  for (const pkg of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"] as const) {
    const loaded = await ctx.load(pkg);
    if (!loaded.ok) {
      reasons.push(loaded.reason);
      continue;
    }
    // tfjs-node registers its backend under the name "tensorflow".
    if (tf.findBackendFactory("tensorflow") == null) {
      reasons.push(`${pkg} loaded but registered no "tensorflow" backend with this engine — a second copy of @tensorflow/tfjs-core? (see assertSingleEngine())`);
      continue;
    }
    if (!(await tf.setBackend("tensorflow"))) {
      reasons.push(`${pkg} is installed but tf.setBackend("tensorflow") failed (see the warning above)`);
      continue;
    }
    const isGpu = (tf.backend() as { isUsingGpuDevice?: unknown }).isUsingGpuDevice === true;
    if (ctx.requireGpu && !isGpu) {
      reasons.push(`${pkg} runs TensorFlow on the CPU (no CUDA device found${pkg.endsWith("-gpu") ? "" : "; the GPU build is @tensorflow/tfjs-node-gpu"}) and requireGpu is set`);
      continue;
    }
    return { ok: true, reason: `${pkg}: native TensorFlow on the ${isGpu ? "GPU (CUDA)" : "CPU"}`, isGpu };
  }
  return { ok: false, reason: reasons.join("; ") };
}


// ---------------------------------------------------------------------------------------------------------
// wasm

async function tryWasm(ctx: Context): Promise<Attempt> {
  const loaded = await ctx.load("@tensorflow/tfjs-backend-wasm");
  if (!loaded.ok) return { ok: false, reason: loaded.reason };
  const wasm = loaded.module as { setWasmPaths?: (prefix: string) => void };
  // The .wasm files are fetched when the backend initialises; after that their location is fixed.
  if (tf.findBackend("wasm") == null) {
    let prefix = ctx.wasmPaths;
    if (prefix === undefined && isNode()) {
      const node = nodeModules();
      try {
        if (node === undefined) throw new Error("Node's module and path modules are not available in this build");
        prefix = node.path.dirname(node.module.createRequire(import.meta.url).resolve("@tensorflow/tfjs-backend-wasm")) + node.path.sep;
      } catch (e) {
        return { ok: false, reason: `cannot locate the .wasm files of @tensorflow/tfjs-backend-wasm (${errorMessage(e)}); pass wasmPaths` };
      }
    }
    if (prefix !== undefined) {
      if (typeof wasm.setWasmPaths !== "function") return { ok: false, reason: "@tensorflow/tfjs-backend-wasm exports no setWasmPaths(); expected version 4.x" };
      wasm.setWasmPaths(prefix);
    }
  }
  if (tf.findBackendFactory("wasm") == null) return { ok: false, reason: "@tensorflow/tfjs-backend-wasm loaded but registered no backend with this engine — a second copy of @tensorflow/tfjs-core?" };
  if (!(await tf.setBackend("wasm"))) return { ok: false, reason: 'tf.setBackend("wasm") failed: the .wasm files could not be loaded (pass wasmPaths)' };
  return { ok: true, reason: "WebAssembly kernels (@tensorflow/tfjs-backend-wasm)", isGpu: false };
}

// ---------------------------------------------------------------------------------------------------------
// shared helpers

/** One tiny op, read back: a backend that sets but cannot compute is not chosen. */
async function smokeTest(name: BackendName): Promise<string | null> {
  try {
    const t = tf.tidy(() => tf.add(tf.tensor1d([1, 2]), tf.tensor1d([3, 4])));
    const v = await t.data();
    t.dispose();
    if (v[0] !== 4 || v[1] !== 6) return `smoke test on ${name} computed [${String(v[0])}, ${String(v[1])}] instead of [4, 6]`;
    return null;
  } catch (e) {
    return `smoke test on ${name} failed: ${errorMessage(e)}`;
  }
}

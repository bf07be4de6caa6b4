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
import { tf } from "./tf.js";
import { resolveLogger } from "./log.js";
import type { LoggerOptions } from "./log.js";
import { registerKernels } from "./kernels/register.js";

export type BackendName = "tensorflow" | "webgpu" | "wasm" | "cpu";

/** The default order: fastest first. */
export const BACKEND_ORDER: readonly BackendName[] = ["tensorflow", "webgpu", "wasm", "cpu"];

/** What the WebGPU adapter says about itself (`GPUAdapter.info`). */
export interface AdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A software (fallback) adapter: SwiftShader, llvmpipe, WARP, … — slower than wasm for training. */
  isFallbackAdapter: boolean;
}

export interface SkippedBackend {
  name: BackendName;
  reason: string;
}

export interface BackendChoice {
  name: BackendName;
  /** Why this backend was chosen (which package, which device). */
  reason: string;
  /** For `webgpu`: the adapter that runs the kernels. */
  adapterInfo?: AdapterInfo;
  /** True when kernels run on a GPU (CUDA through tfjs-node-gpu, or a hardware WebGPU adapter). */
  isGpu: boolean;
  /** The candidates tried before the chosen one, in order, each with why it was skipped. */
  skipped: SkippedBackend[];
  /** Kernels core registered because this backend lacks them (`UnsortedSegmentSum on wasm`). */
  addedKernels: string[];
}

export interface SelectBackendOptions extends LoggerOptions {
  /**
   * Restricts and orders the candidates, e.g. `"cpu"` or `["webgpu", "wasm"]`. When every preferred
   * backend fails, `selectBackend` throws with each reason instead of falling back to others.
   */
  prefer?: BackendName | readonly BackendName[];
  /** Only accept a backend whose kernels run on a GPU; throws when there is none. */
  requireGpu?: boolean;
  /**
   * Accept a software WebGPU adapter (SwiftShader, llvmpipe). Off by default: such an adapter is slower
   * than wasm. Never accepted together with `requireGpu`.
   */
  allowSoftwareAdapter?: boolean;
  /** Where the wasm backend finds its `.wasm` files (a prefix ending in `/`). Node default: the package's dist folder. */
  wasmPaths?: string;
  /**
   * Receives one line per candidate tried (chosen, or skipped and why). Default: the logger's info level
   * (`logger` / `verbose`), so silent unless asked for.
   */
  log?: (line: string) => void;
  /**
   * How to load each optional package, e.g. `{ "@tensorflow/tfjs-backend-webgpu": () => import("@tensorflow/tfjs-backend-webgpu") }`.
   * Default: a dynamic import by name at run time. Pass loaders when you bundle (esbuild, vite, webpack),
   * so that the bundler includes the package and links it to the same tfjs-core as the rest of the bundle.
   */
  loaders?: Partial<Record<OptionalPackage, () => Promise<unknown>>>;
}

/** The optional packages `selectBackend` may load. */
export type OptionalPackage = "@tensorflow/tfjs-node-gpu" | "@tensorflow/tfjs-node" | "webgpu" | "@tensorflow/tfjs-backend-webgpu" | "@tensorflow/tfjs-backend-wasm";

/** Thrown when no acceptable backend could be set; `skipped` lists every candidate and why it failed. */
export class BackendUnavailableError extends Error {
  override name = "BackendUnavailableError";
  constructor(
    message: string,
    readonly skipped: SkippedBackend[],
  ) {
    super(message);
  }
}

type Attempt = { ok: true; reason: string; isGpu: boolean; adapterInfo?: AdapterInfo } | { ok: false; reason: string };

interface Context {
  requireGpu: boolean;
  allowSoftwareAdapter: boolean;
  wasmPaths: string | undefined;
  load: (pkg: OptionalPackage) => Promise<Loaded>;
}

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
// webgpu

interface GpuAdapterLike {
  info?: Partial<Record<"vendor" | "architecture" | "device" | "description", string>> & { isFallbackAdapter?: boolean };
  isFallbackAdapter?: boolean;
}
interface GpuLike {
  requestAdapter(options?: { powerPreference?: "high-performance" | "low-power" }): Promise<GpuAdapterLike | null>;
}
interface NavigatorLike {
  gpu?: GpuLike;
}

/** Names that only software rasterisers report (Dawn/Chrome adapter info). */
const SOFTWARE_ADAPTER = /swiftshader|llvmpipe|lavapipe|softpipe|\bwarp\b|basic render|\bcpu\b/i;

async function tryWebgpu(ctx: Context): Promise<Attempt> {
  const g = globalThis as { navigator?: NavigatorLike };
  let gpu = g.navigator?.gpu;
  let dawnGlobals: object | undefined;
  if (gpu == null) {
    if (!isNode()) return { ok: false, reason: "this browser has no navigator.gpu (WebGPU unsupported or disabled)" };
    const loaded = await ctx.load("webgpu");
    if (!loaded.ok) return { ok: false, reason: `${loaded.reason} (the Dawn binding for Node)` };
    const dawn = loaded.module as { create?: (flags: string[]) => GpuLike; globals?: object };
    if (typeof dawn.create !== "function") return { ok: false, reason: "the npm `webgpu` package exports no create(); expected webgpu@0.6" };
    try {
      gpu = dawn.create([]);
    } catch (e) {
      return { ok: false, reason: `webgpu create([]) failed: ${errorMessage(e)}` };
    }
    dawnGlobals = dawn.globals;
  }

  // The same request as tfjs-backend-webgpu's factory, so both see the same adapter. (The flag exists only
  // once that package is imported, so read it from the set flags rather than evaluating it.)
  const powerPreference = tf.env().getFlags()["WEBGPU_USE_LOW_POWER_GPU"] === true ? "low-power" : "high-performance";
  let adapter: GpuAdapterLike | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference });
  } catch (e) {
    return { ok: false, reason: `navigator.gpu.requestAdapter() threw: ${errorMessage(e)}` };
  }
  if (adapter == null) {
    return { ok: false, reason: `no WebGPU adapter${dawnGlobals !== undefined ? " (Dawn found no Vulkan/Metal/D3D12 device)" : ""}` };
  }
  const adapterInfo = readAdapterInfo(adapter);
  const described = describeAdapter(adapterInfo);
  if (adapterInfo.isFallbackAdapter && !ctx.allowSoftwareAdapter) {
    const why = ctx.requireGpu ? "requireGpu is set" : "slower than wasm; pass allowSoftwareAdapter to use it anyway";
    return { ok: false, reason: `only a software adapter (${described}); ${why}` };
  }

  if (dawnGlobals !== undefined) {
    // tfjs-backend-webgpu uses the WebGPU globals (GPUBufferUsage, …) and registers its backend at import
    // time only when navigator.gpu exists, so both must be in place before it is imported.
    Object.assign(globalThis, dawnGlobals);
    installNavigatorGpu(gpu);
  }
  const loaded = await ctx.load("@tensorflow/tfjs-backend-webgpu");
  if (!loaded.ok) return { ok: false, reason: loaded.reason };
  if (tf.findBackendFactory("webgpu") == null) {
    return {
      ok: false,
      reason: "@tensorflow/tfjs-backend-webgpu registered no backend: it was imported before navigator.gpu existed. Call selectBackend() before importing it.",
    };
  }
  if (!(await tf.setBackend("webgpu"))) return { ok: false, reason: `tf.setBackend("webgpu") failed on ${described} (see the warning above)` };
  applyWebGpuWorkarounds();
  return { ok: true, reason: `WebGPU on ${described}${adapterInfo.isFallbackAdapter ? " (software adapter, allowed)" : ""}`, isGpu: !adapterInfo.isFallbackAdapter, adapterInfo };
}

/** tfjs-backend-webgpu's `MatMulProgramType.MatMulPackedProgram`. */
export const WEBGPU_MATMUL_PACKED = 3;

/**
 * Works around wrong results in tfjs-backend-webgpu 4.22: the split-K matmul it picks for a long inner
 * dimension with few output tiles (K ≥ 2000, e.g. LoRA's x·Aᵀ on GPT-2's mlp.c_proj: [256, 3072]·[8, 3072]ᵀ)
 * returned values off by up to 0.9 (max |value| 0.59) on an NVIDIA H100 through Dawn, which made unmerged
 * LoRA outputs disagree with merged ones (apps/bench/scripts/webgpu-diag.ts). Forcing the general packed
 * program for every matmul gave results within 1.3e-6 of the cpu backend. Called by `selectBackend`
 * when it picks webgpu; call it yourself if you set the webgpu backend another way.
 */
export function applyWebGpuWorkarounds(): void {
  if (tf.getBackend() !== "webgpu") return;
  tf.env().set("WEBGPU_MATMUL_PROGRAM_TYPE", WEBGPU_MATMUL_PACKED);
}

function readAdapterInfo(adapter: GpuAdapterLike): AdapterInfo {
  const info = adapter.info ?? {};
  const out = {
    vendor: info.vendor ?? "",
    architecture: info.architecture ?? "",
    device: info.device ?? "",
    description: info.description ?? "",
  };
  const text = `${out.vendor} ${out.architecture} ${out.device} ${out.description}`;
  const isFallbackAdapter = info.isFallbackAdapter === true || adapter.isFallbackAdapter === true || SOFTWARE_ADAPTER.test(text);
  return { ...out, isFallbackAdapter };
}

function describeAdapter(a: AdapterInfo): string {
  const parts = [a.vendor, a.architecture, a.device, a.description].filter((s) => s !== "");
  return parts.length === 0 ? "an adapter that reports no info" : parts.join(" / ");
}

function installNavigatorGpu(gpu: GpuLike): void {
  const g = globalThis as { navigator?: NavigatorLike };
  if (g.navigator == null) {
    Object.defineProperty(globalThis, "navigator", { value: {}, configurable: true, writable: true });
  }
  Object.defineProperty(g.navigator, "gpu", { value: gpu, configurable: true, writable: true });
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

type Loaded = { ok: true; module: unknown } | { ok: false; reason: string };

/** Imports an optional package (through the caller's loader if given); a missing package is a reason, not an exception. */
async function importOptional(specifier: OptionalPackage, loader?: () => Promise<unknown>): Promise<Loaded> {
  try {
    // By default a computed specifier: bundlers and tsc must not insist on optional packages.
    const module: unknown = loader !== undefined ? await loader() : await import(/* @vite-ignore */ /* webpackIgnore: true */ specifier);
    return { ok: true, module };
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    const msg = errorMessage(e);
    if (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND" || /Cannot find (package|module)|Failed to (resolve|load)/i.test(msg)) {
      if (msg.includes(specifier)) return { ok: false, reason: `${specifier} is not installed` };
    }
    return { ok: false, reason: `${specifier} failed to load: ${msg}` };
  }
}

function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === "string";
}

function currentBackendName(): BackendName | undefined {
  // tf.getBackend() would initialise the default backend as a side effect; read the engine's state instead.
  const name = (tf.engine() as unknown as { backendName?: string | null }).backendName;
  return name != null && (BACKEND_ORDER as readonly string[]).includes(name) ? (name as BackendName) : undefined;
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// ---------------------------------------------------------------------------------------------------------
// one engine

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

// ---------------------------------------------------------------------------------------------------------
// memory

export interface BackendMemory {
  backend: string;
  /** Tensors alive in the engine (the leak counter). */
  numTensors: number;
  numDataBuffers: number;
  /** Bytes of tensor data the engine tracks. */
  numBytes: number;
  /** tfjs's flag: the numbers may miss memory (e.g. string tensors). */
  unreliable: boolean;
  /** WebGPU/WebGL: bytes of GPU buffers in use by tensors. */
  gpuBytesInUse?: number;
  /** WebGPU: bytes of GPU buffers allocated, including the buffer manager's free pool. */
  gpuBytesAllocated?: number;
  /** wasm: size of the WebAssembly heap (it grows, never shrinks). */
  wasmHeapBytes?: number;
}

/** `tf.memory()` plus the backend's own figures where it reports them. */
export function backendMemory(): BackendMemory {
  const m = tf.memory() as ReturnType<typeof tf.memory> & { numBytesInGPU?: number; numBytesAllocatedInGPU?: number };
  const out: BackendMemory = {
    backend: tf.getBackend(),
    numTensors: m.numTensors,
    numDataBuffers: m.numDataBuffers,
    numBytes: m.numBytes,
    unreliable: m.unreliable === true,
  };
  if (typeof m.numBytesInGPU === "number") out.gpuBytesInUse = m.numBytesInGPU;
  if (typeof m.numBytesAllocatedInGPU === "number") out.gpuBytesAllocated = m.numBytesAllocatedInGPU;
  const heap = (tf.backend() as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8?.buffer.byteLength;
  if (typeof heap === "number") out.wasmHeapBytes = heap;
  return out;
}

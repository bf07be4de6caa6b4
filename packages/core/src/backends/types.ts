/** The types backend selection shares: names, the choice it returns, its options and its error. */
import type { LoggerOptions } from "../log.js";

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

export type Attempt = { ok: true; reason: string; isGpu: boolean; adapterInfo?: AdapterInfo } | { ok: false; reason: string };

export interface Context {
  requireGpu: boolean;
  allowSoftwareAdapter: boolean;
  wasmPaths: string | undefined;
  load: (pkg: OptionalPackage) => Promise<Loaded>;
}

/** An optional package, imported or not (with the reason). */
export type Loaded = { ok: true; module: unknown } | { ok: false; reason: string };

/** Backends: selection (select.ts), WebGPU (webgpu.ts), the one-engine check (engine.ts), memory (memory.ts). */
export { selectBackend } from "./select.js";
export { BACKEND_ORDER, BackendUnavailableError } from "./types.js";
export type { BackendName, BackendChoice, SelectBackendOptions, SkippedBackend, AdapterInfo, OptionalPackage } from "./types.js";
export { applyWebGpuWorkarounds, WEBGPU_MATMUL_PACKED } from "./webgpu.js";
export { assertSingleEngine } from "./engine.js";
export { backendMemory } from "./memory.js";
export type { BackendMemory } from "./memory.js";

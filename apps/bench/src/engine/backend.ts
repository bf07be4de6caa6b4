/**
 * Backend choice for the bench: core's `selectBackend` (what a user gets), plus two things a bundle needs.
 * `selectBackend` loads optional packages with computed specifiers so that nothing requires them, which
 * also means a bundler cannot include them; in the bench's bundle (see scripts/bundle.ts) the WebGPU
 * backend is bundled and preloaded here — Dawn's `navigator.gpu` first, since tfjs-backend-webgpu
 * registers itself at import only when navigator.gpu exists — and a stub package beside the bundle
 * lets `selectBackend`'s own import of it resolve.
 */
import { selectBackend } from "@peftjs/core";
import type { BackendChoice } from "@peftjs/core";
import type { BackendName } from "../args.js";
import { buildStamp } from "../provenance.js";

async function preloadWebgpu(log: (line: string) => void): Promise<void> {
  const g = globalThis as { navigator?: { gpu?: unknown } };
  if (g.navigator?.gpu == null) {
    try {
      // webgpu is external to the bundle (a native binding); a literal specifier keeps it that way.
      const dawn = (await import("webgpu")) as unknown as { create: (flags: string[]) => unknown; globals: object };
      Object.assign(globalThis, dawn.globals);
      if (g.navigator == null) Object.defineProperty(globalThis, "navigator", { value: {}, configurable: true, writable: true });
      Object.defineProperty(g.navigator, "gpu", { value: dawn.create([]), configurable: true, writable: true });
    } catch (e) {
      log(`[bench] webgpu binding not loaded: ${(e as Error).message}`);
      return;
    }
  }
  await import("@tensorflow/tfjs-backend-webgpu");
}

export interface BenchBackend {
  choice: BackendChoice;
  /** Kernels core registered because the backend lacks them (named in the report's notes). */
  addedKernels: string[];
}

export async function setupBackend(preference: "auto" | BackendName, log: (line: string) => void, allowSoftwareAdapter = false): Promise<BenchBackend> {
  if (buildStamp() !== null && (preference === "auto" || preference === "webgpu")) await preloadWebgpu(log);
  const choice = await selectBackend({ ...(preference === "auto" ? {} : { prefer: preference }), allowSoftwareAdapter, log });
  return { choice, addedKernels: choice.addedKernels };
}

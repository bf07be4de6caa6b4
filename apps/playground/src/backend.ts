/**
 * The page's backend: WebGPU when the browser has a (hardware) adapter, else wasm, else cpu — core's
 * `selectBackend` with loaders, so Vite bundles the optional backends (each in its own chunk, loaded only when
 * tried). The wasm backend's .wasm files are imported as URLs: Vite copies them into the build and the page
 * serves them itself (nothing from a CDN).
 */
import { selectBackend } from "@peftjs/core";
import type { BackendChoice, BackendName } from "@peftjs/core";
import wasmPlain from "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url";
import wasmSimd from "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url";
import wasmThreadedSimd from "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url";

export const PAGE_BACKENDS: readonly BackendName[] = ["webgpu", "wasm", "cpu"];

/** Picks and activates the backend (`forced`: only that one, e.g. from the page's `?backend=wasm`). */
export async function pickBackend(forced: BackendName | null, log: (line: string) => void): Promise<BackendChoice> {
  return selectBackend({
    prefer: forced === null ? PAGE_BACKENDS : [forced],
    log,
    loaders: {
      "@tensorflow/tfjs-backend-webgpu": () => import("@tensorflow/tfjs-backend-webgpu"),
      "@tensorflow/tfjs-backend-wasm": async () => {
        const wasm = await import("@tensorflow/tfjs-backend-wasm");
        wasm.setWasmPaths({
          "tfjs-backend-wasm.wasm": wasmPlain,
          "tfjs-backend-wasm-simd.wasm": wasmSimd,
          "tfjs-backend-wasm-threaded-simd.wasm": wasmThreadedSimd,
        });
        return wasm;
      },
    },
  });
}

/** `?backend=wasm` (or webgpu / cpu) in the page's address, else null (pick the best). */
export function forcedBackend(search: string): BackendName | null {
  const name = new URLSearchParams(search).get("backend");
  if (name === null || name === "") return null;
  if (!(PAGE_BACKENDS as readonly string[]).includes(name)) throw new Error(`?backend=${name}: use one of ${PAGE_BACKENDS.join(", ")}.`);
  return name as BackendName;
}

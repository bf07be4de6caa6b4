/** Helpers backend selection shares: optional imports, the runtime, the engine's current backend. */
import { tf } from "../tf.js";
import { BACKEND_ORDER } from "./types.js";
import type { BackendName, Loaded, OptionalPackage } from "./types.js";

/** Imports an optional package (through the caller's loader if given); a missing package is a reason, not an exception. */
export async function importOptional(specifier: OptionalPackage, loader?: () => Promise<unknown>): Promise<Loaded> {
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

export function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === "string";
}

export function currentBackendName(): BackendName | undefined {
  // tf.getBackend() would initialise the default backend as a side effect; read the engine's state instead.
  const name = (tf.engine() as unknown as { backendName?: string | null }).backendName;
  return name != null && (BACKEND_ORDER as readonly string[]).includes(name) ? (name as BackendName) : undefined;
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

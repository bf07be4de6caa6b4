/**
 * Node's `fs/promises` and `path`, loaded on first use rather than at import: `@peftjs/core` is also imported in
 * browsers, where only the in-memory functions (parseSafetensors, serializeSafetensors) can run.
 */
import type * as NodeFsModule from "node:fs/promises";
import type * as NodePathModule from "node:path";

export type NodeFs = typeof NodeFsModule;
export type NodePath = typeof NodePathModule;

let loaded: Promise<{ fs: NodeFs; path: NodePath }> | undefined;

export function nodeFileSystem(): Promise<{ fs: NodeFs; path: NodePath }> {
  if (typeof process === "undefined" || typeof process.versions?.node !== "string") {
    return Promise.reject(new Error("peftjs file I/O needs Node.js; in a browser use parseSafetensors / serializeSafetensors on bytes."));
  }
  loaded ??= Promise.all([import("node:fs/promises"), import("node:path")]).then(([fs, path]) => ({ fs, path }));
  return loaded;
}

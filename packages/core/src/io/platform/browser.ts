/**
 * The non-Node side of core's platform seam (package.json `imports` "#platform", conditions `browser` and
 * `default`): no file system. Everything that takes a folder path explains what to use instead; the
 * in-memory APIs (adapterFiles, PeftModel.fromFiles, parseSafetensors, …) work everywhere.
 */
import type { NodeFileSystem, NodeModules } from "./types.js";

export const PLATFORM = "browser";

export function nodeFileSystem(): Promise<NodeFileSystem> {
  return Promise.reject(
    new Error(
      "peftjs: reading or writing a folder by path needs Node.js (this build of @peftjs/core has no file system). " +
        "In a browser use the in-memory APIs: peftModel.adapterFiles() to get the files as bytes, PeftModel.fromFiles() / " +
        "readFileList() to load picked or dropped files, parseSafetensors / serializeSafetensors on bytes.",
    ),
  );
}

/** No Node modules here: backend selection skips its Node-only checks. */
export function nodeModules(): NodeModules | undefined {
  return undefined;
}

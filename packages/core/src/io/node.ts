/**
 * Node's `fs/promises` and `path` for core's file functions. They come through the package's `#platform`
 * import (package.json `imports`): Node resolves it to `platform/node.ts`, browser bundlers to
 * `platform/browser.ts`, whose `nodeFileSystem()` rejects with an error naming the in-memory APIs. So a
 * browser bundle of `@peftjs/core` holds no Node built-in module.
 */
import { nodeFileSystem as platformFileSystem } from "#platform";
import type { NodeFileSystem } from "./platform/types.js";

export type { NodeFs, NodePath, NodeFileSystem } from "./platform/types.js";

/** Node's file system modules; rejects outside Node (browsers) with an error naming the in-memory alternative. */
export function nodeFileSystem(): Promise<NodeFileSystem> {
  return platformFileSystem();
}

/**
 * The Node side of core's platform seam (package.json `imports` "#platform", condition `node`). Only this
 * file imports Node's built-in modules; browsers and other non-Node bundles get `./browser.ts` instead, so
 * `node:fs` never enters a browser bundle.
 */
import * as fsSync from "node:fs";
import * as fs from "node:fs/promises";
import * as nodeModule from "node:module";
import * as path from "node:path";

import type { NodeFileSystem, NodeModules } from "./types.js";

export const PLATFORM = "node";

const nodeFs: NodeFileSystem = { fs, path };

export function nodeFileSystem(): Promise<NodeFileSystem> {
  return Promise.resolve(nodeFs);
}

const modules: NodeModules = { module: nodeModule, fs: fsSync, path };

/** Node's `module`, `fs` and `path` for backend selection (locating .wasm files, counting tfjs-core copies). */
export function nodeModules(): NodeModules | undefined {
  return modules;
}

/** What each side of the "#platform" seam provides (types only: erased from every bundle). */
import type * as NodeFsSyncModule from "node:fs";
import type * as NodeFsModule from "node:fs/promises";
import type * as NodeModuleModule from "node:module";
import type * as NodePathModule from "node:path";

export type NodeFs = typeof NodeFsModule;
export type NodePath = typeof NodePathModule;

export interface NodeFileSystem {
  fs: NodeFs;
  path: NodePath;
}

export interface NodeModules {
  module: typeof NodeModuleModule;
  fs: typeof NodeFsSyncModule;
  path: NodePath;
}

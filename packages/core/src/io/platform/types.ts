/** What each side of the "#platform" seam provides (types only: erased from every bundle). */
import type * as NodeFsModule from "node:fs/promises";
import type * as NodePathModule from "node:path";

export type NodeFs = typeof NodeFsModule;
export type NodePath = typeof NodePathModule;

export interface NodeFileSystem {
  fs: NodeFs;
  path: NodePath;
}

/**
 * Where a result came from: git commit, package versions, Node, CPU, NVIDIA card. The git sha is read
 * from `.git` directly (no `git` binary needed), else taken from the bundle's build stamp, else from
 * `PEFTJS_GIT_SHA`. Versions come from the workspace's package.json files, or the bundle's stamp.
 */
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join, resolve } from "node:path";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import type { Provenance } from "./results.js";

/** Stamped into the bundle by scripts/bundle.ts (esbuild `define`); undefined when run from source. */
export interface BuildStamp {
  gitSha: string | null;
  packages: Record<string, string>;
  builtAt: string;
}
declare const __PEFTJS_BUILD__: BuildStamp | undefined;

export function buildStamp(): BuildStamp | null {
  return typeof __PEFTJS_BUILD__ === "undefined" ? null : __PEFTJS_BUILD__;
}

/** The repository root when running from source (apps/bench/src → ../../..); null in a bundle. */
export function repoRoot(): string | null {
  if (buildStamp() !== null) return null;
  const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
  return existsSync(join(root, "pnpm-workspace.yaml")) ? root : null;
}

/** Reads HEAD's commit from a `.git` folder (or `.git` file of a worktree); null when it cannot. */
export function readGitSha(startDir: string): string | null {
  let dir = resolve(startDir);
  for (;;) {
    const dotGit = join(dir, ".git");
    if (existsSync(dotGit)) return shaFromGitDir(dotGit);
    const parent = dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

function shaFromGitDir(dotGit: string): string | null {
  try {
    let gitDir = dotGit;
    if (statSync(dotGit).isFile()) {
      const m = /^gitdir:\s*(.+)$/m.exec(readFileSync(dotGit, "utf8"));
      if (m === null) return null;
      gitDir = resolve(dirname(dotGit), m[1]!.trim());
    }
    const head = readFileSync(join(gitDir, "HEAD"), "utf8").trim();
    if (/^[0-9a-f]{40}$/.test(head)) return head;
    const ref = /^ref:\s*(.+)$/.exec(head)?.[1];
    if (ref === undefined) return null;
    // Worktrees keep shared refs in the common dir.
    const common = existsSync(join(gitDir, "commondir")) ? resolve(gitDir, readFileSync(join(gitDir, "commondir"), "utf8").trim()) : gitDir;
    for (const base of [gitDir, common]) {
      const loose = join(base, ref);
      if (existsSync(loose)) return readFileSync(loose, "utf8").trim();
    }
    const packed = join(common, "packed-refs");
    if (existsSync(packed)) {
      for (const line of readFileSync(packed, "utf8").split("\n")) {
        const [sha, name] = line.trim().split(" ");
        if (name === ref && sha !== undefined && /^[0-9a-f]{40}$/.test(sha)) return sha;
      }
    }
    return null;
  } catch {
    return null;
  }
}

/** Versions of the workspace packages and of tfjs, read from their package.json files. */
export function readPackageVersions(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const group of ["packages", "apps"]) {
    const dir = join(root, group);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir).sort()) {
      const file = join(dir, name, "package.json");
      if (!existsSync(file)) continue;
      const pkg = JSON.parse(readFileSync(file, "utf8")) as { name?: string; version?: string };
      if (pkg.name !== undefined && pkg.version !== undefined) out[pkg.name] = pkg.version;
    }
  }
  const require = createRequire(join(root, "packages", "core", "package.json"));
  for (const dep of ["@tensorflow/tfjs-core", "@tensorflow/tfjs-backend-webgpu", "webgpu"]) {
    try {
      const pkg = JSON.parse(readFileSync(require.resolve(`${dep}/package.json`), "utf8")) as { version: string };
      out[dep] = pkg.version;
    } catch {
      // Optional dependency not installed: not part of this run.
    }
  }
  return out;
}

/** The NVIDIA card, from PEFTJS_GPU_NAME or `nvidia-smi` when present; null otherwise. */
export function readGpuInfo(env: NodeJS.ProcessEnv = process.env): Provenance["gpu"] {
  const fromEnv = env.PEFTJS_GPU_NAME;
  if (fromEnv !== undefined && fromEnv !== "") return { name: fromEnv, driver: env.PEFTJS_GPU_DRIVER ?? null, memoryMiB: null };
  try {
    const out = execFileSync("nvidia-smi", ["--query-gpu=name,driver_version,memory.total", "--format=csv,noheader,nounits"], {
      encoding: "utf8",
      timeout: 10_000,
      stdio: ["ignore", "pipe", "ignore"],
    });
    return parseNvidiaSmi(out);
  } catch {
    return null;
  }
}

/** First line of `nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader,nounits`. */
export function parseNvidiaSmi(out: string): Provenance["gpu"] {
  const line = out.split("\n").find((l) => l.trim() !== "");
  if (line === undefined) return null;
  const [name, driver, mem] = line.split(",").map((s) => s.trim());
  if (name === undefined || name === "") return null;
  const memoryMiB = mem === undefined ? NaN : Number(mem);
  return { name, driver: driver === undefined || driver === "" ? null : driver, memoryMiB: Number.isFinite(memoryMiB) ? Math.round(memoryMiB) : null };
}

export interface ProvenanceInput {
  backend: string;
  backendNotes: string[];
  adapter: Provenance["adapter"];
  command: string[];
}

export function collectProvenance(input: ProvenanceInput, env: NodeJS.ProcessEnv = process.env): Provenance {
  const stamp = buildStamp();
  const root = repoRoot();
  let gitSha: string | null = null;
  let gitShaSource = "unknown";
  if (stamp?.gitSha != null) [gitSha, gitShaSource] = [stamp.gitSha, "bundle"];
  if (gitSha === null && root !== null) {
    gitSha = readGitSha(root);
    if (gitSha !== null) gitShaSource = ".git";
  }
  if (gitSha === null && env.PEFTJS_GIT_SHA !== undefined && env.PEFTJS_GIT_SHA !== "") [gitSha, gitShaSource] = [env.PEFTJS_GIT_SHA, "env PEFTJS_GIT_SHA"];
  const cpu = cpus();
  return {
    gitSha,
    gitShaSource,
    packages: stamp?.packages ?? (root === null ? {} : readPackageVersions(root)),
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    cpu: { model: cpu[0]?.model.trim() ?? "unknown", count: cpu.length },
    backend: input.backend,
    backendNotes: input.backendNotes,
    adapter: input.adapter,
    gpu: readGpuInfo(env),
    command: input.command,
    bundled: stamp !== null,
  };
}

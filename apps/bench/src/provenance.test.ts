import { describe, it, expect } from "vitest";
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseNvidiaSmi, readGitSha, readGpuInfo } from "./provenance.js";

const A = "a".repeat(40);
const B = "b".repeat(40);

function repo(): string {
  const dir = mkdtempSync(join(tmpdir(), "bench-git-"));
  mkdirSync(join(dir, ".git", "refs", "heads"), { recursive: true });
  mkdirSync(join(dir, "sub", "deeper"), { recursive: true });
  return dir;
}

describe("provenance", () => {
  it("reads HEAD through a loose ref, from a subfolder", () => {
    const dir = repo();
    writeFileSync(join(dir, ".git", "HEAD"), "ref: refs/heads/main\n");
    writeFileSync(join(dir, ".git", "refs", "heads", "main"), `${A}\n`);
    expect(readGitSha(join(dir, "sub", "deeper"))).toBe(A);
  });

  it("reads packed refs and detached heads", () => {
    const dir = repo();
    writeFileSync(join(dir, ".git", "HEAD"), "ref: refs/heads/dev\n");
    writeFileSync(join(dir, ".git", "packed-refs"), `# pack-refs with: peeled fully-peeled sorted\n${A} refs/heads/main\n${B} refs/heads/dev\n`);
    expect(readGitSha(dir)).toBe(B);
    writeFileSync(join(dir, ".git", "HEAD"), `${A}\n`);
    expect(readGitSha(dir)).toBe(A);
  });

  it("follows a worktree's .git file to its gitdir and common dir", () => {
    const main = repo();
    writeFileSync(join(main, ".git", "refs", "heads", "feature"), `${B}\n`);
    const wtGit = join(main, ".git", "worktrees", "wt");
    mkdirSync(wtGit, { recursive: true });
    writeFileSync(join(wtGit, "HEAD"), "ref: refs/heads/feature\n");
    writeFileSync(join(wtGit, "commondir"), "../..\n");
    const wt = mkdtempSync(join(tmpdir(), "bench-wt-"));
    writeFileSync(join(wt, ".git"), `gitdir: ${wtGit}\n`);
    expect(readGitSha(wt)).toBe(B);
  });

  it("returns null outside a repository or for a broken HEAD", () => {
    const dir = repo();
    writeFileSync(join(dir, ".git", "HEAD"), "ref: refs/heads/missing\n");
    expect(readGitSha(dir)).toBeNull();
  });

  it("parses nvidia-smi's csv and prefers PEFTJS_GPU_NAME", () => {
    expect(parseNvidiaSmi("NVIDIA H100 80GB HBM3, 580.95.05, 81559\n")).toEqual({ name: "NVIDIA H100 80GB HBM3", driver: "580.95.05", memoryMiB: 81559 });
    expect(parseNvidiaSmi("\n")).toBeNull();
    expect(readGpuInfo({ PEFTJS_GPU_NAME: "Test GPU" })).toEqual({ name: "Test GPU", driver: null, memoryMiB: null });
  });
});

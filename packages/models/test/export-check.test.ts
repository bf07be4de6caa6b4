/**
 * The reverse direction, re-run: folders saved here (scripts/export-for-check.ts: every architecture, family
 * and RoPE variant, random init) load in transformers and give our logits, loss and greedy tokens
 * (scripts/check_export.py). Needs Python with torch + transformers: set PEFTJS_PYTHON (e.g.
 * /work/pyref/bin/python) or have them importable from `python3`; otherwise the test is skipped with a
 * printed line (CI has no torch). The committed scripts/check_export.results.txt is the last run's table.
 */
import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const PACKAGE = fileURLToPath(new URL("..", import.meta.url));
const python = process.env.PEFTJS_PYTHON ?? "python3";
const probe = spawnSync(python, ["-c", "import torch, transformers"], { encoding: "utf8" });
const available = probe.status === 0;
if (!available) {
  console.log(`export check skipped: ${python} cannot import torch and transformers (set PEFTJS_PYTHON to a Python that can, e.g. /work/pyref/bin/python).`);
}

/** Runs a command without blocking the worker (vitest's RPC times out under a minutes-long spawnSync). */
function run(cmd: string, args: string[], cwd: string): Promise<{ status: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, maxBuffer: 64 * 1024 * 1024, encoding: "utf8" }, (error, stdout, stderr) => {
      resolve({ status: error === null ? 0 : typeof error.code === "number" ? error.code : 1, out: `${stdout}${stderr}` });
    });
  });
}

describe("saved folders load in transformers with our numbers", () => {
  it.skipIf(!available)(
    "check_export.py passes on a fresh export",
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "peftjs-export-check-"));
      try {
        const exported = await run(process.execPath, ["--conditions=@peftjs/source", "--import", "tsx", join(PACKAGE, "scripts/export-for-check.ts"), dir], PACKAGE);
        expect(exported.status, exported.out).toBe(0);
        const checked = await run(python, [join(PACKAGE, "scripts/check_export.py"), dir], PACKAGE);
        expect(checked.out).toContain("all checks passed");
        expect(checked.status, checked.out).toBe(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    600_000,
  );
});

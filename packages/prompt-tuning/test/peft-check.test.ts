/**
 * Adapters trained here load in Python PEFT with our logits and our greedy tokens: exports them
 * (scripts/export-for-check.ts) and runs scripts/check_export.py with the Python named by PEFTJS_PYTHON
 * (e.g. PEFTJS_PYTHON=/work/pyref/bin/python). CI has no torch: without PEFTJS_PYTHON the check is skipped
 * with a printed line; the committed PEFT-made fixtures (fixtures.test.ts) still run everywhere.
 */
import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { exportAdapters } from "../scripts/export-for-check.js";

const PYTHON = process.env.PEFTJS_PYTHON;
const CHECK = fileURLToPath(new URL("../scripts/check_export.py", import.meta.url));

describe("adapters trained here, checked by Python PEFT", () => {
  if (PYTHON === undefined || PYTHON === "") {
    it("skipped: set PEFTJS_PYTHON to a Python with torch, transformers and peft to run it", () => {
      console.log("peft-check skipped: PEFTJS_PYTHON is not set (needs torch + transformers + peft 0.21).");
    });
    return;
  }
  it("load in PEFT with the same logits (≤ 1e-4) and the same greedy tokens", async () => {
    const dir = mkdtempSync(join(tmpdir(), "peftjs-prompt-check-"));
    try {
      const cases = await exportAdapters(dir);
      const report = execFileSync(PYTHON, [CHECK, dir], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, TRANSFORMERS_VERBOSITY: "error" } });
      console.log(report);
      for (const c of cases) expect(report).toMatch(new RegExp(`^${c} .* ok$`, "m"));
      expect(report).toContain("all cases pass");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);
});

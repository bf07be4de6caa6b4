import { describe, expect, it } from "vitest";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PRESETS } from "../presets.js";
import { runCombination } from "./combination.js";

describe("combination section (smoke shape, no peer)", () => {
  it("times every combination type; cat and the single adapter are exact; reports are written", { timeout: 120_000 }, async () => {
    const out = await mkdtemp(join(tmpdir(), "bench-combination-"));
    try {
      const shape = { ...PRESETS.smoke.timing.model, vocabSize: 64 };
      const s = await runCombination(shape, out, { seed: 0, peer: false, python: "python3", peerScript: "", log: () => undefined });
      expect(s.rows.map((r) => r.label)).toContain("dare_ties_svd");
      expect(s.rows.every((r) => r.finite && r.ms > 0)).toBe(true);
      expect(s.rows.find((r) => r.label === "cat")!.relDistanceFromExact).toBeLessThan(1e-5);
      expect(s.rows.find((r) => r.label === "single")!.relDistanceFromExact).toBeLessThan(1e-5);
      expect(await readFile(join(out, "combination", "combination.md"), "utf8")).toMatch(/\| cat \| – \| 16 \|/);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});

/**
 * The smoke path of `pnpm bench` in-process (what CI runs): every phase on tiny shapes, the three
 * reports written, results.json valid against its schema, and the methods' quality numbers not all equal.
 */
import { describe, it, expect } from "vitest";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "../src/args.js";
import { runBench } from "../src/run.js";
import { validate } from "../src/schema.js";
import type { BenchResults, PeerResults } from "../src/results.js";

const summary = (median: number) => ({ n: 3, median, p10: median, p90: median, mean: median, min: median, max: median });

describe("bench smoke run", () => {
  it("runs every phase on the cpu backend and writes valid reports; methods differ in quality", async () => {
    const out = mkdtempSync(join(tmpdir(), "bench-smoke-"));
    const { results, files } = await runBench(parseArgs(["--smoke", "--backend", "cpu", "--out", out, "--no-progress", "--peer", "--python", "/nonexistent/python3"]));
    expect(files.map((f) => f.slice(out.length + 1)).sort()).toEqual(["report.html", "report.md", "results.json", "results.schema.json"]);
    for (const f of files) expect(existsSync(f)).toBe(true);

    const json = JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as BenchResults;
    expect(validate(json)).toEqual([]);
    expect(json.methods.map((m) => m.name)).toEqual(["full", "lora", "rslora", "dora", "houlsby", "pfeiffer", "par_bn", "prompt-tuning", "prefix-tuning", "p-tuning"]);
    for (const m of json.methods) {
      expect(m.error).toBeNull();
      expect(m.quality).not.toBeNull();
      expect(m.training!.numTensors.drift).toBe(0);
      expect(m.training!.stepMs.n).toBe(3);
    }
    const full = json.methods[0]!;
    expect(full.trainable!.percent).toBe(100);
    expect(full.inferenceMergedMs).toBeNull();
    for (const m of json.methods.slice(1)) {
      expect(m.trainable!.percent).toBeLessThan(100);
      if (m.peftConfig!.peft_type === "LORA") {
        expect(m.merge!.maxAbsLogitDiff).toBeLessThan(1e-4);
      } else {
        // Bottleneck adapters and prompt methods cannot merge (canMerge false): no merge figures.
        expect(["BOTTLENECK", "PROMPT_TUNING", "PREFIX_TUNING", "P_TUNING"]).toContain(m.peftConfig!.peft_type);
        expect(m.merge).toBeNull();
        expect(m.inferenceMergedMs).toBeNull();
      }
    }
    const losses = json.methods.map((m) => m.quality!.heldOutLoss);
    expect(new Set(losses).size).toBeGreaterThan(1);
    expect(json.peer).toMatchObject({ status: "unavailable" });
    expect(results.notes.filter((n) => /leak/.test(n))).toEqual([]);

    const md = readFileSync(join(out, "report.md"), "utf8");
    expect(md).toContain("| full fine-tuning |");
    expect(md).toContain("Peer unavailable: /nonexistent/python3 cannot be started");
    expect(readFileSync(join(out, "report.html"), "utf8").match(/<svg /g)?.length).toBe(3);
  }, 120_000);

  it("takes a local JSONL dataset, a method subset and an existing peer result file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bench-local-"));
    const data = join(dir, "pairs.jsonl");
    writeFileSync(data, Array.from({ length: 40 }, (_, i) => JSON.stringify({ prompt: `${i}+1=`, completion: `${i + 1}` })).join("\n"));
    const peer: PeerResults = {
      schemaVersion: 1,
      tool: "PyTorch + PEFT",
      versions: { torch: "2.11.0" },
      device: "cpu",
      deviceName: "x86_64",
      dtype: "float32",
      attnImplementation: "eager",
      baseInferenceMs: null,
      methods: [
        {
          name: "lora",
          config: "r=8",
          trainable: { params: 1, total: 2, percent: 50 },
          adapterFileBytes: null,
          training: { batch: 2, seq: 12, warmupSteps: 1, firstStepMs: 1, stepMs: summary(1), tokensPerSecond: 24000, peakBytes: null, reservedBytes: null },
          inferenceUnmergedMs: null,
          inferenceMergedMs: null,
          merge: null,
          error: null,
        },
      ],
    };
    writeFileSync(join(dir, "peer.json"), JSON.stringify(peer));
    const out = join(dir, "out");
    const { results } = await runBench(
      parseArgs(["--smoke", "--backend", "cpu", "--out", out, "--no-progress", "--methods", "lora", "--data", data, "--peer-results", join(dir, "peer.json")]),
    );
    expect(results.config.quality.dataset).toMatch(/^local .*pairs\.jsonl \(\d+ × 16 tokens, utf-8 bytes\)/);
    expect(results.config.quality.model.vocabSize).toBe(257);
    expect(results.methods.map((m) => m.name)).toEqual(["lora"]);
    expect(results.peer).toMatchObject({ status: "ok" });
    expect(readFileSync(join(out, "report.md"), "utf8")).toContain("## peftjs vs PyTorch + PEFT");
  }, 120_000);
});

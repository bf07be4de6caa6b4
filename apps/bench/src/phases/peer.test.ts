import { describe, it, expect } from "vitest";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { peerConfig, readPeerResults, runPeer } from "./peer.js";
import { PRESETS } from "../presets.js";
import type { MethodResult } from "../results.js";

const shape = { family: "gpt2" as const, nLayer: 12, nEmbd: 768, nHead: 12, vocabSize: 50257, nPositions: 1024, params: 124439808, origin: "random init" };

function method(name: string, error: string | null, peftConfig: Record<string, unknown> | null): MethodResult {
  return {
    name,
    label: name,
    config: `${name} config`,
    peftConfig,
    learningRate: 0.002,
    trainable: null,
    adapterFileBytes: null,
    training: null,
    quality: null,
    inferenceUnmergedMs: null,
    inferenceMergedMs: null,
    merge: null,
    error,
  };
}

describe("peer", () => {
  it("config: the timing shape and steps, every method that ran with its adapter_config.json", () => {
    const lora = { peft_type: "LORA", r: 8, lora_alpha: 16, target_modules: ["c_attn"], fan_in_fan_out: true };
    const cfg = peerConfig(shape, PRESETS.small, 256, 8, 3, [method("full", null, null), method("lora", null, lora), method("dora", "timing: boom", {})]);
    expect(cfg.model).toEqual({ nLayer: 12, nEmbd: 768, nHead: 12, vocabSize: 50257, nPositions: 1024 });
    expect([cfg.batch, cfg.seq, cfg.seed, cfg.steps, cfg.warmupSteps]).toEqual([8, 256, 3, PRESETS.small.timing.steps, PRESETS.small.timing.warmupSteps]);
    expect(cfg.methods).toEqual([
      { name: "full", config: "full config", learningRate: 0.002, peftConfig: null },
      { name: "lora", config: "lora config", learningRate: 0.002, peftConfig: lora },
    ]);
    expect([cfg.weightDecay, cfg.maxGradNorm, cfg.attnImplementation]).toEqual([0, 1, "eager"]);
  });

  it("rejects a result file that is not JSON or does not match the schema, naming the file", () => {
    const dir = mkdtempSync(join(tmpdir(), "bench-peer-"));
    writeFileSync(join(dir, "bad.json"), "{");
    writeFileSync(join(dir, "wrong.json"), JSON.stringify({ schemaVersion: 1, tool: "x" }));
    expect(() => readPeerResults(join(dir, "bad.json"))).toThrow(/bad\.json: cannot read or parse/);
    expect(() => readPeerResults(join(dir, "wrong.json"))).toThrow(/wrong\.json do not match the schema:[\s\S]*missing required property "versions"/);
  });

  it("a missing interpreter or script makes the peer unavailable with the reason, not a failure", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bench-peer-"));
    const config = peerConfig(shape, PRESETS.smoke, 8, 2, 0, []);
    const script = join(dir, "peer.py");
    expect(await runPeer({ python: "python3", script, outDir: dir, config, log: () => {} })).toEqual({ status: "unavailable", reason: `peer script not found at ${script}` });
    writeFileSync(script, "import sys\nsys.exit(3)\n");
    const none = await runPeer({ python: join(dir, "no-python"), script, outDir: dir, config, log: () => {} });
    expect(none).toMatchObject({ status: "unavailable" });
    expect((none as { reason: string }).reason).toMatch(/cannot be started/);
  });
});

/**
 * The PyTorch + PEFT peer: writes `peer-config.json` (the timing model's shape, batch, steps and every
 * method's adapter_config.json), runs `python3 peer/peer.py` on it in the same run on the same machine,
 * and reads its results back (validated against the schema). Without python3 + torch + transformers + peft
 * the section says why it is missing instead of failing the run.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "@peftjs/core";
import type { MethodResult, ModelShape, PeerResults, PeerSection } from "../results.js";
import { RESULTS_SCHEMA, validate } from "../schema.js";
import type { Preset } from "../presets.js";

export interface PeerConfig {
  model: Pick<ModelShape, "nLayer" | "nEmbd" | "nHead" | "vocabSize" | "nPositions">;
  batch: number;
  seq: number;
  warmupSteps: number;
  steps: number;
  inferenceReps: number;
  mergeReps: number;
  seed: number;
  weightDecay: number;
  maxGradNorm: number;
  attnImplementation: "eager" | "sdpa";
  methods: { name: string; config: string; learningRate: number; peftConfig: Record<string, unknown> | null }[];
}

export function peerConfig(model: ModelShape, preset: Preset, seq: number, batch: number, seed: number, methods: MethodResult[]): PeerConfig {
  const t = preset.timing;
  return {
    model: { nLayer: model.nLayer, nEmbd: model.nEmbd, nHead: model.nHead, vocabSize: model.vocabSize, nPositions: model.nPositions },
    batch,
    seq,
    warmupSteps: t.warmupSteps,
    steps: t.steps,
    inferenceReps: t.inferenceReps,
    mergeReps: t.mergeReps,
    seed,
    weightDecay: 0,
    maxGradNorm: 1.0,
    attnImplementation: "eager",
    methods: methods.filter((m) => m.error === null).map((m) => ({ name: m.name, config: m.config, learningRate: m.learningRate, peftConfig: m.peftConfig })),
  };
}

/** Parses and validates a peer result file; throws naming the file and the first problems. */
export function readPeerResults(path: string): PeerResults {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new Error(`peer results ${path}: cannot read or parse (${(e as Error).message}).`);
  }
  const errors = validate(value, { $ref: "#/$defs/peerResults" }, RESULTS_SCHEMA);
  if (errors.length > 0) throw new Error(`peer results ${path} do not match the schema:\n  ${errors.slice(0, 10).join("\n  ")}`);
  return value as PeerResults;
}

interface Spawned {
  code: number | null;
  stdout: string;
  stderr: string;
  error: Error | null;
}

function run(cmd: string, args: string[], onStderr: (chunk: string) => void, timeoutMs: number): Promise<Spawned> {
  return new Promise((resolve) => {
    let stdout = "";
    let stderr = "";
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    const timer = setTimeout(() => child.kill("SIGTERM"), timeoutMs);
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => {
      const s = d.toString();
      stderr += s;
      onStderr(s);
    });
    child.on("error", (error) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr, error });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, error: null });
    });
  });
}

function lastLine(s: string): string {
  const lines = s.trim().split("\n").filter((l) => l.trim() !== "");
  return lines[lines.length - 1]?.trim() ?? "";
}

export interface RunPeerOptions {
  python: string;
  script: string;
  outDir: string;
  config: PeerConfig;
  log: (line: string) => void;
  timeoutMs?: number;
}

export async function runPeer(o: RunPeerOptions): Promise<PeerSection> {
  if (!existsSync(o.script)) return { status: "unavailable", reason: `peer script not found at ${o.script}` };
  const check = await run(o.python, [o.script, "--config", "-", "--out", "-", "--check"], () => {}, 120_000);
  if (check.error !== null) return { status: "unavailable", reason: `${o.python} cannot be started (${check.error.message})` };
  if (check.code !== 0) return { status: "unavailable", reason: `${o.python} lacks torch, transformers or peft: ${lastLine(check.stderr) || `exit ${check.code}`}` };
  o.log(`peer: ${check.stdout.trim()}`);
  const configPath = join(o.outDir, "peer-config.json");
  const resultPath = join(o.outDir, "peer-results.json");
  await writeFileAtomic(configPath, JSON.stringify(o.config, null, 2) + "\n");
  const res = await run(o.python, [o.script, "--config", configPath, "--out", resultPath], (chunk) => {
    for (const line of chunk.split("\n")) if (line.startsWith("[peer]")) o.log(line);
  }, o.timeoutMs ?? 1_800_000);
  if (res.error !== null) return { status: "unavailable", reason: `the peer could not start (${res.error.message})` };
  if (res.code !== 0) return { status: "unavailable", reason: `the peer failed (exit ${res.code}): ${lastLine(res.stderr)}` };
  try {
    return { status: "ok", source: resultPath, results: readPeerResults(resultPath) };
  } catch (e) {
    return { status: "unavailable", reason: (e as Error).message };
  }
}

// The README's Backends section on a CPU-only machine: `selectBackend()` picks wasm, and the README's
// training example must then run there (tfjs-backend-wasm 4.22 lacks `UnsortedSegmentSum`, which the
// loss's gather gradient needs; core registers it). The losses are checked against the cpu backend's.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { selectBackend, silentLogger, tf } from "@peftjs/core";
import { quickstart } from "./quickstart.js";

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function run(): Promise<number[]> {
  const dir = await mkdtemp(join(tmpdir(), "peftjs-select-backend-"));
  dirs.push(dir);
  return quickstart(join(dir, "adapter"));
}

describe("selectBackend() then the README example", () => {
  it("trains LoRA on wasm on a CPU machine, with the cpu backend's losses", async () => {
    await tf.setBackend("cpu");
    const onCpu = await run();
    const choice = await selectBackend({ logger: silentLogger });
    if (choice.name !== "wasm") {
      // A machine with a GPU (WebGPU) or tfjs-node picks that instead; this test is about CPU-only machines.
      console.log(`select-backend test: selectBackend() chose ${choice.name}, not wasm; the wasm training check is skipped here.`);
      return;
    }
    const numTensors = tf.memory().numTensors;
    const onWasm = await run();
    expect(tf.getBackend()).toBe("wasm");
    expect(onWasm).toHaveLength(40);
    expect(onWasm[39]!).toBeLessThan(onWasm[0]! - 0.2);
    // Same seed, same data: wasm's float32 kernels agree with cpu's to rounding over 40 Adam steps.
    for (let i = 0; i < 40; i++) expect(Math.abs(onWasm[i]! - onCpu[i]!)).toBeLessThan(1e-3);
    // quickstart() disposes what it creates except the merged model's weights it hands back unreferenced:
    // the count may only grow by the model (no per-step leak: 40 steps would add hundreds).
    expect(tf.memory().numTensors - numTensors).toBeLessThan(100);
  }, 300_000);
});

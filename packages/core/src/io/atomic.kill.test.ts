/**
 * kill -9 during saves: writer processes (scripts/save-loop.ts) save a folder in a loop and are killed at random
 * moments. After each kill the folder must hold one complete version (never missing, never a mix), and the
 * recovery rule (recoverInterruptedWrite, run by every save and load) must leave no `.tmp-*` / `.old-*`
 * sibling. The writers run in parallel (one folder each) so that 12 kills take a few seconds.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { recoverInterruptedWrite, writeDirAtomic } from "./atomic.js";

const KILLS = 12;
const script = fileURLToPath(new URL("../../scripts/save-loop.ts", import.meta.url));
let root: string;
beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), "peftjs-kill-"));
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

/** Runs a writer on `dir` until it has saved at least `minSaves` times, waits `extraMs`, then SIGKILLs it. */
function runAndKill(dir: string, start: number, minSaves: number, extraMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--conditions=@peftjs/source", "--import", "tsx", script, dir, String(start)], { stdio: ["ignore", "pipe", "pipe"] });
    let saves = 0;
    let stderr = "";
    let armed = false;
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdout.on("data", (d: Buffer) => {
      saves += d.toString().split("\n").filter((l) => l.startsWith("saved ")).length;
      if (!armed && saves >= minSaves) {
        armed = true;
        setTimeout(() => child.kill("SIGKILL"), extraMs);
      }
    });
    child.on("exit", (code, signal) => {
      if (signal === "SIGKILL") resolve(saves);
      else reject(new Error(`the writer exited (${code}) before it was killed: ${stderr}`));
    });
  });
}

async function versionOf(dir: string): Promise<number> {
  const config = JSON.parse(await fs.readFile(path.join(dir, "adapter_config.json"), "utf8")) as { version: number };
  const nested = JSON.parse(await fs.readFile(path.join(dir, "task1", "adapter_config.json"), "utf8")) as { version: number };
  const weights = await fs.readFile(path.join(dir, "adapter_model.safetensors"));
  expect(nested.version, `${dir}: the two configs are from different saves`).toBe(config.version);
  expect(weights.length).toBe(256 * 1024);
  expect(weights.every((b) => b === config.version % 251), `${dir}: the weights are not from save ${config.version}`).toBe(true);
  return config.version;
}

describe("kill -9 during saves", () => {
  it(`${KILLS} writers killed mid-save: each folder holds one complete version and recovery leaves no leftovers`, async () => {
    const dirs = Array.from({ length: KILLS }, (_, i) => path.join(root, `adapter${i}`));
    // A first version in place, so a kill that lands in the swap has an old folder to lose.
    await Promise.all(dirs.map((d) => writeDirAtomic(d, { "adapter_config.json": '{"version":0}', "adapter_model.safetensors": new Uint8Array(256 * 1024), "task1/adapter_config.json": '{"version":0}' })));
    // Seeded kill times (so a failure can be replayed): 1–6 saves, then 0–40 ms more.
    let seed = 20260601;
    const random = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const saves = await Promise.all(dirs.map((d) => runAndKill(d, 1, 1 + Math.floor(random() * 6), Math.floor(random() * 40))));
    expect(saves.every((n) => n >= 1)).toBe(true);

    let interrupted = 0;
    for (const [i, dir] of dirs.entries()) {
      const before = (await fs.readdir(root)).filter((e) => e.startsWith(`.adapter${i}.`));
      if (before.length > 0) interrupted++;
      await recoverInterruptedWrite(dir);
      const version = await versionOf(dir);
      // The last save it reported, or the one after it (killed after its rename, before printing).
      expect([saves[i], (saves[i] as number) + 1]).toContain(version);
      expect((await fs.readdir(root)).filter((e) => e.startsWith(`.adapter${i}.`))).toEqual([]);
    }
    // Most kills land inside a save (the loop spends its time writing), so leftovers were really recovered.
    console.log(`kill test: ${KILLS} kills, ${interrupted} left a save half-done (recovered)`);
    expect(interrupted).toBeGreaterThan(0);
  }, 120_000);
});

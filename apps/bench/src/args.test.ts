import { describe, it, expect } from "vitest";
import { defaultOptions, parseArgs, usage } from "./args.js";

describe("CLI arguments", () => {
  it("defaults: all methods, best backend, preset by backend", () => {
    expect(parseArgs([])).toEqual(defaultOptions());
  });

  it("parses values in both spellings and flags", () => {
    const o = parseArgs(["--methods", "full,LoRA, dora", "--backend=cpu", "--steps", "5", "--warmup=0", "--seed", "3", "--out", "o", "--peer", "--no-progress"]);
    expect(o.methods).toEqual(["full", "lora", "dora"]);
    expect(o.backend).toBe("cpu");
    expect([o.steps, o.warmup, o.seed, o.out, o.peer, o.progress]).toEqual([5, 0, 3, "o", true, false]);
    expect(parseArgs(["--smoke"]).preset).toBe("smoke");
    expect(parseArgs(["--preset", "small"]).preset).toBe("small");
  });

  it("accepts a bare -- (pnpm bench -- --out x)", () => {
    expect(parseArgs(["--", "--out", "x"])).toEqual({ ...defaultOptions(), out: "x" });
    expect(parseArgs(["--smoke", "--", "--backend", "cpu"]).backend).toBe("cpu");
  });

  it("rejects unknown options, missing values and bad numbers with the fix", () => {
    expect(() => parseArgs(["--step", "3"])).toThrow(/Unknown option "--step".*--steps/);
    expect(() => parseArgs(["--steps"])).toThrow(/--steps needs a value/);
    expect(() => parseArgs(["--steps", "--peer"])).toThrow(/--steps needs a value/);
    expect(() => parseArgs(["--steps", "0"])).toThrow(/integer ≥ 1/);
    expect(() => parseArgs(["--backend", "gpu"])).toThrow(/not one of cpu, wasm, webgpu, tensorflow/);
    expect(() => parseArgs(["--peer", "--peer-results", "x.json"])).toThrow(/exclude each other/);
    expect(() => parseArgs(["extra"])).toThrow(/Unexpected argument/);
  });

  it("usage lists every option", () => {
    for (const name of ["--methods", "--backend", "--preset", "--smoke", "--model", "--data", "--peer", "--out"]) expect(usage()).toContain(name);
  });
});

import { afterEach, describe, expect, it, vi } from "vitest";
import { consoleLogger, getDefaultLogger, resolveLogger, setDefaultLogger, silentLogger, tf } from "./index.js";
import type { Logger } from "./index.js";

function spies(): { info: ReturnType<typeof vi.spyOn>; warn: ReturnType<typeof vi.spyOn>; error: ReturnType<typeof vi.spyOn>; restore: () => void } {
  const info = vi.spyOn(console, "info").mockImplementation(() => undefined);
  const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
  const error = vi.spyOn(console, "error").mockImplementation(() => undefined);
  return { info, warn, error, restore: () => [info, warn, error].forEach((s) => s.mockRestore()) };
}

const initial = getDefaultLogger();
afterEach(() => {
  setDefaultLogger(initial);
});

describe("logger", () => {
  it("by default drops info and debug, shows warnings and errors", () => {
    const s = spies();
    try {
      const log = resolveLogger(undefined);
      log.debug("d");
      log.info("i");
      log.warn("w");
      log.error("e");
      expect(s.info.mock.calls).toEqual([]);
      expect(s.warn.mock.calls).toEqual([["w"]]);
      expect(s.error.mock.calls).toEqual([["e"]]);
    } finally {
      s.restore();
    }
  });

  it("verbose shows info lines; an explicit logger wins over verbose", () => {
    const s = spies();
    try {
      resolveLogger({ verbose: true }).info("shown");
      resolveLogger({ verbose: true }).debug("hidden");
      const seen: string[] = [];
      const mine: Logger = { ...silentLogger, info: (m) => seen.push(m) };
      resolveLogger({ logger: mine, verbose: true }).info("mine");
      resolveLogger({ logger: silentLogger, verbose: true }).warn("dropped");
      expect(s.info.mock.calls).toEqual([["shown"]]);
      expect(s.warn.mock.calls).toEqual([]);
      expect(seen).toEqual(["mine"]);
    } finally {
      s.restore();
    }
  });

  it("setDefaultLogger applies to loggers resolved before it, and returns the previous one", () => {
    const log = resolveLogger({});
    const seen: string[] = [];
    const previous = setDefaultLogger({ ...silentLogger, warn: (m) => seen.push(m) });
    expect(previous).toBe(initial);
    log.warn("late");
    expect(seen).toEqual(["late"]);
    const s = spies();
    try {
      setDefaultLogger("silent");
      log.warn("nothing");
      log.error("nothing");
      setDefaultLogger("debug");
      log.debug("dbg");
      expect(s.info.mock.calls).toEqual([["dbg"]]);
      expect(s.warn.mock.calls).toEqual([]);
      expect(s.error.mock.calls).toEqual([]);
    } finally {
      s.restore();
    }
  });

  it("rejects what is not a logger or a level, naming the fix", () => {
    expect(() => setDefaultLogger({ warn: () => undefined } as unknown as Logger)).toThrow(/"debug" is missing\. Use consoleLogger\("info"\) or silentLogger/);
    expect(() => consoleLogger("loud" as never)).toThrow(/unknown level "loud"; use one of debug, info, warn, error, silent/);
    expect(() => resolveLogger({ logger: null as unknown as Logger })).toThrow(/expected an object with debug, info, warn and error methods/);
  });
});

describe("tfjs banner", () => {
  it("is silenced: the cpu backend's first tensor prints nothing (tfjs' PROD flag is on)", () => {
    expect(tf.env().getBool("PROD")).toBe(true);
    const s = spies();
    try {
      // A fresh cpu backend instance prints the banner on its first write when tfjs' warn is not silenced.
      const Backend = (tf.findBackend("cpu") as object).constructor as new () => { write(values: Float32Array, shape: number[], dtype: string): unknown; dispose(): void };
      const fresh = new Backend();
      fresh.write(new Float32Array([1]), [1], "float32");
      fresh.dispose();
      expect([...s.info.mock.calls, ...s.warn.mock.calls, ...s.error.mock.calls]).toEqual([]);
      // And the check can fail: with tfjs' messages back on, the same call prints the banner.
      tf.env().set("PROD", false);
      const loud = new Backend();
      loud.write(new Float32Array([1]), [1], "float32");
      loud.dispose();
      expect(s.warn.mock.calls.flat().join("")).toMatch(/install our node backend/);
    } finally {
      tf.env().set("PROD", true);
      s.restore();
    }
  });
});

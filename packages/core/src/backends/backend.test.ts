import { createRequire } from "node:module";
import { afterEach, describe, expect, it } from "vitest";
import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import { tf } from "../tf.js";
import { BackendUnavailableError, assertSingleEngine, backendMemory, selectBackend } from "./index.js";

// Other test files assume the cpu backend: put it back after every test here.
afterEach(async () => {
  await tf.setBackend("cpu");
});

function collector(): { lines: string[]; log: (line: string) => void } {
  const lines: string[] = [];
  return { lines, log: (line) => lines.push(line) };
}

/** Deterministic pseudo-random floats in [-1, 1) (no tfjs involved). */
function floats(n: number, seed: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

describe("selectBackend", () => {
  it("without a GPU picks wasm (or cpu) and logs why tensorflow and webgpu were skipped", async () => {
    const { lines, log } = collector();
    const choice = await selectBackend({ log });
    expect(["wasm", "cpu"]).toContain(choice.name);
    expect(tf.getBackend()).toBe(choice.name);
    expect(choice.isGpu).toBe(false);
    const skippedNames = choice.skipped.map((s) => s.name);
    expect(skippedNames.slice(0, 2)).toEqual(["tensorflow", "webgpu"]);
    const tensorflow = choice.skipped[0]!;
    expect(tensorflow.reason).toContain("@tensorflow/tfjs-node-gpu is not installed");
    expect(tensorflow.reason).toContain("@tensorflow/tfjs-node is not installed");
    expect(choice.skipped[1]!.reason.length).toBeGreaterThan(0);
    // One line per candidate tried, in order, the last one the choice.
    expect(lines).toHaveLength(choice.skipped.length + 1);
    expect(lines[0]).toMatch(/^\[peftjs\] backend tensorflow: skipped — /);
    expect(lines[1]).toMatch(/^\[peftjs\] backend webgpu: skipped — /);
    expect(lines.at(-1)).toMatch(new RegExp(`^\\[peftjs\\] backend ${choice.name}: chosen — `));
  });

  it('prefer: "cpu" gives cpu without trying anything else', async () => {
    const { lines, log } = collector();
    const choice = await selectBackend({ prefer: "cpu", log });
    expect(choice).toMatchObject({ name: "cpu", isGpu: false, skipped: [] });
    expect(tf.getBackend()).toBe("cpu");
    expect(lines).toEqual([`[peftjs] backend cpu: chosen — ${choice.reason}`]);
  });

  it("requireGpu fails here with every candidate's reason", async () => {
    const { log } = collector();
    const err = await selectBackend({ requireGpu: true, log }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BackendUnavailableError);
    const e = err as BackendUnavailableError;
    expect(e.message).toMatch(/^No GPU backend is usable/);
    expect(e.skipped.map((s) => s.name)).toEqual(["tensorflow", "webgpu", "wasm", "cpu"]);
    expect(e.skipped[2]!.reason).toContain("not a GPU backend");
    expect(e.message).toContain("tfjs-node-gpu");
  });

  it("a preferred backend that is not installed is an error naming the package", async () => {
    await expect(selectBackend({ prefer: "tensorflow", log: () => {} })).rejects.toThrow(/@tensorflow\/tfjs-node-gpu is not installed/);
  });

  it("a preferred backend that fails falls through to the next preferred one", async () => {
    const choice = await selectBackend({ prefer: ["tensorflow", "cpu"], log: () => {} });
    expect(choice.name).toBe("cpu");
    expect(choice.skipped.map((s) => s.name)).toEqual(["tensorflow"]);
  });

  it("webgpu without a hardware adapter is skipped with a reason, never a crash", async () => {
    const err = await selectBackend({ prefer: "webgpu", log: () => {} }).then(
      () => null,
      (e: unknown) => e,
    );
    // This machine has no GPU: Dawn finds no adapter, or only a software one (refused by default).
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect((err as Error).message).toMatch(/no WebGPU adapter|software adapter|not installed|navigator\.gpu/);
  });

  it("uses the caller's loaders (for bundles) and reports a loader's failure as the reason", async () => {
    const { lines, log } = collector();
    const choice = await selectBackend({
      prefer: ["tensorflow", "wasm"],
      log,
      loaders: {
        "@tensorflow/tfjs-node-gpu": () => Promise.reject(new Error("libcudart.so.11.0: cannot open shared object file")),
        // Loads, but registers nothing with our engine.
        "@tensorflow/tfjs-node": () => Promise.resolve({}),
        "@tensorflow/tfjs-backend-wasm": () => import("@tensorflow/tfjs-backend-wasm"),
      },
    });
    expect(choice.name).toBe("wasm");
    expect(choice.skipped[0]!.reason).toContain("@tensorflow/tfjs-node-gpu failed to load: libcudart.so.11.0");
    expect(choice.skipped[0]!.reason).toContain('@tensorflow/tfjs-node loaded but registered no "tensorflow" backend');
    expect(lines).toHaveLength(2);
  });

  describe("with a stand-in for tfjs-node (cpu kernels registered as \"tensorflow\")", () => {
    /** What importing tfjs-node does: register a "tensorflow" backend and its kernels with the engine. */
    const fakeTfjsNode = (isUsingGpuDevice: boolean) => (): Promise<unknown> => {
      class FakeNodeBackend extends MathBackendCPU {
        readonly isUsingGpuDevice = isUsingGpuDevice;
      }
      tf.registerBackend("tensorflow", () => new FakeNodeBackend());
      for (const k of tf.getKernelsForBackend("cpu")) tf.registerKernel({ ...k, backendName: "tensorflow" });
      return Promise.resolve({});
    };
    afterEach(async () => {
      await tf.setBackend("cpu");
      for (const k of tf.getKernelsForBackend("tensorflow")) tf.unregisterKernel(k.kernelName, "tensorflow");
      tf.removeBackend("tensorflow");
    });
    const missing = (): Promise<unknown> => Promise.reject(Object.assign(new Error("Cannot find package '@tensorflow/tfjs-node-gpu'"), { code: "ERR_MODULE_NOT_FOUND" }));

    it("holds native TensorFlow on the CPU back while WebGPU is tried, then takes it over wasm", async () => {
      const { lines, log } = collector();
      const choice = await selectBackend({ log, loaders: { "@tensorflow/tfjs-node-gpu": missing, "@tensorflow/tfjs-node": fakeTfjsNode(false) } });
      expect(choice.name).toBe("tensorflow");
      expect(choice.isGpu).toBe(false);
      expect(choice.reason).toMatch(/^@tensorflow\/tfjs-node: native TensorFlow on the CPU \(WebGPU has no GPU here\)/);
      expect(tf.getBackend()).toBe("tensorflow");
      expect(choice.skipped.map((s) => s.name)).toEqual(["webgpu"]);
      expect(lines.map((l) => l.split(":")[0])).toEqual(["[peftjs] backend webgpu", "[peftjs] backend tensorflow"]);
    });

    it("takes tfjs-node-gpu on a CUDA device at once, also under requireGpu", async () => {
      const { lines, log } = collector();
      const choice = await selectBackend({ requireGpu: true, log, loaders: { "@tensorflow/tfjs-node-gpu": fakeTfjsNode(true) } });
      expect(choice).toMatchObject({ name: "tensorflow", isGpu: true, skipped: [] });
      expect(choice.reason).toBe("@tensorflow/tfjs-node-gpu: native TensorFlow on the GPU (CUDA)");
      expect(lines).toHaveLength(1);
    });

    it("under requireGpu refuses tfjs-node on the CPU with the reason", async () => {
      const err = await selectBackend({ requireGpu: true, log: () => {}, loaders: { "@tensorflow/tfjs-node-gpu": missing, "@tensorflow/tfjs-node": fakeTfjsNode(false) } }).then(
        () => null,
        (e: unknown) => e as BackendUnavailableError,
      );
      expect(err?.skipped[0]?.reason).toMatch(/@tensorflow\/tfjs-node runs TensorFlow on the CPU .*the GPU build is @tensorflow\/tfjs-node-gpu/);
    });
  });

  it("rejects unknown names and an empty prefer list", async () => {
    await expect(selectBackend({ prefer: "webgl" as never, log: () => {} })).rejects.toThrow(/unknown backend "webgl".*tensorflow, webgpu, wasm, cpu/);
    await expect(selectBackend({ prefer: [], log: () => {} })).rejects.toThrow(/prefer is empty/);
  });
});

describe("wasm backend", () => {
  it("runs a matMul and its gradient, agreeing with cpu and a float64 reference", async () => {
    const [m, k, n] = [7, 13, 5];
    const a = floats(m * k, 1);
    const b = floats(k * n, 2);
    const ref: number[] = [];
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let t = 0; t < k; t++) s += a[i * k + t]! * b[t * n + j]!;
        ref.push(s);
      }
    }
    // d/dA sum(A·B) = 1·Bᵀ: row sums of B, repeated for every row of A.
    const gradRef = Array.from({ length: m * k }, (_, idx) => {
      const t = idx % k;
      let s = 0;
      for (let j = 0; j < n; j++) s += b[t * n + j]!;
      return s;
    });
    const run = (): { y: Float32Array; g: Float32Array } =>
      tf.tidy(() => {
        const A = tf.tensor2d(a, [m, k]);
        const B = tf.tensor2d(b, [k, n]);
        const y = tf.matMul(A, B).dataSync() as Float32Array;
        const g = tf.grad((x: tf.Tensor) => tf.sum(tf.matMul(x as tf.Tensor2D, B)))(A).dataSync() as Float32Array;
        return { y, g };
      });

    const choice = await selectBackend({ prefer: "wasm", log: () => {} });
    expect(choice.name).toBe("wasm");
    const onWasm = run();
    await tf.setBackend("cpu");
    const onCpu = run();
    for (let i = 0; i < ref.length; i++) {
      expect(onWasm.y[i]).toBeCloseTo(ref[i]!, 5);
      expect(onWasm.y[i]).toBeCloseTo(onCpu.y[i]!, 5);
    }
    for (let i = 0; i < gradRef.length; i++) {
      expect(onWasm.g[i]).toBeCloseTo(gradRef[i]!, 5);
      expect(onWasm.g[i]).toBeCloseTo(onCpu.g[i]!, 5);
    }
  });

  it("backendMemory reports tf.memory() plus the wasm heap", async () => {
    await selectBackend({ prefer: "wasm", log: () => {} });
    const x = tf.ones([4, 4]);
    const mem = backendMemory();
    expect(mem.backend).toBe("wasm");
    expect(mem.numTensors).toBe(tf.memory().numTensors);
    expect(mem.numBytes).toBe(tf.memory().numBytes);
    expect(mem.wasmHeapBytes).toBeGreaterThan(0);
    expect(mem.gpuBytesInUse).toBeUndefined();
    x.dispose();
    expect(backendMemory().numTensors).toBe(mem.numTensors - 1);
  });
});

describe("assertSingleEngine", () => {
  it("passes with one tfjs-core", () => {
    expect(() => assertSingleEngine()).not.toThrow();
  });

  it("throws, telling the user to dedupe, when another engine holds the global slot", () => {
    const g = globalThis as { _tfengine?: unknown };
    const saved = g._tfengine;
    g._tfengine = {};
    try {
      expect(() => assertSingleEngine()).toThrow(/Two TensorFlow\.js engines.*dedupe/s);
    } finally {
      g._tfengine = saved;
    }
  });

  it("throws when another copy registered its Tensor class first", () => {
    const globals = (globalThis as { _tfGlobals?: Map<string, unknown> })._tfGlobals!;
    const saved = globals.get("Tensor");
    globals.set("Tensor", class OtherTensor {});
    try {
      expect(() => assertSingleEngine()).toThrow(/Two copies of @tensorflow\/tfjs-core.*overrides/s);
    } finally {
      globals.set("Tensor", saved);
    }
  });

  it("throws when a second tfjs-core module instance sits in Node's module cache", () => {
    const cache = createRequire(import.meta.url).cache;
    const fake = "/elsewhere/node_modules/@tensorflow/tfjs-core/dist/tf-core.node.js";
    cache[fake] = { exports: { Tensor: class OtherTensor {} } } as unknown as NodeJS.Module;
    try {
      expect(() => assertSingleEngine()).toThrow(/Two instances of @tensorflow\/tfjs-core.*elsewhere/s);
    } finally {
      delete cache[fake];
    }
    expect(() => assertSingleEngine()).not.toThrow();
  });
});

/**
 * WebGPU: the browser's `navigator.gpu`, or in Node the Dawn binding from the npm `webgpu` package; software
 * adapters refused unless allowed; tfjs-backend-webgpu's workarounds applied once it is set.
 */
import { tf } from "../tf.js";
import type { AdapterInfo, Attempt, Context } from "./types.js";
import { errorMessage, isNode } from "./util.js";

interface GpuAdapterLike {
  info?: Partial<Record<"vendor" | "architecture" | "device" | "description", string>> & { isFallbackAdapter?: boolean };
  isFallbackAdapter?: boolean;
}
interface GpuLike {
  requestAdapter(options?: { powerPreference?: "high-performance" | "low-power" }): Promise<GpuAdapterLike | null>;
}
interface NavigatorLike {
  gpu?: GpuLike;
}

/** Names that only software rasterisers report (Dawn/Chrome adapter info). */
const SOFTWARE_ADAPTER = /swiftshader|llvmpipe|lavapipe|softpipe|\bwarp\b|basic render|\bcpu\b/i;

export async function tryWebgpu(ctx: Context): Promise<Attempt> {
  const g = globalThis as { navigator?: NavigatorLike };
  let gpu = g.navigator?.gpu;
  let dawnGlobals: object | undefined;
  if (gpu == null) {
    if (!isNode()) return { ok: false, reason: "this browser has no navigator.gpu (WebGPU unsupported or disabled)" };
    const loaded = await ctx.load("webgpu");
    if (!loaded.ok) return { ok: false, reason: `${loaded.reason} (the Dawn binding for Node)` };
    const dawn = loaded.module as { create?: (flags: string[]) => GpuLike; globals?: object };
    if (typeof dawn.create !== "function") return { ok: false, reason: "the npm `webgpu` package exports no create(); expected webgpu@0.6" };
    try {
      gpu = dawn.create([]);
    } catch (e) {
      return { ok: false, reason: `webgpu create([]) failed: ${errorMessage(e)}` };
    }
    dawnGlobals = dawn.globals;
  }

  // The same request as tfjs-backend-webgpu's factory, so both see the same adapter. (The flag exists only
  // once that package is imported, so read it from the set flags rather than evaluating it.)
  const powerPreference = tf.env().getFlags()["WEBGPU_USE_LOW_POWER_GPU"] === true ? "low-power" : "high-performance";
  let adapter: GpuAdapterLike | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference });
  } catch (e) {
    return { ok: false, reason: `navigator.gpu.requestAdapter() threw: ${errorMessage(e)}` };
  }
  if (adapter == null) {
    return { ok: false, reason: `no WebGPU adapter${dawnGlobals !== undefined ? " (Dawn found no Vulkan/Metal/D3D12 device)" : ""}` };
  }
  const adapterInfo = readAdapterInfo(adapter);
  const described = describeAdapter(adapterInfo);
  if (adapterInfo.isFallbackAdapter && !ctx.allowSoftwareAdapter) {
    const why = ctx.requireGpu ? "requireGpu is set" : "slower than wasm; pass allowSoftwareAdapter to use it anyway";
    return { ok: false, reason: `only a software adapter (${described}); ${why}` };
  }

  if (dawnGlobals !== undefined) {
    // tfjs-backend-webgpu uses the WebGPU globals (GPUBufferUsage, …) and registers its backend at import
    // time only when navigator.gpu exists, so both must be in place before it is imported.
    Object.assign(globalThis, dawnGlobals);
    installNavigatorGpu(gpu);
  }
  const loaded = await ctx.load("@tensorflow/tfjs-backend-webgpu");
  if (!loaded.ok) return { ok: false, reason: loaded.reason };
  if (tf.findBackendFactory("webgpu") == null) {
    return {
      ok: false,
      reason: "@tensorflow/tfjs-backend-webgpu registered no backend: it was imported before navigator.gpu existed. Call selectBackend() before importing it.",
    };
  }
  if (!(await tf.setBackend("webgpu"))) return { ok: false, reason: `tf.setBackend("webgpu") failed on ${described} (see the warning above)` };
  applyWebGpuWorkarounds();
  return { ok: true, reason: `WebGPU on ${described}${adapterInfo.isFallbackAdapter ? " (software adapter, allowed)" : ""}`, isGpu: !adapterInfo.isFallbackAdapter, adapterInfo };
}

/** tfjs-backend-webgpu's `MatMulProgramType.MatMulPackedProgram`. */
export const WEBGPU_MATMUL_PACKED = 3;

/**
 * Works around wrong results in tfjs-backend-webgpu 4.22: the split-K matmul it picks for a long inner
 * dimension with few output tiles (K ≥ 2000, e.g. LoRA's x·Aᵀ on GPT-2's mlp.c_proj: [256, 3072]·[8, 3072]ᵀ)
 * returned values off by up to 0.9 (max |value| 0.59) on an NVIDIA H100 through Dawn, which made unmerged
 * LoRA outputs disagree with merged ones (apps/bench/scripts/webgpu-diag.ts). Forcing the general packed
 * program for every matmul gave results within 1.3e-6 of the cpu backend. Called by `selectBackend`
 * when it picks webgpu; call it yourself if you set the webgpu backend another way.
 */
export function applyWebGpuWorkarounds(): void {
  if (tf.getBackend() !== "webgpu") return;
  tf.env().set("WEBGPU_MATMUL_PROGRAM_TYPE", WEBGPU_MATMUL_PACKED);
}

function readAdapterInfo(adapter: GpuAdapterLike): AdapterInfo {
  const info = adapter.info ?? {};
  const out = {
    vendor: info.vendor ?? "",
    architecture: info.architecture ?? "",
    device: info.device ?? "",
    description: info.description ?? "",
  };
  const text = `${out.vendor} ${out.architecture} ${out.device} ${out.description}`;
  const isFallbackAdapter = info.isFallbackAdapter === true || adapter.isFallbackAdapter === true || SOFTWARE_ADAPTER.test(text);
  return { ...out, isFallbackAdapter };
}

function describeAdapter(a: AdapterInfo): string {
  const parts = [a.vendor, a.architecture, a.device, a.description].filter((s) => s !== "");
  return parts.length === 0 ? "an adapter that reports no info" : parts.join(" / ");
}

function installNavigatorGpu(gpu: GpuLike): void {
  const g = globalThis as { navigator?: NavigatorLike };
  if (g.navigator == null) {
    Object.defineProperty(globalThis, "navigator", { value: {}, configurable: true, writable: true });
  }
  Object.defineProperty(g.navigator, "gpu", { value: gpu, configurable: true, writable: true });
}

// GPU-host smoke check of the tfjs + Dawn path: adapter info, a matmul checked against the cpu backend, and
// a rough fp32 matmul rate. Bundled by esbuild into .gpu/app/smoke.mjs (webgpu external).
import { tf } from "@peftjs/core";

const { create, globals } = (await import("webgpu")) as unknown as {
  create: (flags: string[]) => GPU;
  globals: Record<string, unknown>;
};
Object.assign(globalThis, globals);
const g = globalThis as unknown as { navigator?: { gpu?: GPU } };
g.navigator ??= {};
g.navigator.gpu = create([]);
const adapter = await g.navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
console.log("adapter", JSON.stringify(adapter?.info), "features", [...(adapter?.features ?? [])].join(","));
// The backend registers itself only if navigator.gpu exists when its module is evaluated.
await import("@tensorflow/tfjs-backend-webgpu");
console.log("setBackend(webgpu):", await tf.setBackend("webgpu"));
await tf.ready();
const a = tf.randomNormal([512, 512], 0, 1, "float32", 1);
const b = tf.randomNormal([512, 512], 0, 1, "float32", 2);
const gpu = await tf.matMul(a, b).data();
await tf.setBackend("cpu");
const a2 = tf.randomNormal([512, 512], 0, 1, "float32", 1);
const b2 = tf.randomNormal([512, 512], 0, 1, "float32", 2);
const cpu = await tf.matMul(a2, b2).data();
let maxErr = 0;
for (let i = 0; i < cpu.length; i++) maxErr = Math.max(maxErr, Math.abs(cpu[i]! - gpu[i]!));
console.log("max |gpu-cpu| on 512x512 matmul:", maxErr);
await tf.setBackend("webgpu");
for (const n of [1024, 4096]) {
  const x = tf.randomNormal([n, n]);
  const y = tf.randomNormal([n, n]);
  await tf.matMul(x, y).data();
  const reps = 10;
  const t0 = performance.now();
  let z: tf.Tensor | null = null;
  for (let i = 0; i < reps; i++) { z?.dispose(); z = tf.matMul(x, y); }
  await z!.data();
  const s = (performance.now() - t0) / 1000;
  console.log(`matmul ${n}: ${((2 * n ** 3 * reps) / s / 1e12).toFixed(2)} TFLOP/s`);
}

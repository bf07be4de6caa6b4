// GPU-host diagnosis: LoRA maths on WebGPU vs the cpu backend (same inputs), to locate a merged/unmerged
// mismatch seen on the H100. Prints max |webgpu − cpu| per op and merged-vs-unmerged on both backends.
import { getPeftModel, selectBackend, setSeed, tf } from "@peftjs/core";
import { GPT2LMHeadModel, gpt2Config } from "@peftjs/models";
import { lora } from "@peftjs/lora";

function rnd(shape: number[], seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 4294967296 - 0.5) * 0.2;
  }
  return out;
}

async function ops(): Promise<Record<string, Float32Array>> {
  const x = tf.tensor(rnd([256, 768], 1), [256, 768]);
  const w = tf.tensor(rnd([768, 2304], 2), [768, 2304]);
  const a = tf.tensor(rnd([8, 768], 3), [8, 768]);
  const b = tf.tensor(rnd([2304, 8], 4), [2304, 8]);
  console.log(`[diag ${tf.getBackend()}] ops start`);
  const x3 = tf.tensor(rnd([256, 3072], 5), [256, 3072]);
  const a3 = tf.tensor(rnd([8, 3072], 6), [8, 3072]);
  const res: Record<string, tf.Tensor> = {
    "x3·A3ᵀ (K=3072)": tf.matMul(x3, a3, false, true),
    "x·W": tf.matMul(x, w),
    "x·Aᵀ": tf.matMul(x, a, false, true),
    "(x·Aᵀ)·Bᵀ": tf.matMul(tf.matMul(x, a, false, true), b, false, true),
    "B·A": tf.matMul(b, a),
    "(B·A)ᵀ": tf.transpose(tf.matMul(b, a)),
    "Aᵀ·Bᵀ": tf.matMul(a, b, true, true),
    "W + (B·A)ᵀ": tf.add(w, tf.transpose(tf.matMul(b, a))),
  };
  const out: Record<string, Float32Array> = {};
  for (const [k, t] of Object.entries(res)) {
    out[k] = (await t.data()) as Float32Array;
    console.log(`[diag ${tf.getBackend()}] read ${k}`);
  }
  return out;
}

async function model(): Promise<Record<string, number | Float32Array>> {
  setSeed(0);
  const m = new GPT2LMHeadModel(gpt2Config("small", { numHiddenLayers: 2, vocabSize: process.env.DIAG_VOCAB ? Number(process.env.DIAG_VOCAB) : 50257 }));
  const peft = getPeftModel(m, lora({ r: 8, loraAlpha: 16, targetModules: ["c_attn", "c_proj", "c_fc"], initLoraWeights: false }));
  peft.eval();
  const ids = tf.tensor2d([Array.from({ length: 256 }, (_, i) => (i * 7919) % (process.env.DIAG_VOCAB ? Number(process.env.DIAG_VOCAB) : 50257))], undefined, "int32");
  console.log(`[diag ${tf.getBackend()}] model built`);
  const unmerged = peft.forward({ inputIds: ids }).logits;
  const u = (await unmerged.data()) as Float32Array;
  console.log(`[diag ${tf.getBackend()}] unmerged forward read`);
  for (let i = 0; i < 5; i++) {
    peft.merge();
    peft.unmerge();
  }
  const cycled = (await peft.forward({ inputIds: ids }).logits.data()) as Float32Array;
  let d0 = 0;
  for (let i = 0; i < u.length; i++) d0 = Math.max(d0, Math.abs(u[i]! - cycled[i]!));
  console.log(`[diag ${tf.getBackend()}] after 5 merge/unmerge cycles max|Δ| ${d0.toExponential(2)}`);
  peft.merge();
  const merged = (await peft.forward({ inputIds: ids }).logits.data()) as Float32Array;
  peft.unmerge();
  {
    let d = 0;
    for (let i = 0; i < u.length; i++) d = Math.max(d, Math.abs(u[i]! - merged[i]!));
    console.log(`[diag ${tf.getBackend()}] merged vs unmerged (each read before the next step) max|Δ| ${d.toExponential(2)}`);
  }
  // The bench's order: the unmerged forward is only enqueued (not read) when the merge runs.
  const lazyBefore = peft.forward({ inputIds: ids }).logits;
  peft.merge();
  const lazyMerged = peft.forward({ inputIds: ids }).logits;
  const lb = (await lazyBefore.data()) as Float32Array;
  const lm = (await lazyMerged.data()) as Float32Array;
  peft.unmerge();
  {
    let d = 0, dOld = 0;
    for (let i = 0; i < u.length; i++) {
      d = Math.max(d, Math.abs(lb[i]! - lm[i]!));
      dOld = Math.max(dOld, Math.abs(lb[i]! - u[i]!));
    }
    console.log(`[diag ${tf.getBackend()}] lazy order: merged vs enqueued-unmerged max|Δ| ${d.toExponential(2)}; enqueued-unmerged vs read-unmerged ${dOld.toExponential(2)}`);
  }
  const again = (await peft.forward({ inputIds: ids }).logits.data()) as Float32Array;
  let d1 = 0, d2 = 0, mx = 0;
  for (let i = 0; i < u.length; i++) {
    d1 = Math.max(d1, Math.abs(u[i]! - merged[i]!));
    d2 = Math.max(d2, Math.abs(u[i]! - again[i]!));
    mx = Math.max(mx, Math.abs(u[i]!));
  }
  peft.dispose?.();
  return { "max|unmerged-merged|": d1, "max|unmerged-after unmerge|": d2, "max|logit|": mx, logits: u, mergedLogits: merged };
}

const choice = process.env.DIAG_LOCAL ? { name: "cpu (DIAG_LOCAL)" } : await selectBackend({
  prefer: "webgpu",
  log: (l) => console.log(l),
  loaders: { webgpu: () => import("webgpu"), "@tensorflow/tfjs-backend-webgpu": () => import("@tensorflow/tfjs-backend-webgpu") },
});
console.log("backend", choice.name);
// The flag exists only once the webgpu backend module has registered its flags.
if (process.env.DIAG_MATMUL_TYPE) tf.env().set("WEBGPU_MATMUL_PROGRAM_TYPE", Number(process.env.DIAG_MATMUL_TYPE));
const gOps = await ops();
const gModel = await model();
await tf.setBackend("cpu");
const cOps = await ops();
const cModel = process.env.DIAG_SKIP_CPU_MODEL ? gModel : await model();
for (const k of Object.keys(gOps)) {
  let d = 0, mx = 0;
  for (let i = 0; i < cOps[k]!.length; i++) { d = Math.max(d, Math.abs(gOps[k]![i]! - cOps[k]![i]!)); mx = Math.max(mx, Math.abs(cOps[k]![i]!)); }
  console.log(`op ${k.padEnd(14)} max|webgpu-cpu| ${d.toExponential(2)} (max |value| ${mx.toExponential(2)})`);
}
for (const k of ["max|unmerged-merged|", "max|unmerged-after unmerge|", "max|logit|"]) console.log(`model ${k}: webgpu ${(gModel[k] as number).toExponential(2)} cpu ${(cModel[k] as number).toExponential(2)}`);
const gl = gModel.logits as Float32Array, cl = cModel.logits as Float32Array;
let d = 0;
for (let i = 0; i < gl.length; i++) d = Math.max(d, Math.abs(gl[i]! - cl[i]!));
console.log(`model unmerged logits max|webgpu-cpu| ${d.toExponential(2)}`);
const gm = gModel.mergedLogits as Float32Array, cm = cModel.mergedLogits as Float32Array;
let dm = 0;
for (let i = 0; i < gm.length; i++) dm = Math.max(dm, Math.abs(gm[i]! - cm[i]!));
console.log(`model merged logits max|webgpu-cpu| ${dm.toExponential(2)}`);

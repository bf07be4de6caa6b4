/**
 * Float64 reference implementations of the merge formulas on flat arrays (no tfjs), written from the papers
 * and from PEFT `utils/merge_utils.py` / mergekit's sources independently of the code under test.
 */
export type Vec = Float64Array;

export function vec(values: ArrayLike<number>): Vec {
  return Float64Array.from(values);
}

/** Deterministic pseudo-random normals (Box–Muller on mulberry32). */
export function randn(n: number, seed: number, scale = 1): Vec {
  let s = seed >>> 0;
  const u = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = scale * Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return out;
}

export function maxRelError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} vs ${expected.length}`);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]!));
  let err = 0;
  for (let i = 0; i < expected.length; i++) err = Math.max(err, Math.abs(actual[i]! - expected[i]!));
  return scale === 0 ? err : err / scale;
}

const sign = (x: number): number => (x > 0 ? 1 : x < 0 ? -1 : 0);

export function magnitudePrune(x: Vec, density: number): Vec {
  if (density >= 1) return vec(x);
  const k = Math.floor(density * x.length);
  const order = [...x.keys()].sort((a, b) => Math.abs(x[b]!) - Math.abs(x[a]!));
  const out = new Float64Array(x.length);
  for (const i of order.slice(0, k)) out[i] = x[i]!;
  return out;
}

export function taskArithmetic(xs: Vec[], w: number[]): Vec {
  const out = new Float64Array(xs[0]!.length);
  xs.forEach((x, i) => x.forEach((v, j) => (out[j]! += w[i]! * v)));
  return out;
}

/** Elected sign per entry: +1 where Σ (values or signs) ≥ 0. */
function elect(xs: Vec[], method: "total" | "frequency"): number[] {
  return [...xs[0]!.keys()].map((j) => (xs.reduce((s, x) => s + (method === "total" ? x[j]! : sign(x[j]!)), 0) >= 0 ? 1 : -1));
}

/** PEFT ties: elect on unweighted trimmed, mean of weighted agreeing entries divided by their count. */
export function tiesPeft(xs: Vec[], w: number[], density: number, method: "total" | "frequency" = "total"): Vec {
  const trimmed = xs.map((x) => magnitudePrune(x, density));
  return disjointCount(trimmed, w, method);
}

export function disjointCount(sparse: Vec[], w: number[], method: "total" | "frequency"): Vec {
  const majority = elect(sparse, method);
  const out = new Float64Array(sparse[0]!.length);
  for (let j = 0; j < out.length; j++) {
    let sum = 0;
    let count = 0;
    sparse.forEach((x, i) => {
      if (sign(x[j]!) === majority[j]) {
        sum += w[i]! * x[j]!;
        count++;
      }
    });
    out[j] = sum / Math.max(count, 1);
  }
  return out;
}

/** mergekit ties: elect on weighted, divide by Σ agreeing weights (0 → 1). */
export function tiesMergekit(xs: Vec[], w: number[], densities: number[], method: "total" | "frequency" = "total", normalize = true): Vec {
  const weighted = xs.map((x, i) => {
    const t = magnitudePrune(x, densities[i]!);
    return t.map((v) => v * w[i]!);
  });
  const majority = elect(weighted, method);
  const out = new Float64Array(xs[0]!.length);
  for (let j = 0; j < out.length; j++) {
    let sum = 0;
    let div = 0;
    weighted.forEach((x, i) => {
      if (sign(x[j]!) === majority[j]) {
        sum += x[j]!;
        div += w[i]!;
      }
    });
    out[j] = normalize ? sum / (div === 0 ? 1 : div) : sum;
  }
  return out;
}

export function norm(x: Vec): number {
  return Math.sqrt(x.reduce((s, v) => s + v * v, 0));
}

export function slerp(t: number, v0: Vec, v1: Vec, threshold = 0.9995): Vec {
  const n0 = norm(v0);
  const n1 = norm(v1);
  let dot = 0;
  for (let i = 0; i < v0.length; i++) dot += ((n0 > 1e-8 ? v0[i]! / n0 : v0[i]!) * (n1 > 1e-8 ? v1[i]! / n1 : v1[i]!));
  if (Math.abs(dot) > threshold) return v0.map((v, i) => (1 - t) * v + t * v1[i]!);
  const theta = Math.acos(dot);
  const s0 = Math.sin((1 - t) * theta) / Math.sin(theta);
  const s1 = Math.sin(t * theta) / Math.sin(theta);
  return v0.map((v, i) => s0 * v + s1 * v1[i]!);
}

/** mergekit model_stock on flat tensors (filter_wise false). */
export function modelStock(w0: Vec, ws: Vec[]): Vec {
  const offsets = ws.map((w) => w.map((v, i) => v - w0[i]!));
  const cos: number[] = [];
  for (let i = 0; i < offsets.length; i++) {
    for (let j = i + 1; j < offsets.length; j++) {
      let d = 0;
      for (let k = 0; k < w0.length; k++) d += offsets[i]![k]! * offsets[j]![k]!;
      cos.push(Math.min(1, Math.max(-1, d / Math.max(norm(offsets[i]!) * norm(offsets[j]!), 1e-6))));
    }
  }
  const c = cos.reduce((a, b) => a + b, 0) / cos.length;
  const n = ws.length;
  const t = (n * c) / (1 + (n - 1) * c);
  return w0.map((v, k) => t * (ws.reduce((s, w) => s + w[k]!, 0) / n) + (1 - t) * v);
}

/** mergekit karcher_merge_tensors, float64. */
export function karcher(xs: Vec[], alphas: number[], maxIter = 10, tol = 1e-5): Vec {
  const norms = xs.map(norm);
  const units = xs.map((x, i) => (norms[i] === 0 ? new Float64Array(x.length) : x.map((v) => v / norms[i]!)));
  const valid = norms.map((n, i) => (n > tol ? i : -1)).filter((i) => i >= 0);
  if (valid.length === 0) return new Float64Array(xs[0]!.length);
  const asum = valid.reduce((s, i) => s + alphas[i]!, 0);
  const a = valid.map((i) => alphas[i]! / asum);
  const us = valid.map((i) => units[i]!);
  let u: Vec = new Float64Array(xs[0]!.length);
  us.forEach((ui, j) => ui.forEach((v, k) => (u[k]! += a[j]! * v)));
  const nu = norm(u);
  u = nu < tol ? vec(us[0]!) : u.map((v) => v / nu);
  for (let it = 0; it < maxIter; it++) {
    const T = new Float64Array(u.length);
    us.forEach((ui, j) => {
      let dot = 0;
      for (let k = 0; k < u.length; k++) dot += u[k]! * ui[k]!;
      dot = Math.min(1, Math.max(-1, dot));
      const th = Math.acos(dot);
      if (th < tol) return;
      for (let k = 0; k < u.length; k++) T[k]! += ((a[j]! * th) / Math.sin(th)) * (ui[k]! - dot * u[k]!);
    });
    const nT = norm(T);
    if (nT < tol) break;
    u = u.map((v, k) => Math.cos(nT) * v + Math.sin(nT) * (T[k]! / nT));
    const un = norm(u);
    if (un > tol) u = u.map((v) => v / un);
  }
  const s = alphas.reduce((acc, al, i) => acc + al * norms[i]!, 0);
  return u.map((v) => s * v);
}

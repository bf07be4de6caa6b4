/**
 * Top-k singular value decomposition in float64 on the CPU (tfjs has no SVD): LoRA's PiSSA initialisation
 * and adapter merging (TIES / DARE-TIES / SVD-based combinations) use it.
 *
 * - Small matrices: one-sided Jacobi (Hestenes 1958; Demmel & Veselić 1992), which is accurate to a few
 *   ulps in every singular triplet.
 * - Large matrices: randomized subspace iteration (Halko, Martinsson & Tropp 2011, Alg. 4.4) on k + 10
 *   columns, iterated until the top-k singular values stop changing (or `niter` times when given, which is
 *   what `torch.svd_lowrank` / PEFT's `pissa_niter_<n>` does), then one-sided Jacobi on the small projection.
 *
 * Matrices are dense row-major `Float64Array`s.
 */
import { random } from "../random.js";

export interface TopSvd {
  /** Left singular vectors, `[m, k]` row-major. */
  u: Float64Array;
  /** Singular values, descending, `[k]`. */
  s: Float64Array;
  /** Right singular vectors transposed, `[k, n]` row-major. */
  vt: Float64Array;
  k: number;
}

export interface TopSvdOptions {
  /** Fixed number of subspace iterations (randomized path only); default: until converged. */
  niter?: number;
  /** Use Jacobi on the whole matrix when m·n·min(m, n) is at most this (default 2^25). */
  exactWorkLimit?: number;
}

const EPS = 2.220446049250313e-16;

/**
 * Thin SVD of a column set by one-sided Jacobi. `cols` are the n columns (each length m, m ≥ n), rotated in
 * place until they are mutually orthogonal; returns the right rotation V (n columns of length n).
 */
function oneSidedJacobi(cols: Float64Array[], m: number): Float64Array[] {
  const n = cols.length;
  const v = Array.from({ length: n }, (_, j) => {
    const e = new Float64Array(n);
    e[j] = 1;
    return e;
  });
  for (let sweep = 0; sweep < 60; sweep++) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const ap = cols[p]!;
        const aq = cols[q]!;
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        for (let i = 0; i < m; i++) {
          const x = ap[i]!;
          const y = aq[i]!;
          alpha += x * x;
          beta += y * y;
          gamma += x * y;
        }
        if (gamma === 0 || Math.abs(gamma) <= EPS * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        // Rotation that zeroes the (p, q) entry of the Gram matrix (Golub & Van Loan §8.5.2).
        const zeta = (beta - alpha) / (2 * gamma);
        const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (let i = 0; i < m; i++) {
          const x = ap[i]!;
          const y = aq[i]!;
          ap[i] = c * x - s * y;
          aq[i] = s * x + c * y;
        }
        const vp = v[p]!;
        const vq = v[q]!;
        for (let i = 0; i < n; i++) {
          const x = vp[i]!;
          const y = vq[i]!;
          vp[i] = c * x - s * y;
          vq[i] = s * x + c * y;
        }
      }
    }
    if (!rotated) break;
  }
  return v;
}

/** Full thin SVD (k = min(m, n)) of a row-major m×n matrix. */
export function svd(a: Float64Array, m: number, n: number): TopSvd {
  if (a.length !== m * n) throw new Error(`svd: expected ${m}×${n} = ${m * n} values, got ${a.length}.`);
  const transposed = m < n;
  const rows = transposed ? n : m;
  const colsN = transposed ? m : n;
  // Columns of the tall matrix (A, or Aᵀ when A is wide).
  const cols = Array.from({ length: colsN }, (_, j) => {
    const c = new Float64Array(rows);
    for (let i = 0; i < rows; i++) c[i] = transposed ? a[j * n + i]! : a[i * n + j]!;
    return c;
  });
  const v = oneSidedJacobi(cols, rows);
  const sigma = cols.map((c) => Math.sqrt(c.reduce((acc, x) => acc + x * x, 0)));
  const order = sigma.map((_, j) => j).sort((x, y) => sigma[y]! - sigma[x]!);
  const k = colsN;
  // Tall = U_t Σ V_tᵀ with U_t = cols / σ. For A itself: U = U_t, V = V_t; for Aᵀ: U = V_t, V = U_t.
  const u = new Float64Array(m * k);
  const vt = new Float64Array(k * n);
  const s = new Float64Array(k);
  order.forEach((j, rank) => {
    const sj = sigma[j]!;
    s[rank] = sj;
    const left = cols[j]!; // length rows
    const right = v[j]!; // length colsN
    if (!transposed) {
      for (let i = 0; i < m; i++) u[i * k + rank] = sj > 0 ? left[i]! / sj : 0;
      for (let i = 0; i < n; i++) vt[rank * n + i] = right[i]!;
    } else {
      for (let i = 0; i < m; i++) u[i * k + rank] = right[i]!;
      for (let i = 0; i < n; i++) vt[rank * n + i] = sj > 0 ? left[i]! / sj : 0;
    }
  });
  return { u, s, vt, k };
}

/** Orthonormalises the columns of a row-major m×c matrix in place (modified Gram–Schmidt, twice). */
function orthonormalizeColumns(y: Float64Array, m: number, c: number): void {
  for (let pass = 0; pass < 2; pass++) {
    for (let j = 0; j < c; j++) {
      for (let p = 0; p < j; p++) {
        let dot = 0;
        for (let i = 0; i < m; i++) dot += y[i * c + p]! * y[i * c + j]!;
        for (let i = 0; i < m; i++) y[i * c + j]! -= dot * y[i * c + p]!;
      }
      let norm = 0;
      for (let i = 0; i < m; i++) norm += y[i * c + j]! ** 2;
      norm = Math.sqrt(norm);
      // A (numerically) dependent column is replaced by zeros; it contributes nothing to the subspace.
      for (let i = 0; i < m; i++) y[i * c + j] = norm > 1e-300 ? y[i * c + j]! / norm : 0;
    }
  }
}

/** out[m×c] = A[m×n] · B[n×c] (all row-major). */
function matmul(a: Float64Array, b: Float64Array, m: number, n: number, c: number): Float64Array {
  const out = new Float64Array(m * c);
  for (let i = 0; i < m; i++) {
    for (let l = 0; l < n; l++) {
      const x = a[i * n + l]!;
      if (x === 0) continue;
      for (let j = 0; j < c; j++) out[i * c + j]! += x * b[l * c + j]!;
    }
  }
  return out;
}

/** out[n×c] = Aᵀ · Y for A [m×n], Y [m×c]. */
function matmulTransposeA(a: Float64Array, y: Float64Array, m: number, n: number, c: number): Float64Array {
  const out = new Float64Array(n * c);
  for (let i = 0; i < m; i++) {
    for (let l = 0; l < n; l++) {
      const x = a[i * n + l]!;
      if (x === 0) continue;
      for (let j = 0; j < c; j++) out[l * c + j]! += x * y[i * c + j]!;
    }
  }
  return out;
}

function truncate(full: TopSvd, m: number, n: number, k: number): TopSvd {
  const u = new Float64Array(m * k);
  for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) u[i * k + j] = full.u[i * full.k + j]!;
  return { u, s: full.s.slice(0, k), vt: full.vt.slice(0, k * n), k };
}

/** The k largest singular triplets of a row-major m×n matrix. */
export function topSvd(a: Float64Array, m: number, n: number, k: number, options: TopSvdOptions = {}): TopSvd {
  const minDim = Math.min(m, n);
  if (!Number.isInteger(k) || k < 1 || k > minDim) {
    throw new Error(`topSvd: k must be an integer in [1, min(m, n) = ${minDim}], got ${k}.`);
  }
  const limit = options.exactWorkLimit ?? 2 ** 25;
  const oversampled = Math.min(minDim, k + 10);
  if (m * n * minDim <= limit || oversampled === minDim) return truncate(svd(a, m, n), m, n, k);

  // Randomized subspace iteration: Q spans the dominant left singular subspace of A.
  const c = oversampled;
  const omega = new Float64Array(n * c);
  for (let i = 0; i < omega.length; i += 2) {
    // Box–Muller from the seeded generator, so PiSSA init is reproducible under setSeed.
    const r = Math.sqrt(-2 * Math.log(1 - random()));
    const t = 2 * Math.PI * random();
    omega[i] = r * Math.cos(t);
    if (i + 1 < omega.length) omega[i + 1] = r * Math.sin(t);
  }
  let q = matmul(a, omega, m, n, c);
  orthonormalizeColumns(q, m, c);
  const maxIter = options.niter ?? 200;
  let previous: Float64Array | null = null;
  let small: TopSvd | null = null;
  for (let it = 0; it <= maxIter; it++) {
    // B = Qᵀ A (c×n); its SVD gives the current estimate.
    const bt = matmulTransposeA(a, q, m, n, c); // Aᵀ Q = Bᵀ, n×c
    small = svd(bt, n, c); // Bᵀ = U_b S V_bᵀ, so B = V_b S U_bᵀ
    const s = small.s.slice(0, k);
    const converged =
      options.niter === undefined && previous !== null && s.every((x, i) => Math.abs(x - previous![i]!) <= 1e-14 * s[0]!);
    if (converged || it === maxIter) break;
    previous = s;
    // One power step with re-orthonormalisation: Q ← orth(A · orth(Aᵀ Q)).
    orthonormalizeColumns(bt, n, c);
    q = matmul(a, bt, m, n, c);
    orthonormalizeColumns(q, m, c);
  }
  const b = small!;
  // A ≈ Q B = (Q V_b) S U_bᵀ: left vectors Q·V_b (V_b = b.vt transposed), right vectors U_b.
  const u = new Float64Array(m * k);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < k; j++) {
      let acc = 0;
      for (let l = 0; l < c; l++) acc += q[i * c + l]! * b.vt[j * c + l]!;
      u[i * k + j] = acc;
    }
  }
  const vt = new Float64Array(k * n);
  for (let j = 0; j < k; j++) for (let i = 0; i < n; i++) vt[j * n + i] = b.u[i * b.k + j]!;
  return { u, s: b.s.slice(0, k), vt, k };
}

import { describe, it, expect } from "vitest";
import { setSeed, svd, topSvd } from "@peftjs/core";
import { mat, matmul, randomOrthonormal, scaleCols, transpose, get, maxAbsDiff } from "../test/reference.js";
import type { Mat } from "../test/reference.js";

/** A = U·diag(s)·Vᵀ with known orthonormal U (m×k), V (n×k). */
function known(m: number, n: number, s: number[], seed: number): { a: Mat; u: Mat; v: Mat } {
  const k = s.length;
  const u = randomOrthonormal(m, k, seed);
  const v = randomOrthonormal(n, k, seed + 1);
  return { a: matmul(scaleCols(u, s), transpose(v)), u, v };
}

function reconstruct(u: Float64Array, s: Float64Array, vt: Float64Array, m: number, n: number, k: number): Mat {
  return matmul(scaleCols(mat(m, k, u), s), mat(k, n, vt));
}

function orthonormalityError(q: Mat): number {
  const g = matmul(transpose(q), q);
  let err = 0;
  for (let i = 0; i < g.rows; i++) for (let j = 0; j < g.cols; j++) err = Math.max(err, Math.abs(get(g, i, j) - (i === j ? 1 : 0)));
  return err;
}

describe("svd (one-sided Jacobi)", () => {
  it.each([
    [12, 7],
    [5, 9],
    [6, 6],
  ])("recovers a known spectrum of a %i×%i matrix", (m, n) => {
    const spectrum = Array.from({ length: Math.min(m, n) }, (_, i) => 10 / (i + 1) + 0.1 * i);
    spectrum.sort((x, y) => y - x);
    const { a } = known(m, n, spectrum, 7 * m + n);
    const r = svd(a.data, m, n);
    expect(r.k).toBe(Math.min(m, n));
    expect(maxAbsDiff(r.s, spectrum)).toBeLessThan(1e-12);
    expect(maxAbsDiff(reconstruct(r.u, r.s, r.vt, m, n, r.k).data, a.data)).toBeLessThan(1e-12);
    expect(orthonormalityError(mat(m, r.k, r.u))).toBeLessThan(1e-12);
    expect(orthonormalityError(transpose(mat(r.k, n, r.vt)))).toBeLessThan(1e-12);
  });

  it("handles a rank-deficient matrix (zero singular values)", () => {
    const { a } = known(8, 6, [3, 2, 1], 99);
    const r = svd(a.data, 8, 6);
    expect(maxAbsDiff(r.s, [3, 2, 1, 0, 0, 0])).toBeLessThan(1e-12);
    expect(maxAbsDiff(reconstruct(r.u, r.s, r.vt, 8, 6, 6).data, a.data)).toBeLessThan(1e-12);
  });
});

describe("topSvd", () => {
  it("gives the best rank-k approximation U_k S_k V_kᵀ (exact path)", () => {
    const spectrum = [9, 7, 5, 3, 2, 1, 0.5];
    const { a, u, v } = known(10, 7, spectrum, 3);
    const r = topSvd(a.data, 10, 7, 3);
    expect(Array.from(r.s)).toHaveLength(3);
    const expected = matmul(scaleCols(mat(10, 3, Array.from({ length: 30 }, (_, i) => get(u, Math.floor(i / 3), i % 3))), spectrum.slice(0, 3)), transpose(mat(7, 3, Array.from({ length: 21 }, (_, i) => get(v, Math.floor(i / 3), i % 3)))));
    expect(maxAbsDiff(reconstruct(r.u, r.s, r.vt, 10, 7, 3).data, expected.data)).toBeLessThan(1e-12);
  });

  it("randomized subspace iteration converges to the top-k triplets of a large-ish matrix", () => {
    const m = 70;
    const n = 50;
    const spectrum = Array.from({ length: n }, (_, i) => 0.8 ** i);
    const { a, u, v } = known(m, n, spectrum, 11);
    const k = 4;
    // The subspace iteration starts from core's seeded generator: fix it, so the result does not depend
    // on which tests ran before in this worker.
    setSeed(1234);
    const r = topSvd(a.data, m, n, k, { exactWorkLimit: 0 });
    expect(maxAbsDiff(r.s, spectrum.slice(0, k))).toBeLessThan(1e-12);
    const uk = mat(m, k, Array.from({ length: m * k }, (_, i) => get(u, Math.floor(i / k), i % k)));
    const vk = mat(n, k, Array.from({ length: n * k }, (_, i) => get(v, Math.floor(i / k), i % k)));
    const expected = matmul(scaleCols(uk, spectrum.slice(0, k)), transpose(vk));
    // Converged to the float64 stopping tolerance (not to machine precision): 1e-9 of a unit-norm matrix.
    expect(maxAbsDiff(reconstruct(r.u, r.s, r.vt, m, n, k).data, expected.data)).toBeLessThan(1e-9);
    expect(orthonormalityError(mat(m, k, r.u))).toBeLessThan(1e-12);
  });

  it("refuses k outside [1, min(m, n)]", () => {
    const a = new Float64Array(12);
    expect(() => topSvd(a, 3, 4, 4)).toThrow(/k must be an integer in \[1, min\(m, n\) = 3\]/);
    expect(() => topSvd(a, 3, 4, 0)).toThrow(/k must be/);
  });
});

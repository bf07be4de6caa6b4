/**
 * Seeded randomness for initialisation, dropout and data shuffling. `setSeed(s)` makes every later
 * `nextSeed()` / `random()` sequence reproducible (mulberry32); tfjs random ops receive `nextSeed()`.
 */
let state = (Date.now() ^ 0x9e3779b9) >>> 0;

/** Resets the global generator. Same seed → same initial weights, dropout masks and shuffles. */
export function setSeed(seed: number): void {
  if (!Number.isFinite(seed)) throw new Error(`setSeed: seed must be a finite number, got ${seed}.`);
  state = Math.floor(seed) >>> 0;
}

/** A uniform float in [0, 1). */
export function random(): number {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

/** An integer seed for a tfjs random op. */
export function nextSeed(): number {
  return Math.floor(random() * 2147483647);
}

/**
 * The attention core against float64 loops: prefix + past + new keys, causal rule offset by the past,
 * padding, prefix always attended; and transformers' repeat_kv layout.
 */
import { describe, expect, it } from "vitest";
import { tf, setSeed, random } from "@peftjs/core";
import { attentionBias, repeatKv, scaledDotProductAttention, setupAttention, FLOAT32_MIN } from "./attention.js";

function randn(n: number): number[] {
  return Array.from({ length: n }, () => {
    const u = Math.max(random(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  });
}

/** float64 attention of one (batch, head): q [t][d], k, v [s][d], allowed(i, j). */
function reference(q: number[][], k: number[][], v: number[][], scale: number, allowed: (i: number, j: number) => boolean): number[][] {
  return q.map((qi, i) => {
    const scores = k.map((kj, j) => (allowed(i, j) ? qi.reduce((s, x, d) => s + x * kj[d]!, 0) * scale : -Infinity));
    const m = Math.max(...scores);
    const e = scores.map((s) => (s === -Infinity ? 0 : Math.exp(s - m)));
    const z = e.reduce((a, b) => a + b, 0);
    return v[0]!.map((_, d) => e.reduce((s, w, j) => s + (w / z) * v[j]![d]!, 0));
  });
}

describe("attention with prefix, past and padding", () => {
  const B = 2, H = 2, T = 3, D = 4, P = 2, PAST = 2;
  const S = P + PAST + T;
  const mask = [
    [1, 1, 1, 1, 1],
    [0, 1, 1, 1, 0], // a padded past position and a padded newest position
  ];

  function run(causal: boolean, maskWithPrefix: boolean): { ours: number[][][][]; ref: number[][][][] } {
    setSeed(3);
    const q = randn(B * H * T * D);
    const k = randn(B * H * S * D);
    const v = randn(B * H * S * D);
    const m = maskWithPrefix ? mask.map((r) => [0, 0, ...r]) : mask; // prefix columns marked 0: still attended
    const ours = tf.tidy(() => {
      const bias = attentionBias(tf.tensor2d(m, undefined, "int32"), { batch: B, seqLen: T, pastLen: PAST, prefixLen: P, causal, source: "test" });
      const out = scaledDotProductAttention(tf.tensor4d(q, [B, H, T, D]), tf.tensor4d(k, [B, H, S, D]), tf.tensor4d(v, [B, H, S, D]), bias, 0.5);
      return out.arraySync() as number[][][][];
    });
    const at = (x: number[], len: number, b: number, h: number) =>
      Array.from({ length: len }, (_, i) => x.slice(((b * H + h) * len + i) * D, ((b * H + h) * len + i + 1) * D));
    const ref = [0, 1].map((b) =>
      [0, 1].map((h) =>
        reference(at(q, T, b, h), at(k, S, b, h), at(v, S, b, h), 0.5, (i, j) => {
          if (j < P) return true;
          const pos = j - P;
          return mask[b]![pos] === 1 && (!causal || pos <= PAST + i);
        }),
      ),
    );
    return { ours, ref };
  }

  for (const causal of [true, false]) {
    for (const maskWithPrefix of [false, true]) {
      it(`matches float64 (causal ${causal}, mask ${maskWithPrefix ? "with" : "without"} prefix columns)`, () => {
        const { ours, ref } = run(causal, maskWithPrefix);
        const a = ours.flat(3);
        const b = ref.flat(3);
        expect(a.length).toBe(b.length);
        for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(1e-5);
      });
    }
  }

  it("uses float32's most negative value (not -inf) at masked scores, 0 elsewhere", () => {
    const bias = attentionBias(tf.tensor2d([[1, 0, 1]], undefined, "int32"), { batch: 1, seqLen: 2, pastLen: 1, prefixLen: 1, causal: true, source: "t" })!;
    expect(bias.shape).toEqual([1, 1, 2, 4]);
    const f = Math.fround(FLOAT32_MIN);
    expect(Array.from(bias.dataSync(), (x) => (x === 0 ? 0 : x))).toEqual([0, 0, f, f, 0, 0, f, 0]);
    bias.dispose();
  });

  it("needs no bias for an unmasked encoder or a single causal step", () => {
    expect(attentionBias(undefined, { batch: 2, seqLen: 4, pastLen: 0, prefixLen: 3, causal: false, source: "t" })).toBeNull();
    expect(attentionBias(undefined, { batch: 2, seqLen: 1, pastLen: 5, prefixLen: 0, causal: true, source: "t" })).toBeNull();
  });
});

describe("repeatKv", () => {
  it("repeats each kv head in place (head h uses kv head ⌊h / nRep⌋), like transformers", () => {
    const x = tf.tensor4d(Array.from({ length: 2 * 3 * 2 }, (_, i) => i), [1, 2, 3, 2]);
    const y = repeatKv(x, 3).arraySync() as number[][][][];
    const xs = x.arraySync();
    expect(y[0]!.length).toBe(6);
    for (let h = 0; h < 6; h++) expect(y[0]![h]).toEqual(xs[0]![Math.floor(h / 3)]);
    expect(repeatKv(x, 1)).toBe(x);
    x.dispose();
  });
});

describe("setupAttention input checks", () => {
  const o = { numLayers: 2, numKeyValueHeads: 2, headDim: 4, hiddenSize: 8, causal: true, source: "M" };
  const ids = tf.tensor2d([[1, 2, 3]], undefined, "int32");

  it("defaults position ids to past + 0..t-1", () => {
    const kv = () => ({ key: tf.zeros([1, 2, 5, 4]), value: tf.zeros([1, 2, 5, 4]) });
    const s = setupAttention({ inputIds: ids, pastKeyValues: [kv(), kv()] }, o);
    expect(s.pastLen).toBe(5);
    expect(s.positionIds.arraySync()).toEqual([[5, 6, 7]]);
  });

  it("names what is wrong", () => {
    expect(() => setupAttention({}, o)).toThrow(/exactly one of inputIds/);
    expect(() => setupAttention({ inputIds: ids, inputsEmbeds: tf.zeros([1, 3, 8]) }, o)).toThrow(/exactly one of inputIds/);
    expect(() => setupAttention({ inputsEmbeds: tf.zeros([1, 3, 7]) }, o)).toThrow(/inputsEmbeds must be \[batch, seq, 8\]/);
    expect(() => setupAttention({ inputIds: ids, attentionMask: tf.ones([1, 4]) }, o)).toThrow(/attentionMask must be \[batch, past \+ seq\] = \[1, 3\]/);
    const kv = { key: tf.zeros([1, 2, 5, 4]), value: tf.zeros([1, 2, 5, 4]) };
    expect(() => setupAttention({ inputIds: ids, prefixKeyValues: [kv] }, o)).toThrow(/one entry per layer \(2\), got 1/);
    const bad = { key: tf.zeros([1, 3, 5, 4]), value: tf.zeros([1, 3, 5, 4]) };
    expect(() => setupAttention({ inputIds: ids, prefixKeyValues: [bad, bad] }, o)).toThrow(/prefixKeyValues\[0\] key and value must be \[1, 2, positions, 4\]/);
  });
});

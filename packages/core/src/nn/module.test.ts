import { describe, expect, it } from "vitest";
import { tf, Module, ModuleList, Linear, Conv1D, LayerNorm, RMSNorm, Embedding, linearToConv1DWeight, setSeed } from "../index.js";

class Block extends Module {
  readonly attn = this.registerModule("attn", new Linear(4, 6));
  readonly ln = this.registerModule("ln_1", new LayerNorm(4));
}
class Net extends Module {
  readonly h = this.registerModule("h", new ModuleList([new Block(), new Block()]));
  readonly head = this.registerModule("lm_head", new Linear(4, 3, { bias: false }));
}

describe("Module tree", () => {
  it("names parameters with Hugging Face dotted paths", () => {
    setSeed(1);
    const net = new Net();
    expect(net.namedParameters().map(([n]) => n)).toEqual([
      "h.0.attn.weight", "h.0.attn.bias", "h.0.ln_1.weight", "h.0.ln_1.bias",
      "h.1.attn.weight", "h.1.attn.bias", "h.1.ln_1.weight", "h.1.ln_1.bias", "lm_head.weight",
    ]);
    expect([...net.namedModules()].map(([n]) => n)).toContain("h.1.ln_1");
    expect(net.getSubmodule("h.1.attn")).toBeInstanceOf(Linear);
    expect(() => net.getSubmodule("h.2.attn")).toThrow(/has no child "2".*0, 1/);
    net.dispose();
  });

  it("setSubmodule replaces a child, also inside a ModuleList", () => {
    const net = new Net();
    const repl = new Linear(4, 6);
    net.setSubmodule("h.1.attn", repl);
    expect(net.getSubmodule("h.1.attn")).toBe(repl);
    expect(net.h.at(1).getSubmodule("attn")).toBe(repl);
    net.dispose();
  });

  it("loadStateDict checks every key, shape and dtype before writing anything", () => {
    const net = new Net();
    const before = net.stateDict().get("h.0.attn.weight")!.arraySync();
    const sd = new Map<string, tf.Tensor>([...net.stateDict()].map(([k, v]) => [k, tf.onesLike(v)]));
    sd.set("h.1.attn.bias", tf.ones([7]));
    expect(() => net.loadStateDict(sd)).toThrow(/shape mismatch for "h.1.attn.bias".*\[6\].*\[7\]/);
    expect(net.stateDict().get("h.0.attn.weight")!.arraySync()).toEqual(before);
    sd.delete("h.1.attn.bias");
    expect(() => net.loadStateDict(sd)).toThrow(/missing keys: h.1.attn.bias/);
    sd.set("h.1.attn.bias", tf.ones([6]));
    sd.set("extra.weight", tf.ones([1]));
    expect(() => net.loadStateDict(sd)).toThrow(/unexpected keys: extra.weight/);
    const res = net.loadStateDict(sd, { strict: false });
    expect(res.unexpectedKeys).toEqual(["extra.weight"]);
    expect((net.stateDict().get("h.0.attn.weight")!.arraySync() as number[][])[0]).toEqual([1, 1, 1, 1]);
    sd.set("h.1.attn.bias", tf.ones([6], "int32"));
    expect(() => net.loadStateDict(sd, { strict: false })).toThrow(/dtype mismatch for "h.1.attn.bias"/);
    net.dispose();
  });

  it("train/eval propagates", () => {
    const net = new Net().eval();
    expect([...net.namedModules()].every(([, m]) => !m.training)).toBe(true);
    net.train();
    expect(net.h.at(0).ln.training).toBe(true);
    net.dispose();
  });
});

describe("layers against float64 references", () => {
  const x = [[0.5, -1, 2, 0.25], [3, 0.1, -0.7, 1.5]];
  const w = [[0.1, 0.2, -0.3, 0.4], [-0.5, 0.6, 0.7, -0.8], [0.9, -1.0, 1.1, 1.2]]; // [out=3, in=4]
  const b = [0.01, -0.02, 0.03];
  const ref = x.map((row) => w.map((wr, o) => wr.reduce((s, wi, i) => s + wi * row[i]!, 0) + b[o]!));

  it("Linear ([out,in]) and Conv1D ([in,out]) compute the same map; the layout conversion is a transpose", () => {
    const lin = new Linear(4, 3, { weight: tf.tensor2d(w), bias_: tf.tensor1d(b) });
    const conv = new Conv1D(4, 3, { weight: linearToConv1DWeight(tf.tensor2d(w)), bias: tf.tensor1d(b) });
    expect(conv.weight.shape).toEqual([4, 3]);
    const yl = lin.forward(tf.tensor2d(x)).arraySync() as number[][];
    const yc = conv.forward(tf.tensor3d([x])).arraySync() as number[][][];
    for (let r = 0; r < 2; r++) for (let o = 0; o < 3; o++) {
      expect(yl[r]![o]!).toBeCloseTo(ref[r]![o]!, 5);
      expect(yc[0]![r]![o]!).toBeCloseTo(ref[r]![o]!, 5);
    }
  });

  it("LayerNorm and RMSNorm", () => {
    const ln = new LayerNorm(4, 1e-5);
    const rms = new RMSNorm(4, 1e-6);
    const yl = ln.forward(tf.tensor2d(x)).arraySync() as number[][];
    const yr = rms.forward(tf.tensor2d(x)).arraySync() as number[][];
    x.forEach((row, r) => {
      const mean = row.reduce((s, v) => s + v, 0) / 4;
      const variance = row.reduce((s, v) => s + (v - mean) ** 2, 0) / 4;
      const ms = row.reduce((s, v) => s + v * v, 0) / 4;
      row.forEach((v, i) => {
        expect(yl[r]![i]!).toBeCloseTo((v - mean) / Math.sqrt(variance + 1e-5), 4);
        expect(yr[r]![i]!).toBeCloseTo(v / Math.sqrt(ms + 1e-6), 4);
      });
    });
  });

  it("Embedding gathers rows", () => {
    const e = new Embedding(3, 2, { weight: tf.tensor2d([[1, 2], [3, 4], [5, 6]]) });
    expect(e.forward(tf.tensor2d([[2, 0]], [1, 2], "int32")).arraySync()).toEqual([[[5, 6], [1, 2]]]);
  });
});

describe("construction", () => {
  it("leaves exactly one live tensor per parameter (no stray initial tensors)", () => {
    const before = tf.memory().numTensors;
    const net = new Net();
    const emb = new Embedding(5, 4);
    const rms = new RMSNorm(4);
    const conv = new Conv1D(4, 3);
    const params = net.parameters().length + emb.parameters().length + rms.parameters().length + conv.parameters().length;
    expect(tf.memory().numTensors - before).toBe(params);
    for (const m of [net, emb, rms, conv]) m.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

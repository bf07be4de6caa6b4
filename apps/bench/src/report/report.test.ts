import { describe, it, expect } from "vitest";
import { renderMarkdown, markdownTable } from "./markdown.js";
import { renderHtml } from "./html.js";
import { renderConsole, textTable } from "./console.js";
import { barChart, logTicks, placeLabels, scatterChart, textWidth } from "./svg.js";
import { sampleBenchResults } from "../../test/sample-results.js";
import type { BenchResults, PeerResults } from "../results.js";
import { qualityTable } from "./tables.js";
import { readFileSync } from "node:fs";

const summary = (median: number) => ({ n: 3, median, p10: median * 0.9, p90: median * 1.1, mean: median, min: median * 0.8, max: median * 1.2 });

function withPeer() {
  const r = sampleBenchResults();
  const peer: PeerResults = {
    schemaVersion: 1,
    tool: "PyTorch + PEFT",
    versions: { torch: "2.11.0", peft: "0.21.0" },
    device: "cuda",
    deviceName: "NVIDIA H100 80GB HBM3",
    dtype: "float32 (TF32 off)",
    attnImplementation: "eager",
    baseInferenceMs: null,
    methods: [
      {
        name: "lora",
        config: "r=8",
        trainable: { params: 100, total: 1100, percent: 9.09 },
        adapterFileBytes: 600,
        training: { batch: 2, seq: 8, warmupSteps: 1, firstStepMs: 10, stepMs: summary(4), tokensPerSecond: 4000, peakBytes: 2048, reservedBytes: 4096 },
        inferenceUnmergedMs: { batch1: summary(1), batch8: summary(2) },
        inferenceMergedMs: { batch1: summary(0.5), batch8: summary(1) },
        merge: { mergeMs: summary(1), unmergeMs: summary(1) },
        error: null,
      },
    ],
  };
  r.peer = { status: "ok", source: "peer.json", results: peer };
  return r;
}

describe("reports", () => {
  it("Markdown: provenance, a row per method in every table, the combination section", () => {
    const md = renderMarkdown(sampleBenchResults());
    expect(md).toContain("- **card**: NVIDIA H100 80GB HBM3, driver 580.1, 81559 MiB");
    expect(md).toContain("## Training step");
    expect(md).toMatch(/\| LoRA \| 2\.00 ms \| 1\.20 \| 2\.80 \| 40\.0 ms \| 8000 \| 4\.00 KiB \| – \| 0 \|/);
    expect(md).toMatch(/\| base \(no adaptation\) \| 2\.4000 \| 20\.0% \|/);
    expect(md).toContain("## Adapter combination");
    expect(md).toContain("Peer unavailable: python3 lacks torch");
  });

  it("Markdown tables escape pipes; the console table aligns columns", () => {
    const t = markdownTable({ id: "x", title: "x", caption: "", headers: ["a|b", "n"], align: ["l", "r"], rows: [["x|y", "1"]] });
    expect(t.split("\n")).toEqual(["| a\\|b | n |", "| --- | ---: |", "| x\\|y | 1 |"]);
    expect(textTable(["m", "v"], [["abc", "1"], ["d", "100"]], ["l", "r"]).split("\n")).toEqual(["m      v", "───  ───", "abc    1", "d    100"]);
  });

  it("peer ratios are ours / theirs", () => {
    const r = withPeer();
    const md = renderMarkdown(r);
    // step 2 ms vs 4 ms → 0.50×; peak 4096 vs 2048 bytes → 2.00×; merged batch-1 latency 2 vs 0.5 ms → 4.00×
    expect(md).toMatch(/\| LoRA \| 2\.00 ms \| 4\.00 ms \| 0\.50× \| 4\.00 KiB \| 2\.00 KiB \| 2\.00× \| 2\.00 ms \| 0\.500 ms \| 4\.00× \| yes \|/);
    expect(renderConsole(r)).toMatch(/0\.50×/);
  });

  it("HTML is self-contained: inline SVG charts, no script, no external resource, labels escaped", () => {
    const r = withPeer();
    r.methods[0]!.label = "Lo<RA>";
    const html = renderHtml(r);
    expect(html.startsWith("<!doctype html>")).toBe(true);
    expect(html.match(/<svg /g)?.length).toBe(3);
    expect(html).not.toMatch(/<script|<link|src=|href="http|url\(/i);
    expect(html).toContain("Lo&lt;RA&gt;");
    expect(html).not.toContain("Lo<RA>");
  });

  it("charts scale bars to the largest value and place scatter points by log x", () => {
    const svg = barChart({ title: "t", unit: "ms", categories: ["a", "b"], series: [{ name: "s", values: [5, 10] }], format: String });
    const widths = [...svg.matchAll(/<rect x="150" y="[\d.]+" width="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(widths).toEqual([210, 420]);
    const sc = scatterChart({ title: "q", xLabel: "x", yLabel: "y", logX: true, points: [{ label: "p", x: 1, y: 1 }, { label: "q", x: 100, y: 2 }], formatX: String, formatY: String });
    const xs = [...sc.matchAll(/<circle cx="([\d.]+)"/g)].map((m) => Number(m[1]));
    // plot spans 60..640 with 10% padding on log10 x ∈ [0, 2] → x0 = −0.2, x1 = 2.2
    expect(xs[0]).toBeCloseTo(60 + (0.2 / 2.4) * 580, 0);
    expect(xs[1]).toBeCloseTo(60 + (2.2 / 2.4) * 580, 0);
    // 1-2-5 ticks between 10^-1.2 and 10^0.5: 0.1, 0.2, 0.5, 1, 2
    expect(logTicks(-1.2, 0.5).map((v) => Number(Math.pow(10, v).toPrecision(6)))).toEqual([0.1, 0.2, 0.5, 1, 2]);
  });

  it("scatter labels never overlap each other or a dot, even for near or equal points (LoRA vs DoRA)", () => {
    const plot = { left: 60, top: 30, right: 640, bottom: 275 };
    const sets = [
      // LoRA 0.94% / 31.0%, DoRA 1.00% / 31.4% land a few pixels apart; rsLoRA shares LoRA's x.
      [{ x: 400, y: 150, text: "LoRA r=8, α=16" }, { x: 404, y: 147, text: "DoRA" }, { x: 400, y: 120, text: "rsLoRA" }, { x: 630, y: 40, text: "full fine-tuning" }, { x: 70, y: 270, text: "base" }],
      // Every point in one spot.
      Array.from({ length: 5 }, (_, i) => ({ x: 300, y: 150, text: `method ${i}` })),
    ];
    for (const points of sets) {
      const boxes = placeLabels(points, plot);
      for (let i = 0; i < boxes.length; i++) {
        const a = boxes[i]!;
        expect(a.w).toBe(textWidth(points[i]!.text));
        for (let j = 0; j < boxes.length; j++) {
          const b = boxes[j]!;
          if (i !== j) expect(a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h, `labels ${i} and ${j} overlap`).toBe(false);
          const d = points[j]!;
          expect(a.x < d.x + 6 && d.x - 6 < a.x + a.w && a.y < d.y + 6 && d.y - 6 < a.y + a.h, `label ${i} covers dot ${j}`).toBe(false);
        }
        expect(a.x >= plot.left && a.x + a.w <= plot.right && a.y >= plot.top && a.y + a.h <= plot.bottom).toBe(true);
      }
    }
    // The old placement (every label just above-right of its point) overlapped on the first set.
    const naive = sets[0]!.slice(0, 2).map((p) => ({ x: p.x + 8, y: p.y - 18, w: textWidth(p.text), h: 15 }));
    expect(naive[0]!.x < naive[1]!.x + naive[1]!.w && naive[1]!.x < naive[0]!.x + naive[0]!.w && naive[0]!.y < naive[1]!.y + 15 && naive[1]!.y < naive[0]!.y + 15).toBe(true);
  });

  it("every quality column tells the methods apart on the committed default-preset runs (wasm tiny, H100 GPU)", () => {
    for (const dir of ["2026-12-01-wasm-tiny", "2026-11-27-h100-r2"]) {
      const r = JSON.parse(readFileSync(new URL(`../../results/${dir}/results.json`, import.meta.url), "utf8")) as BenchResults;
      const t = qualityTable(r);
      expect(t.headers).not.toContain("exact match");
      const methodRows = t.rows.slice(1); // row 0 is the base model
      expect(methodRows).toHaveLength(4);
      for (let c = 1; c < t.headers.length; c++) {
        const cells = methodRows.map((row) => row[c]);
        expect(new Set(cells).size, `${dir}: column "${t.headers[c]}" reads ${cells.join(", ")}`).toBe(cells.length);
      }
    }
  });
});

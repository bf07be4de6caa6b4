/**
 * The report's tables as plain data (title, header, rows of strings), built once from the results and
 * rendered by the Markdown, HTML and console writers.
 */
import type { BenchResults, MethodResult, PeerMethodResult, PeerResults } from "../results.js";
import { formatBytes, formatCount, formatFixed, formatDuration, formatMs, formatPercent, formatRatio, formatTokensPerSecond } from "../format.js";

export interface Table {
  id: string;
  title: string;
  /** One paragraph under the title: what was measured and how. */
  caption: string;
  headers: string[];
  /** "l" or "r" per column. */
  align: ("l" | "r")[];
  rows: string[][];
}

const dash = "–";

function row(m: MethodResult, cells: string[]): string[] {
  return [m.error === null ? m.label : `${m.label} ⚠`, ...cells];
}

export function configTable(r: BenchResults): Table {
  return {
    id: "methods",
    title: "Methods and their configurations",
    caption: `Trainable parameters and adapter file on the timing model (${r.config.timing.model.params.toLocaleString("en-US")} parameters).`,
    headers: ["method", "configuration", "lr", "trainable", "trainable %", "adapter file"],
    align: ["l", "l", "r", "r", "r", "r"],
    rows: r.methods.map((m) =>
      row(m, [m.config, String(m.learningRate), formatCount(m.trainable?.params), formatPercent(m.trainable?.percent), formatBytes(m.adapterFileBytes)]),
    ),
  };
}

export function trainingTable(r: BenchResults): Table {
  const t = r.config.timing;
  return {
    id: "training",
    title: "Training step",
    caption:
      `Batch ${t.batch} × ${t.seq} tokens, ${t.warmupSteps} warm-up steps excluded, ${t.steps} timed steps each forced to finish by reading the loss. ` +
      "Peak memory: live-tensor bytes at the peak of one profiled step (tf.profile); backend memory: the backend's own allocation after the steps (WebGPU buffers incl. its pool, or the wasm heap). " +
      "Tensor drift: live tensors after the last step minus after the first timed step (0 = no leak).",
    headers: ["method", "step median", "p10", "p90", "first step", "tokens/s", "peak memory", "backend memory", "tensor drift"],
    align: ["l", "r", "r", "r", "r", "r", "r", "r", "r"],
    rows: r.methods.map((m) => {
      const tr = m.training;
      if (tr === null) return row(m, Array<string>(8).fill(dash));
      return row(m, [
        formatDuration(tr.stepMs.median),
        formatMs(tr.stepMs.p10),
        formatMs(tr.stepMs.p90),
        formatDuration(tr.firstStepMs),
        formatTokensPerSecond(tr.tokensPerSecond),
        formatBytes(tr.peakBytes),
        formatBytes(tr.backendPeakBytes),
        String(tr.numTensors.drift),
      ]);
    }),
  };
}

export function qualityTable(r: BenchResults): Table {
  const q = r.config.quality;
  const base = r.base.pretrain;
  return {
    id: "quality",
    title: "Quality after the same step budget",
    caption:
      `${q.dataset}. Model: ${shapeText(q.model)}. Every method: ${q.steps} steps of batch ${q.batch} from the same base, same data order and seeds. ` +
      `Held-out: ${q.heldOutExamples} sequences; loss and next-token accuracy on the answer positions. ` +
      // Exact match (the whole answer right) is in results.json only: at these budgets it is 0% for every
      // method on the default presets, so as a column it would compare nothing.
      "Exact match (whole answer right) is in results.json.",
    // Only columns that tell the methods apart (trainable % is the same for LoRA and rsLoRA; it is in the
    // configuration table and on the chart's x axis).
    headers: ["method", "held-out loss", "accuracy", "train loss (last 10%)", "time"],
    align: ["l", "r", "r", "r", "r"],
    rows: [
      ["base (no adaptation)", formatFixed(base.heldOutLoss, 4), formatPercent(100 * base.heldOutAccuracy), dash, dash],
      ...r.methods.map((m) => {
        const qr = m.quality;
        if (qr === null) return row(m, Array<string>(4).fill(dash));
        return row(m, [
          formatFixed(qr.heldOutLoss, 4),
          formatPercent(100 * qr.heldOutAccuracy),
          formatFixed(qr.finalTrainLoss, 4),
          `${qr.seconds.toFixed(1)} s`,
        ]);
      }),
    ],
  };
}

export function inferenceTable(r: BenchResults): Table {
  const med = (s: { median: number } | undefined): string => (s === undefined ? dash : formatDuration(s.median));
  const b = r.base.inferenceMs;
  return {
    id: "inference",
    title: "Inference latency",
    caption: `One forward pass over ${r.config.timing.seq} tokens on the timing model (median of ${r.config.timing.inferenceReps}), adapter active but unmerged vs merged into the weights.`,
    headers: ["method", "batch 1 unmerged", "batch 1 merged", "batch 8 unmerged", "batch 8 merged"],
    align: ["l", "r", "r", "r", "r"],
    rows: [
      ["base model", med(b?.batch1), dash, med(b?.batch8), dash],
      ...r.methods.map((m) =>
        row(m, [med(m.inferenceUnmergedMs?.batch1), med(m.inferenceMergedMs?.batch1), med(m.inferenceUnmergedMs?.batch8), med(m.inferenceMergedMs?.batch8)]),
      ),
    ],
  };
}

export function mergeTable(r: BenchResults): Table {
  return {
    id: "merge",
    title: "Merge and unmerge",
    caption: `Median of ${r.config.timing.mergeReps} merges and unmerges on the timing model, each forced to finish; max |Δ logits| compares merged with unmerged outputs on one batch.`,
    headers: ["method", "merge", "unmerge", "max |Δ logits|"],
    align: ["l", "r", "r", "r"],
    rows: r.methods
      .filter((m) => m.merge !== null)
      .map((m) => row(m, [formatDuration(m.merge!.mergeMs.median), formatDuration(m.merge!.unmergeMs.median), m.merge!.maxAbsLogitDiff.toExponential(2)])),
  };
}

function peerFor(peer: PeerResults, name: string): PeerMethodResult | undefined {
  return peer.methods.find((p) => p.name === name);
}

/** Our figures beside PyTorch + PEFT's on the same card; ratio = ours / theirs (below 1: we are faster / smaller). */
export function peerTable(r: BenchResults): Table | null {
  if (r.peer === null || r.peer.status !== "ok") return null;
  const peer = r.peer.results;
  return {
    id: "peer",
    title: `peftjs vs ${peer.tool}`,
    caption:
      `${peer.tool} (${Object.entries(peer.versions).map(([k, v]) => `${k} ${v}`).join(", ")}) on ${peer.deviceName} (${peer.device}), ${peer.dtype}, attention "${peer.attnImplementation}", same shape, batch, steps and configs. ` +
      "Ratio = peftjs / PyTorch: below 1 means peftjs is faster or smaller.",
    headers: ["method", "step (peftjs)", "step (PEFT)", "ratio", "peak mem (peftjs)", "peak mem (PEFT)", "ratio", "b1 merged (peftjs)", "b1 merged (PEFT)", "ratio", "trainable equal"],
    align: ["l", "r", "r", "r", "r", "r", "r", "r", "r", "r", "l"],
    rows: r.methods.map((m) => {
      const p = peerFor(peer, m.name);
      if (p === undefined || p.error !== null) return row(m, [m.training ? formatDuration(m.training.stepMs.median) : dash, p?.error ?? "not run", ...Array<string>(8).fill(dash)]);
      const ourStep = m.training?.stepMs.median;
      // Live-tensor peaks on both sides (tf.profile peakBytes vs torch.cuda.max_memory_allocated).
      const ourMem = m.training?.peakBytes;
      const ourInf = (m.inferenceMergedMs ?? m.inferenceUnmergedMs)?.batch1.median;
      const theirInf = (p.inferenceMergedMs ?? p.inferenceUnmergedMs)?.batch1.median;
      return row(m, [
        formatDuration(ourStep),
        formatDuration(p.training.stepMs.median),
        formatRatio(ourStep, p.training.stepMs.median),
        formatBytes(ourMem),
        formatBytes(p.training.peakBytes),
        formatRatio(ourMem, p.training.peakBytes),
        formatDuration(ourInf),
        formatDuration(theirInf),
        formatRatio(ourInf, theirInf),
        m.trainable === null ? dash : m.trainable.params === p.trainable.params ? "yes" : `no (${formatCount(m.trainable.params)} vs ${formatCount(p.trainable.params)})`,
      ]);
    }),
  };
}

export function shapeText(s: { nLayer: number; nEmbd: number; nHead: number; vocabSize: number; nPositions: number; params: number; origin: string }): string {
  return `GPT-2 ${s.nLayer} layers × ${s.nEmbd} hidden, ${s.nHead} heads, vocab ${s.vocabSize}, ${formatCount(s.params)} params (${s.origin})`;
}

export function allTables(r: BenchResults): Table[] {
  const tables = [configTable(r), trainingTable(r), qualityTable(r), inferenceTable(r), mergeTable(r)];
  const peer = peerTable(r);
  if (peer !== null) tables.push(peer);
  return tables;
}

export const COMBINATION_PLACEHOLDER =
  "Adapter combination (PEFT `add_weighted_adapter`: cat, linear, svd, TIES, DARE, …) is benchmarked here once a merge package " +
  "(`@peftjs/merge`) is registered with the bench; no merge package is installed in this run.";

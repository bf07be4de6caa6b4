/**
 * `pnpm bench` end to end: pick the backend and preset, build the dataset and base model, run the timing
 * phase and the quality phase for full fine-tuning and every registered method, optionally the PyTorch +
 * PEFT peer, then write results.json, report.md and report.html. A method that fails is recorded with its
 * error and the run goes on.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { assertSingleEngine, tf } from "@peftjs/core";
import type { Tensor } from "@peftjs/core";
import { loadPretrained, loadTokenizer } from "@peftjs/models";
import type { GPT2Config } from "@peftjs/models";
import type { CliOptions } from "./args.js";
import { randomTokenBatch } from "./data/batches.js";
import type { Dataset } from "./data/example.js";
import { byteTokenizer, loadLocalDataset } from "./data/local.js";
import type { TextTokenizer } from "./data/local.js";
import { makeSyntheticDataset } from "./data/synthetic.js";
import { setupBackend } from "./engine/backend.js";
import { cloneWeights, describeModel, disposeWeights, gpt2ConfigFor, instantiate } from "./engine/model.js";
import { selectVariants } from "./methods.js";
import type { BenchVariant } from "./methods.js";
import { writeReports } from "./output.js";
import { defaultOutDir, peerScriptPath, userPath } from "./paths.js";
import { peerConfig, readPeerResults, runPeer } from "./phases/peer.js";
import { prepareBase, qualityOf } from "./phases/quality.js";
import type { QualityContext } from "./phases/quality.js";
import { baseLatency, timingOf } from "./phases/timing.js";
import type { TimingContext } from "./phases/timing.js";
import { defaultPresetName, resolvePreset } from "./presets.js";
import type { Preset } from "./presets.js";
import { Progress } from "./progress.js";
import { collectProvenance } from "./provenance.js";
import type { BenchResults, LatencyPair, MethodResult, ModelShape, PeerSection } from "./results.js";
import { RESULTS_SCHEMA_VERSION } from "./results.js";

export interface RunOutcome {
  results: BenchResults;
  outDir: string;
  files: string[];
}

interface Base {
  /** The quality model's config (checkpoint's, or the preset's shape at the dataset's vocabulary). */
  qualityConfig: GPT2Config;
  timingConfig: GPT2Config;
  checkpoint: Map<string, Tensor> | null;
  checkpointOrigin: string | null;
  tokenizer: TextTokenizer | null;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function loadCheckpoint(dir: string): Promise<{ config: GPT2Config; weights: Map<string, Tensor>; tokenizer: TextTokenizer | null }> {
  const model = await loadPretrained(dir);
  if (model.config.modelType !== "gpt2") {
    model.dispose();
    throw new Error(`--model ${dir}: the bench compares causal LMs on GPT-2 checkpoints; this folder holds a "${model.config.modelType}" model.`);
  }
  const c = model.config;
  // Dropout off, as for the random-init models (deterministic quality runs, the same kernels as the peer).
  const config: GPT2Config = { ...c, residPdrop: 0, embdPdrop: 0, attnPdrop: 0 };
  const weights = cloneWeights(model);
  model.dispose();
  let tokenizer: TextTokenizer | null = null;
  if (existsSync(join(dir, "tokenizer.json"))) {
    const tok = await loadTokenizer(dir);
    const eos = Array.isArray(c.eosTokenId) ? c.eosTokenId[0] : c.eosTokenId;
    tokenizer = { name: `tokenizer of ${dir}`, vocabSize: c.vocabSize, eosTokenId: eos ?? c.vocabSize - 1, encode: (t) => tok.encode(t, { addSpecialTokens: false }) };
  }
  return { config, weights, tokenizer };
}

function makeDataset(o: CliOptions, preset: Preset, base: { tokenizer: TextTokenizer | null; checkpoint: boolean; nPositions: number | null }): Dataset {
  if (o.data !== null) {
    const seqLen = Math.min(preset.quality.localSeq, base.nPositions ?? preset.quality.model.nPositions);
    return loadLocalDataset({ path: userPath(o.data), seqLen, tokenizer: base.tokenizer ?? byteTokenizer(), seed: o.seed, pretrainedBase: base.checkpoint });
  }
  return makeSyntheticDataset({ ...preset.quality.synthetic, seed: o.seed });
}

function emptyResult(v: BenchVariant): MethodResult {
  return {
    name: v.name,
    label: v.label,
    config: v.describe,
    peftConfig: null,
    learningRate: v.learningRate,
    trainable: null,
    adapterFileBytes: null,
    training: null,
    quality: null,
    inferenceUnmergedMs: null,
    inferenceMergedMs: null,
    merge: null,
    error: null,
  };
}

export async function runBench(o: CliOptions, argv: readonly string[] = []): Promise<RunOutcome> {
  const started = performance.now();
  const progress = new Progress(o.progress === true ? "bars" : o.progress === false ? "off" : process.stderr.isTTY ? "bars" : "lines");
  const notes: string[] = [];
  const warnings = new Set<string>();
  const warn = (m: string): void => {
    warnings.add(m);
  };

  // Backend and preset.
  const backendNotes: string[] = [];
  const { choice, addedKernels } = await setupBackend(
    o.backend,
    (line) => {
      backendNotes.push(line);
      progress.phase(line);
    },
    o.allowSoftwareAdapter,
  );
  if (choice.adapterInfo?.isFallbackAdapter === true) notes.push("WebGPU ran on a software adapter (--allow-software-adapter): these are not GPU figures.");
  assertSingleEngine();
  const tensorsAtStart = tf.memory().numTensors;
  for (const k of addedKernels) notes.push(`@peftjs/core registered a kernel the backend lacks: ${k}.`);
  const preset = resolvePreset(o.preset ?? defaultPresetName(choice.name, choice.isGpu), o);
  const variants = selectVariants(o.methods);
  const outDir = o.out === null ? defaultOutDir() : userPath(o.out);
  progress.phase(`preset ${preset.name}; methods ${variants.map((v) => v.name).join(", ")}; output ${outDir}`);

  // Base model and data.
  const ckpt = o.model === null ? null : await loadCheckpoint(userPath(o.model));
  const dataset = makeDataset(o, preset, { tokenizer: ckpt?.tokenizer ?? null, checkpoint: ckpt !== null, nPositions: ckpt?.config.maxPositionEmbeddings ?? null });
  if (ckpt !== null && dataset.vocabSize > ckpt.config.vocabSize) {
    throw new Error(`--model ${o.model}: the dataset uses ${dataset.vocabSize} token ids but the checkpoint's vocabulary has ${ckpt.config.vocabSize}.`);
  }
  const base: Base = {
    qualityConfig: ckpt?.config ?? gpt2ConfigFor({ ...preset.quality.model, vocabSize: dataset.vocabSize }),
    timingConfig: ckpt?.config ?? gpt2ConfigFor({ ...preset.timing.model, vocabSize: preset.timing.model.vocabSize ?? dataset.vocabSize }),
    checkpoint: ckpt?.weights ?? null,
    checkpointOrigin: o.model === null ? null : `checkpoint ${o.model}`,
    tokenizer: ckpt?.tokenizer ?? null,
  };
  progress.phase(`data: ${dataset.description}`);

  const methods = variants.map(emptyResult);
  const seq = Math.min(preset.timing.seq, base.timingConfig.maxPositionEmbeddings);
  const timingBatch = randomTokenBatch(base.timingConfig.vocabSize, preset.timing.batch, seq, o.seed);
  const timingModel: ModelShape = (() => {
    const m = instantiate(base.timingConfig, o.seed, null);
    const d = describeModel(m, base.checkpointOrigin ?? "random init");
    m.dispose();
    return d;
  })();

  // Timing phase.
  const tctx: TimingContext = { config: base.timingConfig, checkpoint: base.checkpoint, preset, batch: timingBatch, seed: o.seed, progress, warn };
  let baseInference: LatencyPair | null = null;
  try {
    baseInference = await baseLatency(tctx);
  } catch (e) {
    notes.push(`Base-model inference failed: ${message(e)}`);
  }
  for (const [i, v] of variants.entries()) {
    progress.phase(`timing · ${v.label} (${v.describe})`);
    try {
      Object.assign(methods[i]!, await timingOf(v, tctx));
    } catch (e) {
      methods[i]!.error = `timing: ${message(e)}`;
      progress.phase(`timing · ${v.label} FAILED: ${message(e)}`);
    }
  }

  // Quality phase.
  const qctx: QualityContext = {
    dataset,
    config: base.qualityConfig,
    checkpoint: base.checkpoint,
    checkpointOrigin: base.checkpointOrigin,
    preset,
    seed: o.seed,
    progress,
    warn,
  };
  progress.phase(`quality · base model (${dataset.source.length > 0 ? `${preset.quality.pretrainSteps} pre-training steps` : "no pre-training"})`);
  const qbase = await prepareBase(qctx);
  try {
    for (const [i, v] of variants.entries()) {
      progress.phase(`quality · ${v.label}`);
      try {
        methods[i]!.quality = await qualityOf(v, qbase, qctx);
      } catch (e) {
        const m = methods[i]!;
        m.error = m.error === null ? `quality: ${message(e)}` : `${m.error}; quality: ${message(e)}`;
        progress.phase(`quality · ${v.label} FAILED: ${message(e)}`);
      }
    }
  } finally {
    disposeWeights(qbase.weights);
    if (base.checkpoint !== null) disposeWeights(base.checkpoint);
  }

  // Peer.
  let peer: PeerSection | null = null;
  if (o.peerResults !== null) {
    const path = userPath(o.peerResults);
    peer = { status: "ok", source: path, results: readPeerResults(path) };
  } else if (o.peer) {
    progress.phase("peer · PyTorch + PEFT");
    peer = await runPeer({
      python: o.python,
      script: peerScriptPath(),
      outDir,
      config: peerConfig(timingModel, preset, seq, preset.timing.batch, o.seed, methods),
      log: (line) => progress.phase(line),
    });
    if (peer.status === "unavailable") progress.phase(`peer unavailable: ${peer.reason}`);
  }

  notes.push(...warnings);
  const leaked = tf.memory().numTensors - tensorsAtStart;
  if (leaked > 0) notes.push(`${leaked} tensors were still alive after every model was disposed (a leak somewhere in the run).`);
  const results: BenchResults = {
    schemaVersion: RESULTS_SCHEMA_VERSION,
    createdAt: new Date().toISOString(),
    totalSeconds: (performance.now() - started) / 1000,
    provenance: collectProvenance({
      backend: choice.name,
      backendNotes,
      adapter:
        choice.adapterInfo === undefined
          ? null
          : { vendor: choice.adapterInfo.vendor, architecture: choice.adapterInfo.architecture, device: choice.adapterInfo.device, description: choice.adapterInfo.description },
      command: ["bench", ...argv],
    }),
    config: {
      preset: preset.name,
      seed: o.seed,
      timing: {
        model: timingModel,
        batch: preset.timing.batch,
        seq,
        warmupSteps: preset.timing.warmupSteps,
        steps: preset.timing.steps,
        inferenceReps: preset.timing.inferenceReps,
        mergeReps: preset.timing.mergeReps,
      },
      quality: {
        model: qbase.model,
        dataset: dataset.description,
        batch: preset.quality.batch,
        seq: dataset.seqLen,
        pretrainSteps: qbase.pretrain.steps,
        steps: preset.quality.steps,
        heldOutExamples: dataset.heldOut.length,
      },
    },
    base: { pretrain: qbase.pretrain, inferenceMs: baseInference },
    methods,
    peer,
    combination: null,
    notes,
  };
  const files = await writeReports(outDir, results);
  return { results, outDir, files };
}

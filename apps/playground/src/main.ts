/**
 * The page: wires the DOM to a Session. State the browser test reads is mirrored on `window.playground`
 * (backend, losses, probe logits, phase), so the test never scrapes text.
 */
import { readFileList, tf } from "@peftjs/core";
import type { FileMap, StepInfo } from "@peftjs/core";
import { forcedBackend, pickBackend } from "./backend.js";
import { LossChart } from "./chart.js";
import { DEFAULT_SETTINGS } from "./lab.js";
import type { TrainSettings } from "./lab.js";
import { Session } from "./session.js";

export interface PlaygroundState {
  phase: "starting" | "ready" | "training" | "trained" | "error";
  backend: string | null;
  losses: number[];
  probe: { ids: number[]; logits: number[] } | null;
  /** Tensors alive after each step: flat, or the page leaks. */
  numTensors: number[];
  adapter: string | null;
  error: string | null;
}

declare global {
  interface Window {
    playground: PlaygroundState;
  }
}

const DEFAULT_TEXT =
  "The adapter was trained in a browser. peftjs trains LoRA adapters in TypeScript and saves them as PEFT files. " +
  "The adapter was trained in a browser, saved as adapter_model.safetensors, and loaded back by Python. ";

const state: PlaygroundState = { phase: "starting", backend: null, losses: [], probe: null, numTensors: [], adapter: null, error: null };
window.playground = state;

function el<T extends HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (e === null) throw new Error(`The page has no #${id}.`);
  return e as T;
}

const ui = {
  backend: el<HTMLParagraphElement>("backend"),
  modelLabel: el<HTMLParagraphElement>("model-label"),
  folder: el<HTMLInputElement>("folder"),
  text: el<HTMLTextAreaElement>("text"),
  steps: el<HTMLInputElement>("steps"),
  lr: el<HTMLInputElement>("lr"),
  batch: el<HTMLInputElement>("batch"),
  seq: el<HTMLInputElement>("seq"),
  train: el<HTMLButtonElement>("train"),
  progress: el<HTMLProgressElement>("progress"),
  trainStatus: el<HTMLParagraphElement>("train-status"),
  chart: new LossChart(el<HTMLCanvasElement>("chart"), DEFAULT_SETTINGS.steps),
  prompt: el<HTMLInputElement>("prompt"),
  before: el<HTMLPreElement>("before"),
  after: el<HTMLPreElement>("after"),
  download: el<HTMLButtonElement>("download"),
  sample: el<HTMLButtonElement>("sample"),
  adapterFiles: el<HTMLInputElement>("adapter-files"),
  drop: el<HTMLDivElement>("drop"),
  adapterStatus: el<HTMLParagraphElement>("adapter-status"),
};

let session: Session | null = null;
let busy = false;

function say(target: HTMLElement, text: string, error = false): void {
  target.textContent = text;
  target.classList.toggle("error", error);
}

function fail(target: HTMLElement, error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  state.error = message;
  say(target, message, true);
  console.error(error);
}

function setBusy(on: boolean): void {
  busy = on;
  for (const b of [ui.train, ui.sample]) b.disabled = on || session === null;
  ui.download.disabled = on || session?.hasAdapter !== true;
}

function settings(): TrainSettings {
  const num = (input: HTMLInputElement, fallback: number): number => (Number.isFinite(input.valueAsNumber) ? input.valueAsNumber : fallback);
  return {
    steps: Math.max(1, Math.round(num(ui.steps, DEFAULT_SETTINGS.steps))),
    lr: num(ui.lr, DEFAULT_SETTINGS.lr),
    batchSize: Math.max(1, Math.round(num(ui.batch, DEFAULT_SETTINGS.batchSize))),
    seqLen: Math.max(4, Math.round(num(ui.seq, DEFAULT_SETTINGS.seqLen))),
    seed: DEFAULT_SETTINGS.seed,
  };
}

/** Lets the browser paint (progress, chart) between training steps. */
const nextFrame = (): Promise<void> => new Promise((resolve) => requestAnimationFrame(() => resolve()));

async function useSession(next: Session): Promise<void> {
  session?.dispose();
  session = next;
  state.adapter = null;
  ui.modelLabel.textContent = `Model: ${next.baseLabel}`;
  say(ui.adapterStatus, "no adapter");
  ui.before.textContent = await next.generate(ui.prompt.value);
  ui.after.textContent = "–";
}

async function onTrain(): Promise<void> {
  if (session === null || busy) return;
  const s = settings();
  setBusy(true);
  state.phase = "training";
  state.losses = [];
  state.numTensors = [];
  state.probe = null;
  ui.progress.max = s.steps;
  ui.progress.value = 0;
  ui.chart.reset(s.steps);
  try {
    session.dropAdapter();
    ui.before.textContent = await session.generate(ui.prompt.value);
    const started = performance.now();
    const result = await session.train(ui.text.value, s, async (info: StepInfo) => {
      state.losses.push(info.loss);
      state.numTensors.push(info.numTensors);
      ui.progress.value = info.step;
      ui.chart.draw(state.losses);
      say(ui.trainStatus, `step ${info.step}/${s.steps} · loss ${info.loss.toFixed(4)} · ${info.stepMs.toFixed(0)} ms/step`);
      await nextFrame();
    });
    const seconds = (performance.now() - started) / 1000;
    const first = result.losses[0]!;
    const last = result.losses[result.losses.length - 1]!;
    say(ui.trainStatus, `trained ${result.steps} steps in ${seconds.toFixed(1)} s on ${state.backend ?? "?"} · loss ${first.toFixed(3)} → ${last.toFixed(3)}`);
    ui.after.textContent = await session.generate(ui.prompt.value);
    state.probe = await session.probeLogits();
    state.adapter = "trained here";
    say(ui.adapterStatus, "adapter: trained here (download it as PEFT files)");
    state.phase = "trained";
  } catch (error) {
    state.phase = "error";
    fail(ui.trainStatus, error);
  } finally {
    setBusy(false);
  }
}

/** Two downloads, named as PEFT names them. */
async function onDownload(): Promise<void> {
  if (session === null) return;
  try {
    const files = await session.adapterFiles();
    for (const [name, content] of Object.entries(files)) {
      const blob = new Blob([typeof content === "string" ? content : content.slice()], { type: name.endsWith(".json") ? "application/json" : "application/octet-stream" });
      const a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = name;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
    }
  } catch (error) {
    fail(ui.adapterStatus, error);
  }
}

async function loadAdapter(files: FileMap, from: string): Promise<void> {
  if (session === null || busy) return;
  setBusy(true);
  state.probe = null;
  state.adapter = null;
  try {
    const what = `${session.loadAdapter(files)} (${from})`;
    say(ui.adapterStatus, `adapter: ${what}`);
    ui.after.textContent = await session.generate(ui.prompt.value);
    state.probe = await session.probeLogits();
    state.adapter = what; // last: the test waits for this, then reads the probe
  } catch (error) {
    fail(ui.adapterStatus, error);
  } finally {
    setBusy(false);
  }
}

async function onSample(): Promise<void> {
  const names = ["adapter_config.json", "adapter_model.safetensors"];
  try {
    const files = new Map<string, Uint8Array>();
    for (const name of names) {
      const response = await fetch(`${import.meta.env.BASE_URL}sample-adapter/${name}`);
      if (!response.ok) throw new Error(`sample-adapter/${name}: HTTP ${response.status}`);
      files.set(name, new Uint8Array(await response.arrayBuffer()));
    }
    await loadAdapter(files, "sample made by Python PEFT 0.21");
  } catch (error) {
    fail(ui.adapterStatus, error);
  }
}

async function onFolder(): Promise<void> {
  const list = ui.folder.files;
  if (list === null || list.length === 0 || busy) return;
  setBusy(true);
  try {
    say(ui.modelLabel, `reading ${list.length} files…`);
    await useSession(Session.fromFolder(await readFileList(list)));
  } catch (error) {
    fail(ui.modelLabel, error);
  } finally {
    setBusy(false);
  }
}

function wireDrop(): void {
  const zone = ui.drop;
  const over = (e: DragEvent): void => {
    e.preventDefault();
    zone.classList.add("over");
  };
  zone.addEventListener("dragenter", over);
  zone.addEventListener("dragover", over);
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    const list = e.dataTransfer?.files;
    if (list === undefined || list.length === 0) return;
    void readFileList(list).then((files) => loadAdapter(files, "dropped files"), (error: unknown) => fail(ui.adapterStatus, error));
  });
  // A file dropped anywhere else must not navigate away from the page (and lose the training).
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());
}

async function start(): Promise<void> {
  ui.text.value = DEFAULT_TEXT;
  ui.train.addEventListener("click", () => void onTrain());
  ui.download.addEventListener("click", () => void onDownload());
  ui.sample.addEventListener("click", () => void onSample());
  ui.folder.addEventListener("change", () => void onFolder());
  ui.adapterFiles.addEventListener("change", () => {
    const list = ui.adapterFiles.files;
    if (list !== null && list.length > 0) void readFileList(list).then((files) => loadAdapter(files, "picked files"), (error: unknown) => fail(ui.adapterStatus, error));
  });
  wireDrop();
  try {
    const skipped: string[] = [];
    const choice = await pickBackend(forcedBackend(location.search), (line) => console.info(line));
    for (const s of choice.skipped) skipped.push(`${s.name}: ${s.reason}`);
    state.backend = choice.name;
    say(ui.backend, `Backend: ${choice.name} — ${choice.reason}${skipped.length > 0 ? ` (skipped ${skipped.join("; ")})` : ""}`);
    await useSession(Session.tiny());
    state.phase = "ready";
    setBusy(false);
    console.info(`playground ready on ${tf.getBackend()}`);
  } catch (error) {
    state.phase = "error";
    fail(ui.backend, error);
  }
}

void start();

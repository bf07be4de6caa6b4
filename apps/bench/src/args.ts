/** Command-line options of `pnpm bench` (no dependency: a table of options and a small parser). */

export const BACKENDS = ["cpu", "wasm", "webgpu", "tensorflow"] as const;
export type BackendName = (typeof BACKENDS)[number];
export const PRESET_NAMES = ["smoke", "tiny", "small"] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

export interface CliOptions {
  /** Method names to run (registry names plus "full"); null = all. */
  methods: string[] | null;
  backend: "auto" | BackendName;
  /** null = by backend: tiny on cpu/wasm, small on a GPU. */
  preset: PresetName | null;
  /** Timed training steps per method (after warm-up); null = the preset's. */
  steps: number | null;
  warmup: number | null;
  /** Fine-tuning steps of the quality phase; null = the preset's. */
  qualitySteps: number | null;
  /** Pre-training steps of the shared quality base; null = the preset's. */
  pretrainSteps: number | null;
  seed: number;
  /** Output folder; null = `bench-out/` at the repository root (or beside the bundle). */
  out: string | null;
  /** Local Hugging Face checkpoint folder (config.json + model.safetensors) used as the base model. */
  model: string | null;
  /** Local .txt / .jsonl dataset instead of the synthetic task. */
  data: string | null;
  /** Run the PyTorch + PEFT peer (`peer/peer.py`) in the same run. */
  peer: boolean;
  /** Merge an existing peer result file instead of running the peer. */
  peerResults: string | null;
  python: string;
  /** Accept a software WebGPU adapter (lavapipe, SwiftShader): tests the WebGPU path without a GPU; never GPU figures. */
  allowSoftwareAdapter: boolean;
  /** true: bars; false: phase lines only; null: bars when stderr is a TTY, else phase lines plus a progress line every few seconds. */
  progress: boolean | null;
  help: boolean;
}

interface OptionSpec {
  name: string;
  value: string | null;
  help: string;
  apply(o: CliOptions, v: string): void;
}

function positiveInt(name: string, v: string, min = 1): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: expected an integer ≥ ${min}, got "${v}".`);
  return n;
}

function oneOf<T extends string>(name: string, v: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(v)) throw new Error(`--${name}: "${v}" is not one of ${allowed.join(", ")}.`);
  return v as T;
}

const OPTIONS: OptionSpec[] = [
  {
    name: "methods",
    value: "list",
    help: "comma-separated methods to run (default: all; e.g. full,lora,dora)",
    apply: (o, v) => {
      const list = v.split(",").map((s) => s.trim().toLowerCase()).filter((s) => s !== "");
      if (list.length === 0) throw new Error("--methods: give at least one method name, e.g. --methods full,lora.");
      o.methods = [...new Set(list)];
    },
  },
  {
    name: "backend",
    value: "name",
    help: `auto (default: best available), ${BACKENDS.join(", ")}`,
    apply: (o, v) => (o.backend = v === "auto" ? "auto" : oneOf("backend", v, BACKENDS)),
  },
  {
    name: "preset",
    value: "name",
    help: "smoke, tiny (default on cpu/wasm), small (GPT-2-small shape; default on a GPU)",
    apply: (o, v) => (o.preset = oneOf("preset", v, PRESET_NAMES)),
  },
  { name: "smoke", value: null, help: "tiny shapes, very few steps, every phase (CI)", apply: (o) => (o.preset = "smoke") },
  { name: "steps", value: "n", help: "timed training steps per method, after warm-up", apply: (o, v) => (o.steps = positiveInt("steps", v)) },
  { name: "warmup", value: "n", help: "warm-up steps excluded from the step-time statistics", apply: (o, v) => (o.warmup = positiveInt("warmup", v, 0)) },
  { name: "quality-steps", value: "n", help: "fine-tuning steps of the quality phase", apply: (o, v) => (o.qualitySteps = positiveInt("quality-steps", v)) },
  { name: "pretrain-steps", value: "n", help: "pre-training steps of the shared base (0: none)", apply: (o, v) => (o.pretrainSteps = positiveInt("pretrain-steps", v, 0)) },
  { name: "seed", value: "n", help: "seed for data, initialisation and peer (default 0)", apply: (o, v) => (o.seed = positiveInt("seed", v, 0)) },
  { name: "out", value: "dir", help: "output folder (default: bench-out/ at the repository root)", apply: (o, v) => (o.out = v) },
  { name: "model", value: "dir", help: "local HF checkpoint folder (config.json + model.safetensors) as the base model", apply: (o, v) => (o.model = v) },
  { name: "data", value: "file", help: "local .txt or .jsonl dataset instead of the synthetic task", apply: (o, v) => (o.data = v) },
  { name: "peer", value: null, help: "also time PyTorch + PEFT (peer/peer.py) in this run", apply: (o) => (o.peer = true) },
  { name: "peer-results", value: "file", help: "merge an existing peer result JSON instead of running the peer", apply: (o, v) => (o.peerResults = v) },
  { name: "python", value: "cmd", help: "Python executable for the peer (default python3)", apply: (o, v) => (o.python = v) },
  {
    name: "allow-software-adapter",
    value: null,
    help: "accept a software WebGPU adapter (tests the WebGPU path; not GPU figures)",
    apply: (o) => (o.allowSoftwareAdapter = true),
  },
  { name: "progress", value: null, help: "force progress bars on", apply: (o) => (o.progress = true) },
  { name: "no-progress", value: null, help: "phase lines only (default without a terminal: also a progress line every 10 s)", apply: (o) => (o.progress = false) },
  { name: "help", value: null, help: "this text", apply: (o) => (o.help = true) },
];

export function defaultOptions(): CliOptions {
  return {
    methods: null,
    backend: "auto",
    preset: null,
    steps: null,
    warmup: null,
    qualitySteps: null,
    pretrainSteps: null,
    seed: 0,
    out: null,
    model: null,
    data: null,
    peer: false,
    peerResults: null,
    python: "python3",
    allowSoftwareAdapter: false,
    progress: null,
    help: false,
  };
}

/** Parses `--name value`, `--name=value` and flags; throws on unknown options with the list of valid ones. */
export function parseArgs(argv: readonly string[]): CliOptions {
  const o = defaultOptions();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "-h") {
      o.help = true;
      continue;
    }
    // `pnpm bench -- --out x` (the npm habit) passes the separator through; the bench takes no positional
    // arguments, so a bare `--` means nothing and is skipped.
    if (arg === "--") continue;
    if (!arg.startsWith("--")) throw new Error(`Unexpected argument "${arg}": options start with "--"; see --help.`);
    const eq = arg.indexOf("=");
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    const spec = OPTIONS.find((s) => s.name === name);
    if (spec === undefined) throw new Error(`Unknown option "--${name}". Valid options: ${OPTIONS.map((s) => `--${s.name}`).join(", ")}.`);
    if (spec.value === null) {
      if (eq >= 0) throw new Error(`--${name} takes no value.`);
      spec.apply(o, "");
      continue;
    }
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      i++;
    }
    if (value === undefined || (eq < 0 && value.startsWith("--"))) throw new Error(`--${name} needs a value (${spec.value}).`);
    spec.apply(o, value);
  }
  if (o.peer && o.peerResults !== null) throw new Error("--peer and --peer-results exclude each other: run the peer, or merge a file it wrote.");
  return o;
}

export function usage(): string {
  const lines = OPTIONS.map((s) => {
    const left = `  --${s.name}${s.value === null ? "" : ` <${s.value}>`}`;
    return `${left.padEnd(26)} ${s.help}`;
  });
  return [
    "Usage: pnpm bench [options]   (a bare -- before the options is accepted: pnpm bench -- --out dir)",
    "",
    "Compares full fine-tuning and every registered PEFT method on one model and dataset:",
    "trainable parameters, step time, memory, held-out quality, inference and merge latency.",
    "Writes results.json, report.md and report.html to the output folder.",
    "",
    ...lines,
  ].join("\n");
}

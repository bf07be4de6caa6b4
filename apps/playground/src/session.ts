/**
 * The page's state and actions, DOM-free: the base model (the tiny GPT-2, or a folder the user picked), the
 * PeftModel on it, training with LoRA, generation, the adapter as PEFT files, and loading dropped files.
 */
import { PeftModel, adapterFilesFromMap, createRegistry, getPeftModel, tf, train } from "@peftjs/core";
import type { FileMap, StepInfo, TrainResult } from "@peftjs/core";
import { lora, loraMethod } from "@peftjs/lora";
import { generate, loadPretrainedFromFiles, loadTokenizerFromFiles } from "@peftjs/models";
import type { PretrainedModel } from "@peftjs/models";
import { LORA_OPTIONS, PROBE_TEXT, batchAt, buildTinyGpt2, byteCodec, logitsOf, tokenizerCodec } from "./lab.js";
import type { TextCodec, TrainSettings } from "./lab.js";

const registry = createRegistry(loraMethod);

/** LoRA targets per architecture (PEFT's defaults for these model types). */
const TARGETS: Record<string, string[]> = {
  gpt2: ["c_attn", "c_proj", "c_fc"],
  llama: ["q_proj", "k_proj", "v_proj", "o_proj"],
};

export class Session {
  private base: PretrainedModel;
  private peft: PeftModel<PretrainedModel> | null = null;
  codec: TextCodec;
  /** What the base model is, in words. */
  baseLabel: string;

  private constructor(base: PretrainedModel, codec: TextCodec, label: string) {
    this.base = base;
    this.codec = codec;
    this.baseLabel = label;
  }

  static tiny(): Session {
    const c = buildTinyGpt2().config;
    return new Session(buildTinyGpt2(), byteCodec, `tiny GPT-2 (random weights, ${c.numHiddenLayers} layers × ${c.hiddenSize}, byte tokens)`);
  }

  /** A Hugging Face folder the user picked: config.json + model.safetensors + tokenizer.json. */
  static fromFolder(files: FileMap): Session {
    const model = loadPretrainedFromFiles(files);
    if (!(model.config.modelType in TARGETS)) {
      model.dispose();
      throw new Error(`The folder holds a ${model.config.modelType} model; the playground trains causal LMs (gpt2, llama).`);
    }
    const codec = tokenizerCodec(loadTokenizerFromFiles(files));
    const c = model.config;
    return new Session(model, codec, `${c.modelType} from the picked folder (${c.numHiddenLayers} layers × ${c.hiddenSize}, vocab ${c.vocabSize})`);
  }

  /** The model to run: the base, with the adapter's tuner layers in its tree when there is one (PEFT injects in place). */
  get model(): PretrainedModel {
    return this.base;
  }

  get hasAdapter(): boolean {
    return this.peft !== null;
  }

  dispose(): void {
    this.dropAdapter();
    this.base.dispose();
  }

  /** Removes the current adapter (its variables are disposed); the base model stays. */
  dropAdapter(): void {
    if (this.peft === null) return;
    this.peft.unload();
    this.peft = null;
  }

  /** A fresh LoRA on the base, trained on `text`; `onStep` sees every step (the page yields to the browser there). */
  async train(text: string, s: TrainSettings, onStep: (info: StepInfo) => Promise<void>): Promise<TrainResult> {
    const ids = this.codec.encode(text);
    if (ids.length < s.seqLen) throw new Error(`The text has ${ids.length} tokens; paste at least ${s.seqLen} (one training window).`);
    this.dropAdapter();
    const targets = TARGETS[this.base.config.modelType] ?? LORA_OPTIONS.targetModules;
    const peft = getPeftModel(this.base, lora({ ...LORA_OPTIONS, targetModules: targets as string[] }));
    this.peft = peft;
    peft.train();
    try {
      return await train({
        model: peft,
        loss: (batch: tf.Tensor) => peft.forward({ inputIds: batch, labels: batch }).loss as tf.Scalar,
        batches: (i) => batchAt(ids, i, s),
        steps: s.steps,
        lr: s.lr,
        seed: s.seed,
        onStep,
      });
    } finally {
      peft.eval();
    }
  }

  /** Greedy continuation of `prompt` (the same text every run, so before/after compare). */
  async generate(prompt: string, maxNewTokens = 48): Promise<string> {
    const ids = this.codec.encode(prompt);
    if (ids.length === 0) throw new Error("Type a prompt first.");
    const input = tf.tensor2d([ids], [1, ids.length], "int32");
    try {
      const out = await generate(this.model, input, { maxNewTokens, eosTokenId: this.codec.eosTokenId ?? null });
      const all = ((await out.array()) as number[][])[0]!;
      out.dispose();
      return this.codec.decode(all.slice(ids.length));
    } finally {
      input.dispose();
    }
  }

  /** Logits of PROBE_TEXT (flattened `[1, len, vocab]`), what the browser test compares with Node's. */
  async probeLogits(): Promise<{ ids: number[]; logits: number[] }> {
    const ids = this.codec.encode(PROBE_TEXT);
    return { ids, logits: await logitsOf(this.model, ids) };
  }

  /** The adapter as PEFT writes it: adapter_config.json + adapter_model.safetensors. */
  async adapterFiles(): Promise<Record<string, Uint8Array | string>> {
    if (this.peft === null) throw new Error("There is no adapter yet: train one, or drop one on the page.");
    return this.peft.adapterFilesAsync();
  }

  /** Loads an adapter from files (dropped, picked, or fetched); the model is unchanged if it does not fit. */
  loadAdapter(files: FileMap): string {
    const adapter = adapterFilesFromMap(files);
    this.dropAdapter();
    this.peft = PeftModel.fromFiles(this.base, adapter, { registry, where: adapter.where });
    this.peft.eval();
    const cfg = this.peft.peftConfig.get("default") as { peftType: string; r?: number; targetModules?: unknown } | undefined;
    return `${cfg?.peftType ?? "?"} adapter${cfg?.r !== undefined ? ` r=${cfg.r}` : ""} on ${JSON.stringify(cfg?.targetModules ?? "?")}`;
  }
}

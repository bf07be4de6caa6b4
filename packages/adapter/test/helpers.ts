/** Test helpers: the fixtures of scripts/make_fixtures.py and comparisons against them. */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { tf } from "@peftjs/core";
import type { ModelInputs } from "@peftjs/core";
import { Average, BatchSplit, Stack } from "../src/index.js";
import type { AdapterSetup } from "../src/index.js";

export const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));
/** The base models are @peftjs/models' transformers fixtures (not copied). */
export const BASES = fileURLToPath(new URL("../../models/test/fixtures/", import.meta.url));

export type SetupJson = string | { type: "Stack" | "Average" | "BatchSplit"; children: SetupJson[]; weights?: number[]; batch_sizes?: number[] };

export interface AdapterFixture {
  dir: string;
  model_type: "gpt2" | "bert" | "llama";
  case: string;
  adapters: { name: string; config: Record<string, unknown> }[];
  setup: SetupJson;
  inputs: { input_ids: number[][]; attention_mask: number[][]; token_type_ids?: number[][] };
  logits: unknown[];
  adapter_params: Record<string, number>;
}

/** Every fixture folder, read; fails (never skips) when the folder is missing. */
export function adapterFixtures(): AdapterFixture[] {
  if (!existsSync(FIXTURES)) throw new Error(`Fixture folder ${FIXTURES} is missing; make it with /work/pyref/bin/python packages/adapter/scripts/make_fixtures.py.`);
  return readdirSync(FIXTURES)
    .sort()
    .map((name) => ({ dir: `${FIXTURES}${name}`, ...(JSON.parse(readFileSync(`${FIXTURES}${name}/expected.json`, "utf8")) as Omit<AdapterFixture, "dir">) }));
}

export function setupFromJson(s: SetupJson): AdapterSetup {
  if (typeof s === "string") return s;
  const children = s.children.map(setupFromJson);
  switch (s.type) {
    case "Stack":
      return new Stack(...children);
    case "Average":
      return new Average(children, { weights: s.weights!, normalizeWeights: false });
    case "BatchSplit":
      return new BatchSplit(children, { batchSizes: s.batch_sizes! });
  }
}

export function fixtureInputs(f: AdapterFixture): ModelInputs {
  const inputs: ModelInputs = {
    inputIds: tf.tensor2d(f.inputs.input_ids, undefined, "int32"),
    attentionMask: tf.tensor2d(f.inputs.attention_mask, undefined, "int32"),
  };
  if (f.inputs.token_type_ids !== undefined) inputs.tokenTypeIds = tf.tensor2d(f.inputs.token_type_ids, undefined, "int32");
  return inputs;
}

export function disposeInputs(inputs: ModelInputs): void {
  for (const v of Object.values(inputs)) if (v instanceof tf.Tensor) v.dispose();
}

/** max|ours − ref| / max|ref| (the models fixtures' measure). */
export function relativeError(ours: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (ours.length !== ref.length) throw new Error(`relativeError: ${ours.length} values vs ${ref.length} in the reference.`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    diff = Math.max(diff, Math.abs(ours[i]! - ref[i]!));
    scale = Math.max(scale, Math.abs(ref[i]!));
  }
  return diff / Math.max(scale, 1e-30);
}

/** Test helpers: fixture paths and comparisons against references. */
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import { tf } from "@peftjs/core";
import type { ModelInputs, Tensor } from "@peftjs/core";

export const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));

/** Path of a fixture folder; fails (never skips) with how to make it when it is missing. */
export function fixture(name: string): string {
  const dir = `${FIXTURES}${name}`;
  if (!existsSync(dir)) {
    throw new Error(
      `Fixture folder "${dir}" is missing. It is made on the GPU host by packages/models/scripts/make_fixtures.py ` +
        `(scripts/gpu/make-fixtures.sh) and unpacked with scripts/gpu/unpack-fixtures.sh.`,
    );
  }
  return dir;
}

export interface FixtureCase {
  name: string;
  input_ids: number[][];
  attention_mask: number[][] | null;
  token_type_ids: number[][] | null;
  labels: number[][] | number[] | null;
  logits: unknown[];
  loss: number | null;
}

export interface FixtureExpected {
  model_type: string;
  architecture: string;
  cases: FixtureCase[];
  generate?: { input_ids: number[][]; max_new_tokens: number; eos_token_id: number; tokens: number[][] }[];
}

export function readExpected(dir: string): FixtureExpected {
  return JSON.parse(readFileSync(`${dir}/expected.json`, "utf8")) as FixtureExpected;
}

/** ModelInputs of a fixture case (new tensors; dispose with `disposeInputs`). */
export function caseInputs(c: FixtureCase): ModelInputs {
  const inputs: ModelInputs = { inputIds: tf.tensor2d(c.input_ids, undefined, "int32") };
  if (c.attention_mask !== null) inputs.attentionMask = tf.tensor2d(c.attention_mask, undefined, "int32");
  if (c.token_type_ids !== null) inputs.tokenTypeIds = tf.tensor2d(c.token_type_ids, undefined, "int32");
  if (c.labels !== null) inputs.labels = tf.tensor(c.labels, undefined, "int32");
  return inputs;
}

export function disposeInputs(inputs: ModelInputs): void {
  for (const v of Object.values(inputs)) if (v instanceof tf.Tensor) v.dispose();
}

/** max|ours − ref| / max|ref|: the error measure of the fixture checks (check_export.py uses the same). */
export function relativeError(ours: ArrayLike<number>, ref: ArrayLike<number>): number {
  expect(ours.length).toBe(ref.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    diff = Math.max(diff, Math.abs(ours[i]! - ref[i]!));
    scale = Math.max(scale, Math.abs(ref[i]!));
  }
  return diff / Math.max(scale, 1e-30);
}

/** Asserts `t` matches a nested-array or flat reference to `tol` relative error (and has the reference's size). */
export function expectClose(t: Tensor | ArrayLike<number>, ref: unknown, tol: number): number {
  const ours = t instanceof tf.Tensor ? t.dataSync() : t;
  const flat = Array.isArray(ref) ? (ref.flat(Infinity) as number[]) : (ref as ArrayLike<number>);
  const err = relativeError(Array.from(ours), Array.from(flat));
  expect(err).toBeLessThanOrEqual(tol);
  return err;
}

/**
 * Loading from files in memory (browsers: picked files read with core's `readFileList`): the same model and
 * tokenizer as from the folder, single-file and sharded checkpoints, errors naming what the files lack.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tf } from "@peftjs/core";
import { loadPretrained, loadPretrainedFromFiles, loadTokenizer, loadTokenizerFromFiles } from "../src/index.js";
import { caseInputs, disposeInputs, fixture, readExpected } from "./helpers.js";

function filesOf(dir: string): Map<string, Uint8Array> {
  return new Map(readdirSync(dir).map((name) => [name, new Uint8Array(readFileSync(join(dir, name)))]));
}

async function logits(model: { forward(i: never): unknown }, dir: string): Promise<Float32Array> {
  const inputs = caseInputs(readExpected(dir).cases[0]!);
  const out = (model.forward as (i: unknown) => { logits: tf.Tensor }).call(model, inputs);
  const data = (await out.logits.data()) as Float32Array;
  out.logits.dispose();
  disposeInputs(inputs);
  return data;
}

describe("loadPretrainedFromFiles", () => {
  it.each(["gpt2", "llama_sharded"])("%s: the same weights and logits as loadPretrained(dir)", async (name) => {
    const dir = fixture(name);
    const fromDir = await loadPretrained(dir);
    const fromFiles = loadPretrainedFromFiles(filesOf(dir));
    expect([...fromFiles.stateDict().keys()]).toEqual([...fromDir.stateDict().keys()]);
    expect(await logits(fromFiles, dir)).toEqual(await logits(fromDir, dir));
    fromDir.dispose();
    fromFiles.dispose();
  });

  it("names what the files lack", () => {
    const files = filesOf(fixture("gpt2"));
    files.delete("model.safetensors");
    expect(() => loadPretrainedFromFiles(files)).toThrow(/neither model.safetensors nor model.safetensors.index.json is among the given files \("config.json"/);
    expect(() => loadPretrainedFromFiles(new Map())).toThrow(/config.json \(a model folder's config\) is not among the given files \(no files\)/);
    const sharded = filesOf(fixture("llama_sharded"));
    sharded.delete("model-00003-of-00007.safetensors");
    const before = tf.memory().numTensors;
    expect(() => loadPretrainedFromFiles(sharded)).toThrow(/shard "model-00003-of-00007.safetensors" .* is not among the given files/);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe("loadTokenizerFromFiles", () => {
  it("encodes like loadTokenizer(dir)", async () => {
    const dir = fixture("tokenizer");
    const a = await loadTokenizer(dir);
    const b = loadTokenizerFromFiles(filesOf(dir));
    const text = "Hello world, this is peftjs in a browser.";
    expect(b.encode(text)).toEqual(a.encode(text));
    expect(b.eosTokenId).toBe(a.eosTokenId);
    expect(() => loadTokenizerFromFiles({ "config.json": "{}" })).toThrow(/tokenizer.json is not among the given files \("config.json"\)/);
  });
});

/**
 * The sample adapter the page offers was made by Python PEFT 0.21 on the page's tiny GPT-2
 * (scripts/make_sample_adapter.py): peftjs loads it with plain fromPretrained and gives PEFT's logits.
 * If the tiny model's definition (src/lab.ts) ever changes, this fails: remake the sample with the script.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { PeftModel, createRegistry } from "@peftjs/core";
import { loraMethod } from "@peftjs/lora";
import { PROBE_TEXT, buildTinyGpt2, byteCodec, logitsOf, relativeError } from "../src/lab.js";

const SAMPLE = fileURLToPath(new URL("../public/sample-adapter/", import.meta.url));
const expected = JSON.parse(readFileSync(new URL("./fixtures/sample-adapter-expected.json", import.meta.url), "utf8")) as {
  probe_ids: number[];
  logits_shape: number[];
  logits: number[];
};

describe("the sample adapter (made by Python PEFT)", () => {
  it("loads with PeftModel.fromPretrained onto the page's tiny GPT-2 and reproduces PEFT's logits (≤ 1e-4 relative)", async () => {
    expect(expected.probe_ids).toEqual(byteCodec.encode(PROBE_TEXT));
    const base = buildTinyGpt2();
    const before = await logitsOf(base, expected.probe_ids);
    const peft = await PeftModel.fromPretrained(base, SAMPLE, { registry: createRegistry(loraMethod) });
    peft.eval();
    const ours = await logitsOf(base, expected.probe_ids);
    const error = relativeError(ours, expected.logits);
    console.log(`sample adapter: peftjs vs PEFT logits, relative error ${error.toExponential(2)}`);
    expect(error).toBeLessThanOrEqual(1e-4);
    // The adapter does something: without it the logits are far from PEFT's.
    expect(relativeError(before, expected.logits)).toBeGreaterThan(1e-2);
    base.dispose();
  });
});

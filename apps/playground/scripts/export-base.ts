/**
 * Writes the playground's tiny GPT-2 (the page's "tiny" model: seed BASE_SEED) as a Hugging Face folder, for
 * scripts/make_sample_adapter.py to train the sample adapter on with Python PEFT.
 *   pnpm --filter @peftjs/playground export-base /tmp/playground-tiny-gpt2
 */
import { savePretrained } from "@peftjs/models";
import { buildTinyGpt2 } from "../src/lab.js";

const dir = process.argv[2];
if (dir === undefined) throw new Error("usage: export-base <output folder>");
const model = buildTinyGpt2();
await savePretrained(model, dir);
console.log(`tiny GPT-2 written to ${dir}`);

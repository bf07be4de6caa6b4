/** The registry the tests load adapters with, and base-model loading. */
import { join } from "node:path";
import { createRegistry } from "@peftjs/core";
import type { PreTrainedModelLike } from "@peftjs/core";
import { loadPretrained } from "@peftjs/models";
import { pTuningMethod, prefixTuningMethod, promptTuningMethod } from "../src/index.js";
import { FIXTURES } from "./helpers.js";

export const registry = createRegistry(promptTuningMethod, prefixTuningMethod, pTuningMethod);

/** A fixture base model (eval mode, float32). */
export async function loadBase(base: string): Promise<PreTrainedModelLike> {
  return await loadPretrained(join(FIXTURES, base));
}

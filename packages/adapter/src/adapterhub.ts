/**
 * Importing an adapter saved by AdapterHub's `model.save_adapter(dir, name, use_safetensors=True)`: its folder
 * becomes the PEFT-layout files of this package (adapter_config.json with `peft_type` "BOTTLENECK" +
 * adapter_model.safetensors with `base_model.model.<residual path>.…` keys), which core's PeftModel loads
 * like any adapter (`PeftModel.fromFiles`, `peftModel.loadAdapterFromFiles`). The format is described in
 * `adapterhub-format.ts`.
 */
import { parseSafetensors, serializeSafetensors, PEFT_KEY_PREFIX } from "@peftjs/core";
import type { AdapterFiles, Module, Tensor } from "@peftjs/core";
import {
  ADAPTERHUB_CONFIG_NAME,
  ADAPTERHUB_PICKLE_WEIGHTS_NAME,
  ADAPTERHUB_WEIGHTS_NAME,
  AdapterHubFormatError,
  adapterHubKeyToFileKey,
  parseAdapterHubConfig,
} from "./adapterhub-format.js";
import { fromPeftBottleneckConfig, toPeftBottleneckConfig } from "./config.js";

export interface AdapterHubImport {
  /** The adapter's name in AdapterHub (its `name` field): the name to load it under, unless you pick another. */
  name: string;
  /** AdapterHub's `model_type`: the architecture the adapter was trained on. */
  modelType: string;
  hiddenSize: number | null;
  /** The same adapter in this package's PEFT layout, for `PeftModel.fromFiles` / `loadAdapterFromFiles`. */
  files: AdapterFiles;
  /** Config fields AdapterHub wrote that this package does not know (read past, like PEFT's unknown fields). */
  unknownFields: string[];
}

/**
 * AdapterHub's adapter_config.json (text or parsed) and adapter.safetensors bytes → the PEFT-layout files.
 * Every tensor key must be one of the adapter's bottleneck weights for a supported architecture; duplicates
 * (AdapterHub's `adapter_norm_before` alias of `adapter_down.0`) must agree.
 */
export function adapterHubToPeftFiles(config: string | Record<string, unknown>, weights: Uint8Array, source = "the AdapterHub adapter"): AdapterHubImport {
  let json: unknown = config;
  if (typeof config === "string") {
    try {
      json = JSON.parse(config);
    } catch (e) {
      throw new AdapterHubFormatError(`${ADAPTERHUB_CONFIG_NAME} in ${source} is not valid JSON (${(e as Error).message}).`);
    }
  }
  const hub = parseAdapterHubConfig(json, `${ADAPTERHUB_CONFIG_NAME} in ${source}`);
  const { config: parsed, unknownFields } = fromPeftBottleneckConfig(hub.config);
  const tensors = parseSafetensors(weights).tensors;
  const out = new Map<string, Tensor>();
  try {
    for (const [key, t] of tensors) {
      const fileKey = PEFT_KEY_PREFIX + adapterHubKeyToFileKey(hub.modelType, key, hub.name);
      const seen = out.get(fileKey);
      if (seen !== undefined) {
        const same = seen.shape.join() === t.shape.join() && seen.dataSync().every((v, i) => v === t.dataSync()[i]);
        if (!same) throw new AdapterHubFormatError(`${source}: "${key}" and another weight both map to "${fileKey}" with different values.`);
        continue;
      }
      out.set(fileKey, t);
    }
    if (out.size === 0) throw new AdapterHubFormatError(`${ADAPTERHUB_WEIGHTS_NAME} in ${source} holds no weights of adapter "${hub.name}".`);
    const peftConfig = { ...toPeftBottleneckConfig(parsed), inference_mode: true };
    return { name: hub.name, modelType: hub.modelType, hiddenSize: hub.hiddenSize, files: { config: peftConfig, weights: serializeSafetensors(out) }, unknownFields };
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}

/**
 * Refuses an AdapterHub adapter made for another kind of model than `model` (its `model_type` and
 * `hidden_size` against the model's config), before any weight is looked for.
 */
export function checkAdapterHubFits(hub: Pick<AdapterHubImport, "name" | "modelType" | "hiddenSize">, model: Module): void {
  const config = (model as unknown as { config?: { modelType?: unknown; hiddenSize?: unknown } }).config ?? {};
  if (config.modelType !== hub.modelType) {
    throw new AdapterHubFormatError(`AdapterHub adapter "${hub.name}" was made for model type "${hub.modelType}", but the model is ${JSON.stringify(config.modelType)}; load it into a ${hub.modelType} model.`);
  }
  if (hub.hiddenSize !== null && config.hiddenSize !== hub.hiddenSize) {
    throw new AdapterHubFormatError(`AdapterHub adapter "${hub.name}" has hidden size ${hub.hiddenSize}, the model ${JSON.stringify(config.hiddenSize)}; it was trained on another model size.`);
  }
}

/**
 * Reads an AdapterHub adapter folder (Node): `adapter_config.json` + `adapter.safetensors`. With `model`, the
 * adapter is first checked to be made for that kind of model (`checkAdapterHubFits`).
 */
export async function readAdapterHubAdapter(dir: string, options: { model?: Module } = {}): Promise<AdapterHubImport> {
  const { readFile, access } = await import("node:fs/promises");
  const path = await import("node:path");
  const join = (...parts: string[]): string => path.join(...parts);
  const exists = (p: string): Promise<boolean> => access(p).then(() => true, () => false);
  if (!(await exists(join(dir, ADAPTERHUB_WEIGHTS_NAME)))) {
    const pickle = await exists(join(dir, ADAPTERHUB_PICKLE_WEIGHTS_NAME));
    throw new AdapterHubFormatError(
      `${dir} has no ${ADAPTERHUB_WEIGHTS_NAME}` +
        (pickle
          ? `, only ${ADAPTERHUB_PICKLE_WEIGHTS_NAME} (a Python pickle, not read here). Save the adapter again with model.save_adapter(dir, name, use_safetensors=True).`
          : `; expected an AdapterHub adapter folder (save_adapter(dir, name, use_safetensors=True)).`),
    );
  }
  const [config, weights] = await Promise.all([readFile(join(dir, ADAPTERHUB_CONFIG_NAME), "utf8"), readFile(join(dir, ADAPTERHUB_WEIGHTS_NAME))]);
  const hub = adapterHubToPeftFiles(config, new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength), dir);
  if (options.model !== undefined) checkAdapterHubFits(hub, options.model);
  return hub;
}

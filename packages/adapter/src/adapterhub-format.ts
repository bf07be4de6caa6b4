/**
 * AdapterHub's own saved format, read (adapters `loading.py` `AdapterLoader.save` / `load`,
 * `configuration/model_adapters_config.py` `build_full_config`):
 *
 * - `adapter_config.json`: `{"config": {BnConfig fields}, "hidden_size", "model_type", "name", "version":
 *   "adapters.<x.y.z>", "model_name", "model_class"}`;
 * - `adapter.safetensors` (`save_adapter(…, use_safetensors=True)`; the default `pytorch_adapter.bin` is a
 *   pickle this package does not read): the model's state-dict entries whose key contains
 *   `.adapters.<name>.` (its `filter_func`), e.g. `transformer.h.0.attention_adapters.adapters.<name>.adapter_down.0.weight`,
 *   `bert.encoder.layer.0.output.adapters.<name>.adapter_up.weight`. Keys may lack the base-model prefix
 *   (`h.0.…` from a headless model); AdapterHub's loader accepts both, and so does this one.
 *
 * This file maps those keys to the PEFT-layout keys of `method.ts`; `adapterhub.ts` loads a folder with it.
 */
import { ARCHITECTURES } from "./architectures.js";
import type { LocationKey } from "./architectures.js";

export const ADAPTERHUB_CONFIG_NAME = "adapter_config.json";
export const ADAPTERHUB_WEIGHTS_NAME = "adapter.safetensors";
export const ADAPTERHUB_PICKLE_WEIGHTS_NAME = "pytorch_adapter.bin";

/** The parsed top level of AdapterHub's adapter_config.json. */
export interface AdapterHubConfigFile {
  config: Record<string, unknown>;
  hiddenSize: number | null;
  modelType: string;
  name: string;
  version: string | null;
}

export class AdapterHubFormatError extends Error {
  override name = "AdapterHubFormatError";
}

/** Validates AdapterHub's adapter_config.json object (a hostile file: every field checked). */
export function parseAdapterHubConfig(json: unknown, source = ADAPTERHUB_CONFIG_NAME): AdapterHubConfigFile {
  const fail = (m: string): never => {
    throw new AdapterHubFormatError(`${source}: ${m}`);
  };
  if (typeof json !== "object" || json === null || Array.isArray(json)) fail("expected a JSON object {config, hidden_size, model_type, name, version}.");
  const o = json as Record<string, unknown>;
  if ("peft_type" in o) fail(`this is a PEFT-layout adapter_config.json (peft_type ${JSON.stringify(o.peft_type)}), not AdapterHub's; load it with PeftModel.fromPretrained / loadAdapter.`);
  const config = o.config;
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    fail(`"config" must be the adapter's BnConfig object, got ${JSON.stringify(config)}${typeof config === "string" ? " (a config name: AdapterHub resolves these from its hub, which is not done here; save the adapter with its full config)" : ""}.`);
  }
  const arch = (config as Record<string, unknown>).architecture;
  if (arch !== undefined && arch !== null && arch !== "bottleneck") fail(`the adapter is a ${JSON.stringify(arch)} adapter; @peftjs/adapter reads bottleneck adapters only.`);
  if (typeof o.model_type !== "string") fail(`"model_type" must be a string, got ${JSON.stringify(o.model_type)}.`);
  if (typeof o.name !== "string" || o.name === "") fail(`"name" must be the adapter's name, got ${JSON.stringify(o.name)}.`);
  const hidden = o.hidden_size ?? null;
  if (hidden !== null && (typeof hidden !== "number" || !Number.isInteger(hidden) || hidden < 1)) fail(`"hidden_size" must be a positive integer or null, got ${JSON.stringify(hidden)}.`);
  const version = o.version ?? null;
  if (version !== null && typeof version !== "string") fail(`"version" must be a string, got ${JSON.stringify(version)}.`);
  return { config: config as Record<string, unknown>, hiddenSize: hidden as number | null, modelType: o.model_type as string, name: o.name as string, version: version as string | null };
}

/**
 * AdapterHub weight key → the PEFT-layout key (without `base_model.model.`) of the same tensor here, for a
 * model of `modelType` (the architectures both support: gpt2, bert, llama).
 */
export function adapterHubKeyToFileKey(modelType: string, key: string, adapterName: string): string {
  const arch = ARCHITECTURES[modelType];
  if (arch?.adapterHub == null) {
    throw new AdapterHubFormatError(`AdapterHub import supports model types ${Object.entries(ARCHITECTURES).filter(([, a]) => a.adapterHub !== null).map(([t]) => t).join(", ")}, not "${modelType}".`);
  }
  const layers = arch.layers;
  // The base-model prefix ("transformer.", "bert.", "model.") may be absent.
  const firstDot = layers.indexOf(".");
  const bare = firstDot < 0 ? null : layers.slice(firstDot + 1);
  const rest = key.startsWith(`${layers}.`) ? key.slice(layers.length + 1) : bare !== null && key.startsWith(`${bare}.`) ? key.slice(bare.length + 1) : null;
  const m = rest === null ? null : /^(\d+)\.(.+)$/.exec(rest);
  if (m !== null) {
    const [, idx, inLayer] = m as unknown as [string, string, string];
    for (const loc of ["mhAdapter", "outputAdapter"] as LocationKey[]) {
      const hub = `${arch.adapterHub[loc]}.adapters.${adapterName}.`;
      const ours = arch[loc];
      if (!inLayer.startsWith(hub) || ours === null) continue;
      // With ln_before AdapterHub registers the LayerNorm twice: as `adapter_norm_before` and as `adapter_down.0`.
      const param = inLayer.slice(hub.length).replace(/^adapter_norm_before\./, "adapter_down.0.");
      return `${layers}.${idx}.${ours}.${param}`;
    }
  }
  throw new AdapterHubFormatError(
    `AdapterHub weight "${key}" is not a bottleneck adapter weight of adapter "${adapterName}" in a ${modelType} model ` +
      `(expected ${layers}.<layer>.{${arch.adapterHub.mhAdapter},${arch.adapterHub.outputAdapter}}.adapters.${adapterName}.…).`,
  );
}

/** AdapterHub's saved format: keys, config, and the errors a wrong or hostile folder gets. */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { tf, serializeSafetensors } from "@peftjs/core";
import { loadPretrained } from "@peftjs/models";
import { adapterHubKeyToFileKey, adapterHubToPeftFiles, parseAdapterHubConfig, readAdapterHubAdapter } from "../src/index.js";
import { BASES, FIXTURES } from "./helpers.js";

const tmp = mkdtempSync(join(tmpdir(), "peftjs-adapterhub-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const hubDir = `${FIXTURES}gpt2_houlsby/adapterhub/a`;

describe("AdapterHub format", () => {
  it("maps AdapterHub's weight names to the PEFT-layout keys, with or without the base-model prefix", () => {
    expect(adapterHubKeyToFileKey("gpt2", "transformer.h.1.attention_adapters.adapters.a.adapter_down.0.weight", "a")).toBe("transformer.h.1.attn_residual.adapter_down.0.weight");
    expect(adapterHubKeyToFileKey("gpt2", "h.0.output_adapters.adapters.a.adapter_up.bias", "a")).toBe("transformer.h.0.mlp_residual.adapter_up.bias");
    expect(adapterHubKeyToFileKey("bert", "bert.encoder.layer.0.attention.output.adapters.x.scaling", "x")).toBe("bert.encoder.layer.0.attention.output.residual.scaling");
    expect(adapterHubKeyToFileKey("bert", "encoder.layer.1.output.adapters.x.gate.weight", "x")).toBe("bert.encoder.layer.1.output.residual.gate.weight");
    expect(adapterHubKeyToFileKey("llama", "model.layers.0.output_adapters.adapters.a.adapter_norm_before.weight", "a")).toBe("model.layers.0.mlp_residual.adapter_down.0.weight");
    expect(() => adapterHubKeyToFileKey("gpt2", "transformer.h.0.attention_adapters.adapters.b.adapter_up.bias", "a")).toThrow(/not a bottleneck adapter weight of adapter "a"/);
    expect(() => adapterHubKeyToFileKey("gpt2", "transformer.h.0.attn.loras.a.lora_A", "a")).toThrow(/expected transformer.h.<layer>/);
    expect(() => adapterHubKeyToFileKey("t5", "x", "a")).toThrow(/supports model types gpt2, bert, llama, mistral, not "t5"/);
  });

  it("validates adapter_config.json", () => {
    const ok = JSON.parse(readFileSync(`${hubDir}/adapter_config.json`, "utf8")) as Record<string, unknown>;
    expect(parseAdapterHubConfig(ok)).toMatchObject({ modelType: "gpt2", name: "a", hiddenSize: 32, version: "adapters.1.2.0" });
    expect(() => parseAdapterHubConfig({ ...ok, config: "pfeiffer" })).toThrow(/a config name: AdapterHub resolves these from its hub/);
    expect(() => parseAdapterHubConfig({ ...ok, config: { architecture: "lora", r: 8 } })).toThrow(/"lora" adapter; @peftjs\/adapter reads bottleneck adapters only/);
    expect(() => parseAdapterHubConfig({ peft_type: "BOTTLENECK" })).toThrow(/PEFT-layout adapter_config.json/);
    expect(() => parseAdapterHubConfig({ ...ok, name: "" })).toThrow(/"name" must be the adapter's name/);
    expect(() => parseAdapterHubConfig([])).toThrow(/expected a JSON object/);
  });

  it("refuses a pickle-only folder, a foreign weight and an adapter for another model", async () => {
    const pickle = join(tmp, "pickle");
    mkdirSync(pickle);
    copyFileSync(`${hubDir}/adapter_config.json`, join(pickle, "adapter_config.json"));
    writeFileSync(join(pickle, "pytorch_adapter.bin"), "not read");
    await expect(readAdapterHubAdapter(pickle)).rejects.toThrow(/only pytorch_adapter.bin \(a Python pickle, not read here\). Save the adapter again with .*use_safetensors=True/);

    const config = readFileSync(`${hubDir}/adapter_config.json`, "utf8");
    const t = tf.zeros([2]);
    const foreign = serializeSafetensors(new Map([["transformer.h.0.mlp.c_fc.weight", t]]));
    expect(() => adapterHubToPeftFiles(config, foreign)).toThrow(/"transformer.h.0.mlp.c_fc.weight" is not a bottleneck adapter weight/);
    t.dispose();
    expect(() => adapterHubToPeftFiles("{not json", new Uint8Array())).toThrow(/is not valid JSON/);

    const bert = await loadPretrained(`${BASES}bert`);
    await expect(readAdapterHubAdapter(hubDir, { model: bert })).rejects.toThrow(/made for model type "gpt2", but the model is "bert"/);
    bert.dispose();
  });
});

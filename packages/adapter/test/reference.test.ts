/**
 * The method end to end against the PyTorch port of AdapterHub (scripts/make_fixtures.py, made on CPU with
 * torch 2.13 + transformers 5.17): for GPT-2, BERT and LLaMA and every preset, feature mix and composition,
 * the adapters imported from AdapterHub's saved format, and the same adapters in PEFT's layout, give the
 * reference logits on a padded batch (≤ 1e-4 relative). Each check also asserts that the adapters change the
 * logits, so a no-op adapter could not pass.
 */
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { tf, createRegistry, PeftModel } from "@peftjs/core";
import type { PreTrainedModelLike } from "@peftjs/core";
import { loadPretrained } from "@peftjs/models";
import { bottleneckMethod, readAdapterHubAdapter, setAdapterComposition } from "../src/index.js";
import { BASES, adapterFixtures, disposeInputs, fixtureInputs, relativeError, setupFromJson } from "./helpers.js";
import type { AdapterFixture } from "./helpers.js";

const TOL = 1e-4;
const registry = createRegistry(bottleneckMethod);
const errors: Record<string, { adapterhub: number; peft?: number }> = {};

function logitsOf(model: PreTrainedModelLike | PeftModel<PreTrainedModelLike>, f: AdapterFixture): Float32Array {
  const inputs = fixtureInputs(f);
  const out = model.forward(inputs);
  const data = out.logits.dataSync() as Float32Array;
  tf.dispose([out.logits, out.loss].filter((t) => t !== undefined));
  disposeInputs(inputs);
  return data;
}

async function viaAdapterHub(f: AdapterFixture): Promise<PeftModel<PreTrainedModelLike>> {
  const base = await loadPretrained(`${BASES}${f.model_type}`);
  let peft: PeftModel<PreTrainedModelLike> | null = null;
  for (const a of f.adapters) {
    const hub = await readAdapterHubAdapter(`${f.dir}/adapterhub/${a.name}`);
    expect(hub.name).toBe(a.name);
    expect(hub.modelType).toBe(f.model_type);
    if (peft === null) peft = PeftModel.fromFiles(base, hub.files, { registry, adapterName: hub.name });
    else peft.loadAdapterFromFiles(hub.files, hub.name);
  }
  const setup = setupFromJson(f.setup);
  if (typeof setup === "string") peft!.setAdapter(setup);
  else setAdapterComposition(peft!, setup);
  return peft!;
}

describe("bottleneck adapters vs the PyTorch port of AdapterHub", () => {
  for (const f of adapterFixtures()) {
    it(`${f.model_type} ${f.case}: AdapterHub import${existsSync(`${f.dir}/peft`) ? " and PEFT layout" : ""} give the reference logits`, async () => {
      const ref = (f.logits).flat(Infinity) as number[];
      const plain = await loadPretrained(`${BASES}${f.model_type}`);
      // The adapters matter: the base model's logits are far from the reference.
      expect(relativeError(logitsOf(plain, f), ref)).toBeGreaterThan(1e-2);
      plain.dispose();

      const peft = await viaAdapterHub(f);
      const hubErr = relativeError(logitsOf(peft, f), ref);
      errors[`${f.model_type} ${f.case}`] = { adapterhub: hubErr };
      expect(hubErr).toBeLessThanOrEqual(TOL);
      // Trainable-parameter count of each adapter = AdapterHub's (the port's) count.
      for (const a of f.adapters) {
        const n = [...peft.injectionOf(a.name).state().values()].reduce((s, v) => s + v.size, 0);
        expect(n).toBe(f.adapter_params[a.name]);
      }
      peft.getBaseModel().dispose();
      peft.dispose();

      if (existsSync(`${f.dir}/peft`)) {
        const base = await loadPretrained(`${BASES}${f.model_type}`);
        const viaPeft = await PeftModel.fromPretrained(base, `${f.dir}/peft`, { registry });
        const peftErr = relativeError(logitsOf(viaPeft, f), ref);
        errors[`${f.model_type} ${f.case}`]!.peft = peftErr;
        expect(peftErr).toBeLessThanOrEqual(TOL);
        base.dispose();
        viaPeft.dispose();
      }
    });
  }
  it("(max relative errors, printed)", () => console.log(JSON.stringify(errors, null, 1)));
});

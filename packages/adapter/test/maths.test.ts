/**
 * The bottleneck maths alone (BottleneckAdapter + the composition of bottleneck_layer_forward), placed at the
 * residual paths of @peftjs/models by a test harness, against the PyTorch port of AdapterHub
 * (scripts/make_fixtures.py): same base model, same AdapterHub weights, same logits ≤ 1e-4 relative.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { tf, Module, parseSafetensors } from "@peftjs/core";
import type { Tensor } from "@peftjs/core";
import { loadPretrained } from "@peftjs/models";
import type { TensorModule } from "@peftjs/models";
import {
  ARCHITECTURES,
  BottleneckAdapter,
  adapterHubKeyToFileKey,
  adapterLocations,
  bottleneckLayerForward,
  bottleneckSizeAt,
  fromPeftBottleneckConfig,
  parseComposition,
} from "../src/index.js";
import type { AdapterSetup, BottleneckConfig } from "../src/index.js";
import { BASES, adapterFixtures, disposeInputs, fixtureInputs, relativeError, setupFromJson } from "./helpers.js";

class Harness extends Module {
  readonly adapters = new Map<string, BottleneckAdapter>();
  constructor(private readonly setup: AdapterSetup) {
    super();
  }
  forward(h: Tensor, residual: Tensor, layerNorm: TensorModule | null): Tensor {
    return bottleneckLayerForward(h, residual, layerNorm, parseComposition(this.setup), this.adapters);
  }
}

const errors: Record<string, number> = {};

describe("bottleneck maths vs the PyTorch port of AdapterHub", () => {
  for (const f of adapterFixtures()) {
    it(`${f.model_type} ${f.case}`, async () => {
      const model = await loadPretrained(`${BASES}${f.model_type}`);
      const arch = ARCHITECTURES[f.model_type]!;
      const setup = setupFromJson(f.setup);
      const harnesses = new Map<string, Harness>();
      for (const a of f.adapters) {
        const config: BottleneckConfig = fromPeftBottleneckConfig(a.config).config;
        const hub = parseSafetensors(readFileSync(`${f.dir}/adapterhub/${a.name}/adapter.safetensors`)).tensors;
        const byKey = new Map([...hub].map(([k, t]) => [adapterHubKeyToFileKey(f.model_type, k, a.name), t]));
        for (const loc of adapterLocations(arch, (model.getSubmodule(arch.layers)).namedChildren().length, config)) {
          let harness = harnesses.get(loc.path);
          if (harness === undefined) {
            harness = new Harness(setup);
            harnesses.set(loc.path, harness);
            model.setSubmodule(loc.path, harness);
          }
          const adapter = new BottleneckAdapter(32, bottleneckSizeAt(config, 32, loc.layerIdx), config, () => 1);
          for (const [p, v] of adapter.namedParameters()) {
            const t = byKey.get(`${loc.path}.${p}`);
            expect(t, `${loc.path}.${p}`).toBeDefined();
            (v).assign(t!);
            byKey.delete(`${loc.path}.${p}`);
          }
          harness.adapters.set(a.name, adapter);
        }
        expect([...byKey.keys()]).toEqual([]);
      }
      const inputs = fixtureInputs(f);
      const logits = model.forward(inputs).logits;
      const err = relativeError(logits.dataSync(), (f.logits).flat(Infinity) as number[]);
      errors[`${f.model_type} ${f.case}`] = err;
      expect(err).toBeLessThanOrEqual(1e-4);
      logits.dispose();
      disposeInputs(inputs);
      model.dispose();
      tf.disposeVariables();
    });
  }
  it("(errors)", () => console.log(errors));
});

import { describe, expect, it } from "vitest";
import { bottleneckSizeAt, fromPeftBottleneckConfig, parseBottleneckConfig, toPeftBottleneckConfig } from "./config.js";

describe("bottleneck config", () => {
  it("presets carry AdapterHub's dataclass defaults (adapter_config.py, adapters 1.2)", () => {
    // SeqBnConfig, DoubleSeqBnConfig, ParBnConfig as read in the source; the rest are BnConfig's defaults.
    const common = { originalLnAfter: true, lnBefore: false, lnAfter: false, initWeightsSeed: null, useGating: false, residualBeforeLn: true, adapterResidualBeforeLn: false, leaveOut: [], dropout: 0 };
    expect(parseBottleneckConfig({ preset: "pfeiffer" })).toMatchObject({
      ...common, originalLnBefore: true, mhAdapter: false, outputAdapter: true, nonLinearity: "relu", reductionFactor: 16, initWeights: "bert", isParallel: false, scaling: 1,
    });
    expect(parseBottleneckConfig({ preset: "houlsby" })).toMatchObject({
      ...common, originalLnBefore: false, mhAdapter: true, outputAdapter: true, nonLinearity: "swish", reductionFactor: 16, initWeights: "bert", isParallel: false, scaling: 1,
    });
    expect(parseBottleneckConfig({ preset: "par_bn" })).toMatchObject({
      ...common, originalLnBefore: false, mhAdapter: false, outputAdapter: true, nonLinearity: "relu", reductionFactor: 2, initWeights: "mam_adapter", isParallel: true, scaling: 4,
    });
    expect(parseBottleneckConfig({ preset: "seq_bn" })).toEqual(parseBottleneckConfig({ preset: "pfeiffer" }));
    expect(parseBottleneckConfig({ preset: "double_seq_bn" })).toEqual(parseBottleneckConfig({ preset: "houlsby" }));
    expect(parseBottleneckConfig({ preset: "parallel" })).toEqual(parseBottleneckConfig({ preset: "par_bn" }));
  });

  it("options override a preset; without one, BnConfig's required fields must be given", () => {
    expect(parseBottleneckConfig({ preset: "houlsby", reductionFactor: 8, nonLinearity: "GELU" })).toMatchObject({ reductionFactor: 8, nonLinearity: "gelu" });
    expect(() => parseBottleneckConfig({ mhAdapter: true })).toThrow(/outputAdapter, reductionFactor, nonLinearity must be given .* preset: pfeiffer/);
    expect(parseBottleneckConfig({ mhAdapter: true, outputAdapter: false, reductionFactor: 4, nonLinearity: "tanh" })).toMatchObject({ originalLnBefore: false, scaling: 1, initWeights: "bert" });
  });

  it("refuses bad input with the reason and the fix", () => {
    expect(() => parseBottleneckConfig({ preset: "houlsby", reduction_factor: 8 })).toThrow(/unknown option "reduction_factor". Options are camelCase here: "reduction_factor" → "reductionFactor"/);
    expect(() => parseBottleneckConfig({ preset: "lora" })).toThrow(/preset "lora" is not known; use one of pfeiffer/);
    expect(() => parseBottleneckConfig({ preset: "houlsby", nonLinearity: "softsign" })).toThrow(/nonLinearity "softsign" is not supported; use one of relu, gelu/);
    expect(() => parseBottleneckConfig({ preset: "houlsby", scaling: "big" })).toThrow(/scaling must be a number, "learned" or "channel"/);
    expect(() => parseBottleneckConfig({ preset: "houlsby", reductionFactor: { one: 2 } })).toThrow(/keys must be layer indices/);
    expect(() => parseBottleneckConfig({ preset: "houlsby", reductionFactor: 0 })).toThrow(/must be a number > 0/);
    expect(() => parseBottleneckConfig({ preset: "houlsby", dropout: 1 })).toThrow(/dropout must be in \[0, 1\)/);
    expect(() => parseBottleneckConfig({ preset: "houlsby", mhAdapter: false, outputAdapter: false })).toThrow(/placed nowhere/);
    expect(() => parseBottleneckConfig({ preset: "houlsby", leaveOut: [-1] })).toThrow(/leaveOut must be a list of layer indices/);
  });

  it("bottleneck size: ⌊hidden / factor⌋ (Python's //), at least 1, per-layer mapping with default, or explicit", () => {
    const c = parseBottleneckConfig({ preset: "houlsby", reductionFactor: { "1": 3, default: 16 } });
    expect(bottleneckSizeAt(c, 32, 0)).toBe(2);
    expect(bottleneckSizeAt(c, 32, 1)).toBe(10);
    expect(bottleneckSizeAt(parseBottleneckConfig({ preset: "houlsby", reductionFactor: 64 }), 32, 0)).toBe(1);
    expect(bottleneckSizeAt(parseBottleneckConfig({ preset: "houlsby", reductionFactor: 0.5 }), 32, 0)).toBe(64);
    expect(bottleneckSizeAt(parseBottleneckConfig({ preset: "houlsby", bottleneckSize: 7 }), 32, 3)).toBe(7);
    expect(() => bottleneckSizeAt(parseBottleneckConfig({ preset: "houlsby", reductionFactor: { "0": 4 } }), 32, 1)).toThrow(/no factor for layer 1 and no "default"/);
  });

  it("adapter_config.json: PEFT's layout with AdapterHub's field names, round trip exact", () => {
    const c = parseBottleneckConfig({ preset: "par_bn", scaling: "learned", leaveOut: [0], reductionFactor: { "0": 4, default: 8 }, taskType: "CAUSAL_LM" });
    const json = toPeftBottleneckConfig(c);
    expect(json).toMatchObject({ peft_type: "BOTTLENECK", task_type: "CAUSAL_LM", is_parallel: true, init_weights: "mam_adapter", scaling: "learned", leave_out: [0], reduction_factor: { "0": 4, default: 8 }, phm_layer: false });
    const back = fromPeftBottleneckConfig(JSON.parse(JSON.stringify(json)) as Record<string, unknown>);
    expect(back.unknownFields).toEqual([]);
    expect(back.config).toEqual(c);
  });

  it("reads AdapterHub's full BnConfig dict; refuses features not implemented here when they are on", () => {
    const hub = {
      mh_adapter: false, output_adapter: true, reduction_factor: 16, non_linearity: "relu", original_ln_before: true, original_ln_after: true,
      ln_before: false, ln_after: false, init_weights: "bert", init_weights_seed: null, is_parallel: false, scaling: 1.0, use_gating: false,
      residual_before_ln: true, adapter_residual_before_ln: false, inv_adapter: null, inv_adapter_reduction_factor: null, cross_adapter: false,
      leave_out: [], dropout: 0.0, phm_layer: false, phm_dim: 4, factorized_phm_W: true, shared_W_phm: false, shared_phm_rule: true,
      factorized_phm_rule: false, phm_c_init: "normal", phm_init_range: 0.0001, learn_phm: true, hypercomplex_nonlinearity: "glorot-uniform",
      phm_rank: 1, phm_bias: true, stochastic_depth: 0.0,
    };
    const { config, unknownFields } = fromPeftBottleneckConfig(hub);
    expect(unknownFields).toEqual([]);
    expect(config).toEqual(parseBottleneckConfig({ preset: "pfeiffer" }));
    expect(() => fromPeftBottleneckConfig({ ...hub, phm_layer: true })).toThrow(/"phm_layer" to true, an AdapterHub feature @peftjs\/adapter does not implement/);
    expect(() => fromPeftBottleneckConfig({ ...hub, inv_adapter: "nice" })).toThrow(/"inv_adapter"/);
    expect(() => fromPeftBottleneckConfig({ ...hub, stochastic_depth: 0.1 })).toThrow(/"stochastic_depth"/);
    expect(fromPeftBottleneckConfig({ ...hub, future_field: 1 }).unknownFields).toEqual(["future_field"]);
    expect(() => fromPeftBottleneckConfig({ ...hub, peft_type: "LORA" })).toThrow(/reads "BOTTLENECK" only/);
  });
});

import { describe, expect, it } from "vitest";
import { Conv1D, Embedding, LayerNorm, Linear, Module, ModuleList, NoMatchingTargetsError, getPatternValue, isLinearLike, matchTargets, silentLogger } from "../index.js";
import type { TargetSelection } from "../index.js";
import { translatePythonRegex } from "./python-regex.js";
import { ScaleLayer } from "../../test/support/scale-layer.js";

class Container extends Module {
  constructor(children: Record<string, Module>) {
    super();
    for (const [n, m] of Object.entries(children)) this.registerModule(n, m);
  }
}

/** A LLaMA/GPT-2-shaped tree: model.layers.{0,1,2}.{self_attn.{q_proj,v_proj}, mlp.c_fc (Conv1D), norm}, lm_head. */
function tree(): Module {
  const layer = (): Module =>
    new Container({
      self_attn: new Container({ q_proj: new Linear(2, 2), v_proj: new Linear(2, 2) }),
      mlp: new Container({ c_fc: new Conv1D(2, 3) }),
      norm: new LayerNorm(2),
    });
  return new Container({
    model: new Container({ embed_tokens: new Embedding(5, 2), layers: new ModuleList([layer(), layer(), layer()]) }),
    lm_head: new Linear(2, 5, { bias: false }),
  });
}

const none: TargetSelection = { targetModules: null, excludeModules: null, layersToTransform: null, layersPattern: null };
const sel = (s: Partial<TargetSelection> & Record<string, unknown>): TargetSelection => ({ ...none, ...s });
const quiet = { logger: silentLogger };

describe("matchTargets — PEFT's check_target_module_exists", () => {
  it("list entries match a path exactly or as a .suffix, never a partial name", () => {
    const m = tree();
    expect(matchTargets(m, sel({ targetModules: ["q_proj"] }))).toEqual(["model.layers.0.self_attn.q_proj", "model.layers.1.self_attn.q_proj", "model.layers.2.self_attn.q_proj"]);
    // "self_attn.v_proj" is a dotted suffix; "proj" is not a whole segment of anything.
    expect(matchTargets(m, sel({ targetModules: ["self_attn.v_proj", "lm_head"] }))).toEqual([
      "model.layers.0.self_attn.v_proj",
      "model.layers.1.self_attn.v_proj",
      "model.layers.2.self_attn.v_proj",
      "lm_head",
    ]);
    expect(matchTargets(m, sel({ targetModules: ["model.layers.1.mlp.c_fc"] }))).toEqual(["model.layers.1.mlp.c_fc"]);
    expect(() => matchTargets(m, sel({ targetModules: ["proj"] }))).toThrow(NoMatchingTargetsError);
  });

  it("a string is a full-match regular expression (Python syntax accepted)", () => {
    const m = tree();
    expect(matchTargets(m, sel({ targetModules: String.raw`.*\.(1|2)\.self_attn\.q_proj` }))).toEqual(["model.layers.1.self_attn.q_proj", "model.layers.2.self_attn.q_proj"]);
    // A partial match is not enough (re.fullmatch, not re.search).
    expect(() => matchTargets(m, sel({ targetModules: "q_proj" }))).toThrow(/not found/);
    expect(matchTargets(m, sel({ targetModules: String.raw`(?P<all>model\.layers\.0\.self_attn\.v_proj)` }))).toEqual(["model.layers.0.self_attn.v_proj"]);
    expect(translatePythonRegex(String.raw`(?i)\Aa(?P<x>b)(?P=x)\Z`)).toEqual({ source: String.raw`^a(?<x>b)\k<x>$`, flags: "i" });
    expect(() => matchTargets(m, sel({ targetModules: "model.(" }))).toThrow(/Invalid regular expression in targetModules/);
  });

  it('"all-linear" is every Linear/Conv1D but the output head (from the option or the model)', () => {
    const m = tree();
    const all = matchTargets(m, sel({ targetModules: "all-linear" }), { outputEmbeddingsPath: "lm_head" });
    expect(all).toHaveLength(9);
    expect(all).not.toContain("lm_head");
    expect(all).toContain("model.layers.2.mlp.c_fc");
    expect(all.some((p) => p.includes("norm") || p.includes("embed"))).toBe(false);
    // No output path known: the head is included (PEFT only excludes what get_output_embeddings names).
    expect(matchTargets(m, sel({ targetModules: "ALL-LINEAR" }))).toContain("lm_head");
    (m as unknown as { outputEmbeddingsPath: string }).outputEmbeddingsPath = "lm_head";
    expect(matchTargets(m, sel({ targetModules: "all-linear" }))).not.toContain("lm_head");
  });

  it('"all-linear" for SEQ_CLS without an output embedding leaves out the classifier head', () => {
    const m = new Container({ body: new Container({ dense: new Linear(2, 2) }), classifier: new Linear(2, 3) });
    expect(matchTargets(m, sel({ targetModules: "all-linear" }))).toEqual(["body.dense", "classifier"]);
    expect(matchTargets(m, sel({ targetModules: "all-linear", taskType: "SEQ_CLS" }))).toEqual(["body.dense"]);
  });

  it("excludeModules: list (exact or .suffix) and full-match regex, checked before targets", () => {
    const m = tree();
    expect(matchTargets(m, sel({ targetModules: ["q_proj", "v_proj"], excludeModules: ["layers.1.self_attn.q_proj", "v_proj"] }))).toEqual([
      "model.layers.0.self_attn.q_proj",
      "model.layers.2.self_attn.q_proj",
    ]);
    expect(matchTargets(m, sel({ targetModules: "all-linear", excludeModules: String.raw`.*\.(0|1)\..*` }), { outputEmbeddingsPath: "lm_head" })).toEqual([
      "model.layers.2.self_attn.q_proj",
      "model.layers.2.self_attn.v_proj",
      "model.layers.2.mlp.c_fc",
    ]);
    const warnings: string[] = [];
    matchTargets(m, sel({ targetModules: ["q_proj"], excludeModules: ["nothing_like_this"] }), { logger: { ...silentLogger, warn: (w) => warnings.push(w) } });
    expect(warnings).toEqual([expect.stringMatching(/excludeModules=\["nothing_like_this"\] but no modules were excluded/)]);
    expect(() => matchTargets(m, sel({ targetModules: ["q_proj"], excludeModules: ["q_proj"] }))).toThrow(/matched nothing that excludeModules/);
  });

  it("modulesToSave of the config are never adapted", () => {
    const m = tree();
    // PEFT's "(^|.*\.)m($|\..*)": the module itself and everything inside it.
    expect(matchTargets(m, sel({ targetModules: ["lm_head", "c_fc", "q_proj"], modulesToSave: ["lm_head", "mlp"] }))).toEqual([
      "model.layers.0.self_attn.q_proj",
      "model.layers.1.self_attn.q_proj",
      "model.layers.2.self_attn.q_proj",
    ]);
    expect(() => matchTargets(m, sel({ targetModules: ["lm_head"], modulesToSave: ["lm_head"] }))).toThrow(/matched nothing that excludeModules \/ modulesToSave left/);
  });

  it("layersToTransform + layersPattern keep modules of the listed layers", () => {
    const m = tree();
    // No pattern: PEFT's r".*?\.[^.]*\.(\d+)\." — the first number after some ".name.".
    expect(matchTargets(m, sel({ targetModules: ["q_proj"], layersToTransform: 1 }))).toEqual(["model.layers.1.self_attn.q_proj"]);
    expect(matchTargets(m, sel({ targetModules: ["q_proj", "c_fc"], layersToTransform: [0, 2], layersPattern: "layers" }))).toEqual([
      "model.layers.0.self_attn.q_proj",
      "model.layers.0.mlp.c_fc",
      "model.layers.2.self_attn.q_proj",
      "model.layers.2.mlp.c_fc",
    ]);
    expect(matchTargets(m, sel({ targetModules: ["q_proj"], layersToTransform: [2], layersPattern: ["h", "layers"] }))).toEqual(["model.layers.2.self_attn.q_proj"]);
    // A pattern that names no layer container matches nothing.
    expect(() => matchTargets(m, sel({ targetModules: ["q_proj"], layersToTransform: [0], layersPattern: "blocks" }))).toThrow(/layersToTransform \[0\].*layersPattern "blocks"/);
    // PEFT: an exact path is matched before the layer filter is looked at.
    expect(matchTargets(m, sel({ targetModules: ["model.layers.0.self_attn.q_proj"], layersToTransform: [2] }))).toEqual(["model.layers.0.self_attn.q_proj"]);
    // "all-linear" goes through the layer filter (as PEFT's condensed suffixes do on real models); lm_head has no layer.
    expect(matchTargets(m, sel({ targetModules: "all-linear", layersToTransform: [1] }))).toEqual([
      "model.layers.1.self_attn.q_proj",
      "model.layers.1.self_attn.v_proj",
      "model.layers.1.mlp.c_fc",
    ]);
    expect(() => matchTargets(m, sel({ targetModules: ".*q_proj", layersToTransform: [1] }))).toThrow(/cannot be used when targetModules is a regular expression/);
    expect(() => matchTargets(m, sel({ targetModules: ["q_proj"], layersPattern: "layers" }))).toThrow(/needs layersToTransform/);
  });

  it("skips tuner-layer internals but matches the tuner layer itself", () => {
    const m = tree();
    const q0 = m.getSubmodule("model.layers.0.self_attn.q_proj") as Linear;
    m.setSubmodule("model.layers.0.self_attn.q_proj", new ScaleLayer(q0, { methodName: "t", paramName: "scale_vector", offset: 1, column: false }));
    // base_layer is a Linear named "...q_proj.base_layer": never a target, neither by suffix nor by "all-linear".
    expect(matchTargets(m, sel({ targetModules: ["q_proj", "base_layer"] }))).toEqual(["model.layers.0.self_attn.q_proj", "model.layers.1.self_attn.q_proj", "model.layers.2.self_attn.q_proj"]);
    const all = matchTargets(m, sel({ targetModules: "all-linear" }), { outputEmbeddingsPath: "lm_head" });
    expect(all).toContain("model.layers.0.self_attn.q_proj");
    expect(all.some((p) => p.includes("base_layer"))).toBe(false);
  });

  it("no match: a NoMatchingTargetsError listing the model's (targetable) module paths", () => {
    const m = tree();
    let error: NoMatchingTargetsError | undefined;
    try {
      matchTargets(m, sel({ targetModules: ["k_proj"] }));
    } catch (e) {
      error = e as NoMatchingTargetsError;
    }
    expect(error).toBeInstanceOf(NoMatchingTargetsError);
    expect(error!.message).toMatch(/Target modules \["k_proj"\] not found in the model/);
    expect(error!.message).toContain("model.layers.2.self_attn.v_proj");
    expect(error!.message).toMatch(/last names .*q_proj, v_proj/);
    expect(error!.modulePaths).toContain("model.layers.1.norm");
    // With isTargetable the list holds only what the method could adapt.
    try {
      matchTargets(m, sel({ targetModules: ["k_proj"] }), { isTargetable: (x) => isLinearLike(x) });
    } catch (e) {
      error = e as NoMatchingTargetsError;
    }
    expect(error!.modulePaths).toEqual([
      ...[0, 1, 2].flatMap((i) => [`model.layers.${i}.self_attn.q_proj`, `model.layers.${i}.self_attn.v_proj`, `model.layers.${i}.mlp.c_fc`]),
      "lm_head",
    ]);
    expect(() => matchTargets(m, sel({ targetModules: null }))).toThrow(/No targetModules given/);
    expect(() => matchTargets(m, sel({ targetModules: ["q_proj", ""] }))).toThrow(/targetModules entries must be non-empty module names/);
  });

  it("isTargetable filters name matches and says so when nothing is left", () => {
    const m = tree();
    expect(matchTargets(m, sel({ targetModules: ["self_attn", "q_proj"] }), { isTargetable: (x) => isLinearLike(x), ...quiet })).toHaveLength(3);
    expect(() => matchTargets(m, sel({ targetModules: ["norm"] }), { isTargetable: (x) => isLinearLike(x) })).toThrow(/matched only modules this method cannot adapt: model.layers.0.norm/);
  });
});

describe("getPatternValue — PEFT's get_pattern_key", () => {
  it("matches a key as a regex at the end of the path, first key wins, else the fallback", () => {
    const pattern = { "layers.1.self_attn.q_proj": 16, q_proj: 4, [String.raw`.*\.2\..*v_proj`]: 32 };
    expect(getPatternValue(pattern, "model.layers.1.self_attn.q_proj", 8)).toBe(16);
    expect(getPatternValue(pattern, "model.layers.0.self_attn.q_proj", 8)).toBe(4);
    expect(getPatternValue(pattern, "model.layers.2.self_attn.v_proj", 8)).toBe(32);
    expect(getPatternValue(pattern, "model.layers.0.self_attn.v_proj", 8)).toBe(8);
    // The key must end at a segment boundary: "proj" does not match "q_proj".
    expect(getPatternValue({ proj: 2 }, "model.q_proj", 8)).toBe(8);
    // "(.*\.)?" makes the whole path a match too.
    expect(getPatternValue({ "model.q_proj": 2 }, "model.q_proj", 8)).toBe(2);
    expect(getPatternValue(null, "model.q_proj", 8)).toBe(8);
  });
});

import { describe, it, expect } from "vitest";
import { RESULTS_SCHEMA, assertValidResults, validate } from "./schema.js";
import { sampleResults } from "../test/sample-results.js";

describe("results schema", () => {
  it("accepts a conforming document", () => {
    expect(validate(sampleResults())).toEqual([]);
    expect(() => assertValidResults(sampleResults())).not.toThrow();
  });

  it("names the path of every problem", () => {
    const r = sampleResults();
    const m = (r.methods as Record<string, unknown>[])[0]!;
    delete m.label;
    (m.training as Record<string, unknown>).peakBytes = -1;
    (r.provenance as Record<string, unknown>).extra = 1;
    r.peer = { status: "ok", reason: "x" };
    const errors = validate(r);
    expect(errors).toContain('$.methods[0]: missing required property "label"');
    expect(errors).toContain("$.methods[0].training.peakBytes: -1 < minimum 0");
    expect(errors).toContain('$.provenance: unexpected property "extra"');
    expect(errors.some((e) => e.startsWith("$.peer"))).toBe(true);
    expect(() => assertValidResults(r)).toThrow(/does not match its schema/);
  });

  it("rejects non-finite numbers and wrong types", () => {
    const r = sampleResults();
    r.totalSeconds = Number.NaN;
    (r.config as Record<string, unknown>).seed = 1.5;
    const errors = validate(r);
    expect(errors).toContain("$.totalSeconds: not a finite number");
    expect(errors).toContain("$.config.seed: expected integer, got number");
  });

  it("every $ref points at a definition", () => {
    const refs = JSON.stringify(RESULTS_SCHEMA).match(/#\/\$defs\/[a-zA-Z]+/g) ?? [];
    for (const ref of new Set(refs)) expect(RESULTS_SCHEMA.$defs?.[ref.slice(8)]).toBeDefined();
  });
});

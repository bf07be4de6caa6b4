/**
 * JSON Schema (draft 2020-12 subset) of `results.json`, and a validator for that subset: `type` (one
 * or a list), `properties`, `required`, `additionalProperties: false`, `items`, `enum`, `minimum`,
 * `$ref` to `#/$defs/…`, `oneOf`. No dependency; the bench validates its own output before writing it,
 * and `results.schema.json` is written beside it for other tools.
 */

export type JsonSchema = {
  $schema?: string;
  $id?: string;
  title?: string;
  description?: string;
  type?: JsonType | JsonType[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  enum?: unknown[];
  minimum?: number;
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  oneOf?: JsonSchema[];
};
type JsonType = "object" | "array" | "string" | "number" | "integer" | "boolean" | "null";

const num: JsonSchema = { type: "number" };
const nonNeg: JsonSchema = { type: "number", minimum: 0 };
const count: JsonSchema = { type: "integer", minimum: 0 };
const str: JsonSchema = { type: "string" };
const ref = (name: string): JsonSchema => ({ $ref: `#/$defs/${name}` });
const nullable = (s: JsonSchema): JsonSchema => ({ oneOf: [{ type: "null" }, s] });
/** An object whose listed properties are all required and no others allowed. */
const obj = (properties: Record<string, JsonSchema>, description?: string): JsonSchema => ({
  type: "object",
  ...(description === undefined ? {} : { description }),
  properties,
  required: Object.keys(properties),
  additionalProperties: false,
});

export const RESULTS_SCHEMA: JsonSchema = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  $id: "https://github.com/peftjs/peftjs/apps/bench/results.schema.json",
  title: "peftjs bench results",
  ...obj({
    schemaVersion: { type: "integer", enum: [1] },
    createdAt: str,
    totalSeconds: nonNeg,
    provenance: ref("provenance"),
    config: obj({
      preset: str,
      seed: count,
      timing: obj({ model: ref("modelShape"), batch: count, seq: count, warmupSteps: count, steps: count, inferenceReps: count, mergeReps: count }),
      quality: obj({ model: ref("modelShape"), dataset: str, batch: count, seq: count, pretrainSteps: count, steps: count, heldOutExamples: count }),
    }),
    base: obj({
      pretrain: obj({ steps: count, seconds: nonNeg, finalTrainLoss: nullable(num), heldOutLoss: num, heldOutAccuracy: ref("fraction") }),
      inferenceMs: nullable(ref("latencyPair")),
    }),
    methods: { type: "array", items: ref("method") },
    peer: nullable({
      oneOf: [
        obj({ status: { enum: ["ok"] }, source: str, results: ref("peerResults") }),
        obj({ status: { enum: ["unavailable"] }, reason: str }),
      ],
    }),
    combination: nullable(obj({ note: str })),
    notes: { type: "array", items: str },
  }),
  $defs: {
    fraction: { type: "number", minimum: 0 },
    summary: obj({ n: count, median: num, p10: num, p90: num, mean: num, min: num, max: num }, "Statistics of repeated timings (percentiles: linear interpolation)."),
    latencyPair: obj({ batch1: ref("summary"), batch8: ref("summary") }),
    trainable: obj({ params: count, total: count, percent: nonNeg }),
    modelShape: obj({ family: { enum: ["gpt2"] }, nLayer: count, nEmbd: count, nHead: count, vocabSize: count, nPositions: count, params: count, origin: str }),
    provenance: obj({
      gitSha: nullable(str),
      gitShaSource: str,
      packages: { type: "object", additionalProperties: str },
      node: str,
      platform: str,
      arch: str,
      cpu: obj({ model: str, count: count }),
      backend: str,
      backendNotes: { type: "array", items: str },
      adapter: nullable(obj({ vendor: str, architecture: str, device: str, description: str })),
      gpu: nullable(obj({ name: str, driver: nullable(str), memoryMiB: nullable(count) })),
      command: { type: "array", items: str },
      bundled: { type: "boolean" },
    }),
    training: obj({
      batch: count,
      seq: count,
      warmupSteps: count,
      firstStepMs: nonNeg,
      stepMs: ref("summary"),
      tokensPerSecond: nonNeg,
      peakBytes: count,
      backendPeakBytes: nullable(count),
      numTensors: obj({ afterFirstTimedStep: count, afterLastStep: count, drift: { type: "integer" } }),
    }),
    quality: obj({
      trainable: ref("trainable"),
      steps: count,
      batch: count,
      learningRate: nonNeg,
      finalTrainLoss: num,
      heldOutLoss: num,
      heldOutAccuracy: ref("fraction"),
      heldOutExactMatch: ref("fraction"),
      seconds: nonNeg,
    }),
    method: obj({
      name: str,
      label: str,
      config: str,
      peftConfig: nullable({ type: "object" }),
      learningRate: nonNeg,
      trainable: nullable(ref("trainable")),
      adapterFileBytes: nullable(count),
      training: nullable(ref("training")),
      quality: nullable(ref("quality")),
      inferenceUnmergedMs: nullable(ref("latencyPair")),
      inferenceMergedMs: nullable(ref("latencyPair")),
      merge: nullable(obj({ mergeMs: ref("summary"), unmergeMs: ref("summary"), maxAbsLogitDiff: nonNeg })),
      error: nullable(str),
    }),
    peerResults: obj({
      schemaVersion: count,
      tool: str,
      versions: { type: "object", additionalProperties: str },
      device: str,
      deviceName: str,
      dtype: str,
      attnImplementation: str,
      baseInferenceMs: nullable(ref("latencyPair")),
      methods: {
        type: "array",
        items: obj({
          name: str,
          config: str,
          trainable: ref("trainable"),
          adapterFileBytes: nullable(count),
          training: obj({
            batch: count,
            seq: count,
            warmupSteps: count,
            firstStepMs: nonNeg,
            stepMs: ref("summary"),
            tokensPerSecond: nonNeg,
            peakBytes: nullable(count),
            reservedBytes: nullable(count),
          }),
          inferenceUnmergedMs: nullable(ref("latencyPair")),
          inferenceMergedMs: nullable(ref("latencyPair")),
          merge: nullable(obj({ mergeMs: ref("summary"), unmergeMs: ref("summary") })),
          error: nullable(str),
        }),
      },
    }),
  },
};

function typeOf(v: unknown): JsonType {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v as JsonType;
}

function matchesType(v: unknown, t: JsonType): boolean {
  const actual = typeOf(v);
  return actual === t || (t === "number" && actual === "integer");
}

/** Returns the list of problems ("path: what is wrong"); empty when `value` conforms. */
export function validate(value: unknown, schema: JsonSchema = RESULTS_SCHEMA, root: JsonSchema = schema, path = "$"): string[] {
  if (schema.$ref !== undefined) {
    const name = schema.$ref.replace(/^#\/\$defs\//, "");
    const target = root.$defs?.[name];
    if (target === undefined) return [`${path}: schema reference ${schema.$ref} does not exist`];
    return validate(value, target, root, path);
  }
  if (schema.oneOf !== undefined) {
    const results = schema.oneOf.map((s) => validate(value, s, root, path));
    const ok = results.filter((r) => r.length === 0).length;
    if (ok === 1) return [];
    if (ok > 1) return [`${path}: matches more than one alternative`];
    // Report the alternative of the value's own type (not "expected null"), then the one with fewest problems.
    const typeMismatch = (r: string[]): boolean => r.length === 1 && r[0]!.startsWith(`${path}: expected `);
    const candidates = results.filter((r) => !typeMismatch(r));
    return (candidates.length > 0 ? candidates : results).reduce((a, b) => (b.length < a.length ? b : a));
  }
  const errors: string[] = [];
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!types.some((t) => matchesType(value, t))) return [`${path}: expected ${types.join(" or ")}, got ${typeOf(value)}`];
  }
  if (typeof value === "number" && !Number.isFinite(value)) errors.push(`${path}: not a finite number`);
  if (schema.enum !== undefined && !schema.enum.includes(value)) errors.push(`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  if (schema.minimum !== undefined && typeof value === "number" && value < schema.minimum) errors.push(`${path}: ${value} < minimum ${schema.minimum}`);
  if (typeOf(value) === "object") {
    const o = value as Record<string, unknown>;
    for (const key of schema.required ?? []) if (!(key in o)) errors.push(`${path}: missing required property "${key}"`);
    for (const [key, v] of Object.entries(o)) {
      const sub = schema.properties?.[key];
      if (sub !== undefined) errors.push(...validate(v, sub, root, `${path}.${key}`));
      else if (schema.additionalProperties === false) errors.push(`${path}: unexpected property "${key}"`);
      else if (typeof schema.additionalProperties === "object") errors.push(...validate(v, schema.additionalProperties, root, `${path}.${key}`));
    }
  }
  if (Array.isArray(value) && schema.items !== undefined) {
    value.forEach((v, i) => errors.push(...validate(v, schema.items, root, `${path}[${i}]`)));
  }
  return errors;
}

/** Throws a readable error listing the first problems when `value` does not conform. */
export function assertValidResults(value: unknown): void {
  const errors = validate(value);
  if (errors.length > 0) {
    throw new Error(`results.json does not match its schema:\n  ${errors.slice(0, 20).join("\n  ")}${errors.length > 20 ? `\n  … ${errors.length - 20} more` : ""}`);
  }
}

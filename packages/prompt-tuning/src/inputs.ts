/**
 * How the prompt methods change a forward's inputs, as PEFT's `PeftModelForCausalLM.forward`,
 * `PeftModelForSequenceClassification.forward` / `_prefix_tuning_forward` and
 * `PeftModelForCausalLM.prepare_inputs_for_generation` do (peft `peft_model.py`):
 *
 * Virtual tokens (prompt tuning, P-tuning), first call (no cache yet):
 *   inputsEmbeds = [table; wordEmbeddings(inputIds)] per row, attentionMask = [1…1 | mask],
 *   labels = [-100…-100 | labels] (causal LM), tokenTypeIds = [0…0 | types] (sequence classification; a causal
 *   LM drops them), positionIds dropped (PEFT: "Position ids are not supported … Ignoring position ids"), so
 *   the model numbers the virtual tokens 0…V−1 and the text from V.
 * Virtual tokens, decode step (the cache holds them): attentionMask = [1…1 | mask], positionIds dropped.
 * Prefix (prefix tuning), every call: per-layer key/value prefixes from the table, attentionMask =
 *   [1…1 | mask], positionIds + V (given) or V + past + 0…T−1 (PEFT hands the prefix to transformers as a
 *   cache of V positions, so the text starts at position V).
 */
import { tf } from "@peftjs/core";
import type { Embedding, LayerKV, ModelInputs, Tensor } from "@peftjs/core";

/** Label of positions the loss ignores (torch's cross-entropy `ignore_index`). */
const IGNORE_INDEX = -100;

export type Phase = "forward" | "prefill" | "decode";

function batchOf(inputs: ModelInputs, source: string): number {
  const t = inputs.inputIds ?? inputs.inputsEmbeds;
  if (t === undefined) throw new Error(`${source}: the inputs have neither inputIds nor inputsEmbeds.`);
  return t.shape[0];
}

/** `[1…1 | mask]` with V ones per row, in the mask's dtype. */
function extendMask(mask: Tensor, virtual: number): Tensor {
  const ones = tf.ones([mask.shape[0], virtual], mask.dtype);
  return tf.concat([ones, mask], 1);
}

export interface VirtualTokenOptions {
  /** V: the table's rows. */
  numVirtualTokens: number;
  /** `[V, hidden]` virtual-token embeddings (one row each); called once per forward that needs them. */
  table: () => Tensor;
  wordEmbeddings: Embedding;
  /** "CAUSAL_LM" pads the labels with -100; "SEQ_CLS" keeps them and pads token types with 0. */
  taskType: string | null;
  source: string;
}

/** Prompt tuning / P-tuning: the virtual tokens go in front of the input embeddings. */
export function prependVirtualTokens(inputs: ModelInputs, phase: Phase, o: VirtualTokenOptions): ModelInputs {
  const out: ModelInputs = { ...inputs };
  delete out.positionIds;
  if (phase === "decode") {
    // The virtual tokens are in the cache: only the mask needs their columns.
    if (inputs.attentionMask !== undefined) out.attentionMask = extendMask(inputs.attentionMask, o.numVirtualTokens);
    return out;
  }
  const batch = batchOf(inputs, o.source);
  const table = o.table();
  const [virtual, hidden] = table.shape as [number, number];
  const embeds = inputs.inputsEmbeds ?? o.wordEmbeddings.forward(inputs.inputIds!);
  if (embeds.shape[2] !== hidden) throw new Error(`${o.source}: the virtual tokens are ${hidden} wide but the input embeddings ${embeds.shape[2]}; tokenDim must be the model's hidden size.`);
  out.inputsEmbeds = tf.concat([tf.tile(tf.reshape(table, [1, virtual, hidden]), [batch, 1, 1]), embeds], 1);
  delete out.inputIds;
  if (inputs.attentionMask !== undefined) out.attentionMask = extendMask(inputs.attentionMask, virtual);
  if (inputs.labels !== undefined && o.taskType !== "SEQ_CLS") {
    const labels = inputs.labels.dtype === "int32" ? inputs.labels : tf.cast(inputs.labels, "int32");
    out.labels = tf.concat([tf.fill([batch, virtual], IGNORE_INDEX, "int32"), labels], 1);
  }
  if (inputs.tokenTypeIds !== undefined) {
    if (o.taskType === "SEQ_CLS") out.tokenTypeIds = tf.concat([tf.zeros([batch, virtual], inputs.tokenTypeIds.dtype), inputs.tokenTypeIds], 1);
    else delete out.tokenTypeIds;
  }
  return out;
}

export interface PrefixOptions {
  /** `[V, numLayers·2·kvHeads·headDim]`: for each virtual token, layer l's key at block 2l, its value at 2l+1. */
  table: () => Tensor;
  numLayers: number;
  numHeads: number;
  headDim: number;
  source: string;
}

/**
 * The table as per-layer key/value prefixes `[1, heads, V, headDim]` (PEFT `get_prompt`: view
 * `[b, V, 2L, heads, headDim]`, permute to `[2L, b, heads, V, headDim]`, split in pairs).
 */
export function prefixKeyValues(table: Tensor, o: PrefixOptions): LayerKV[] {
  const virtual = table.shape[0];
  const width = 2 * o.numLayers * o.numHeads * o.headDim;
  if (table.rank !== 2 || table.shape[1] !== width) {
    throw new Error(`${o.source}: the prefix table must be [${virtual}, ${width}] (2 × ${o.numLayers} layers × ${o.numHeads} heads × ${o.headDim}), got [${table.shape.join(", ")}].`);
  }
  // [V, 2L, heads, headDim] → [2L, heads, V, headDim]
  const blocks = tf.transpose(tf.reshape(table, [virtual, 2 * o.numLayers, o.numHeads, o.headDim]), [1, 2, 0, 3]);
  const parts = tf.split(blocks, 2 * o.numLayers, 0);
  const out: LayerKV[] = [];
  for (let l = 0; l < o.numLayers; l++) out.push({ key: parts[2 * l]!, value: parts[2 * l + 1]! });
  return out;
}

/** Prefix tuning: every layer's attention gets the learned keys and values in front. */
export function addPrefix(inputs: ModelInputs, o: PrefixOptions): ModelInputs {
  const out: ModelInputs = { ...inputs };
  const batch = batchOf(inputs, o.source);
  const table = o.table();
  const virtual = table.shape[0];
  out.prefixKeyValues = prefixKeyValues(table, o);
  if (inputs.attentionMask !== undefined) out.attentionMask = extendMask(inputs.attentionMask, virtual);
  if (inputs.positionIds !== undefined) {
    out.positionIds = tf.add(inputs.positionIds.dtype === "int32" ? inputs.positionIds : tf.cast(inputs.positionIds, "int32"), tf.scalar(virtual, "int32"));
  } else {
    const seq = (inputs.inputIds ?? inputs.inputsEmbeds)!.shape[1]!;
    const past = inputs.pastKeyValues?.[0]?.key.shape[2] ?? 0;
    out.positionIds = tf.tile(tf.reshape(tf.range(virtual + past, virtual + past + seq, 1, "int32"), [1, seq]), [batch, 1]);
  }
  return out;
}

/**
 * What PeftModel's forward does around the base model's: the active adapters' input hooks (prompt methods:
 * PEFT's prompt-learning branches of `PeftModel.forward`, as hooks) and the mixed-batch checks (PEFT
 * `_check_forward_args`, `_mixed_batch_forward`).
 */
import { tf } from "../tf.js";
import type { Tensor } from "../tf.js";
import type { InputHook, InputPhase } from "../contract/method.js";
import type { ModelInputs } from "../contract/model.js";

/**
 * Which forward `inputs` are: a generation step with a cache is "decode", the first step of a cached
 * generation "prefill", anything else a plain "forward".
 */
export function inputPhase(inputs: ModelInputs): InputPhase {
  if (inputs.pastKeyValues !== undefined && inputs.pastKeyValues.length > 0) return "decode";
  return inputs.useCache === true ? "prefill" : "forward";
}

/** Runs `forward` on the inputs every hook rewrote in turn; the hooks' intermediate tensors are released. */
export function forwardWithHooks<O>(hooks: readonly InputHook[], inputs: unknown, forward: (inputs: unknown) => O): O {
  if (hooks.length === 0) return forward(inputs);
  if (inputs === null || typeof inputs !== "object" || inputs instanceof tf.Tensor) {
    throw new Error("An active adapter rewrites the model's inputs (a prompt method), which needs the inputs as an object ({ inputIds, attentionMask, labels, … }).");
  }
  const given = inputs as ModelInputs;
  const phase = inputPhase(given);
  return tf.tidy(() => {
    let current = given;
    for (const hook of hooks) current = hook.transformInputs(current, phase);
    return forward(current) as unknown as tf.TensorContainer;
  }) as unknown as O;
}

/** Rows in the batch (dim 0 of the input tensor, or of `inputIds` / `inputsEmbeds`), or null when unknown. */
export function batchSize(inputs: unknown): number | null {
  if (inputs instanceof tf.Tensor) return (inputs as Tensor).shape[0] ?? null;
  if (inputs !== null && typeof inputs === "object") {
    const o = inputs as { inputIds?: unknown; inputsEmbeds?: unknown };
    for (const t of [o.inputIds, o.inputsEmbeds]) if (t instanceof tf.Tensor) return (t as Tensor).shape[0] ?? null;
  }
  return null;
}

export function isPromiseLike(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === "object" || typeof v === "function") && typeof (v as { then?: unknown }).then === "function";
}

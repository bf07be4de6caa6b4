import { getPeftModel, selectBackend, setSeed, tf, train } from "@peftjs/core";
import { GPT2LMHeadModel, gpt2Config } from "@peftjs/models";
import { lora } from "@peftjs/lora";

/**
 * LoRA training on the wasm backend as a user's plain script does it: `selectBackend()` and nothing else. LoRA on
 * the token embedding (`wte`) needs the embedding lookup's gradient, which on wasm calls `UnsortedSegmentSum` —
 * a kernel tfjs-backend-wasm 4.22 lacks and @peftjs/core registers when it selects wasm.
 */
export async function trainOnWasm(steps = 50): Promise<{ backend: string; addedKernels: string[]; losses: number[]; leaked: number }> {
  const choice = await selectBackend({ prefer: "wasm" });
  setSeed(0);
  const model = new GPT2LMHeadModel(gpt2Config("tiny"));
  const peft = getPeftModel(model, lora({ r: 4, loraAlpha: 8, targetModules: ["c_attn", "wte"] }));
  const ids = tf.tensor2d([[5, 6, 7, 8, 9, 10, 11, 12]], undefined, "int32");
  // Tensors alive after step 5 and after the last step: flat when nothing leaks (the optimizer's state exists by step 5).
  let after5 = 0;
  let afterLast = 0;
  const { losses } = await train({
    model: peft,
    loss: (batch: tf.Tensor) => peft.forward({ inputIds: batch, labels: batch }).loss as tf.Scalar,
    batches: () => ids,
    steps,
    lr: 1e-2,
    onStep: (info) => {
      if (info.step === 5) after5 = tf.memory().numTensors;
      if (info.step === steps) afterLast = tf.memory().numTensors;
    },
  });
  const leaked = afterLast - after5;
  ids.dispose();
  peft.dispose();
  return { backend: choice.name, addedKernels: choice.addedKernels, losses, leaked };
}

import { getPeftModel, setSeed, tf, train } from "@peftjs/core";
import { GPT2LMHeadModel, gpt2Config } from "@peftjs/models";
import { lora } from "@peftjs/lora";

export async function quickstart(adapterDir: string): Promise<number[]> {
  setSeed(0);
  // A tiny random GPT-2; `await fromPretrained("./my-gpt2")` loads a local Hugging Face folder instead.
  const model = new GPT2LMHeadModel(gpt2Config("tiny"));
  const peft = getPeftModel(model, lora({ r: 8, loraAlpha: 16, targetModules: ["c_attn"] }));
  peft.printTrainableParameters(); // trainable params: 2,048 || all params: 33,664 || trainable%: 6.0837

  // Teach it one sequence (next-token loss); only the LoRA weights get gradients.
  const ids = tf.tensor2d([[5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]], undefined, "int32");
  const { losses } = await train({
    model: peft,
    loss: (batch: tf.Tensor) => peft.forward({ inputIds: batch, labels: batch }).loss as tf.Scalar,
    batches: () => ids,
    steps: 40,
    lr: 1e-2,
  });

  await peft.save(adapterDir); // adapter_config.json + adapter_model.safetensors, as Python PEFT writes them
  peft.mergeAndUnload(); // a plain GPT2LMHeadModel again, the adapter folded into c_attn
  ids.dispose();
  return losses;
}

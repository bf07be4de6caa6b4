// quickstart.mjs — train a LoRA adapter on a tiny GPT-2 and save it: `node quickstart.mjs`
import { getPeftModel, setSeed, tf, train } from "@peftjs/core";
import { GPT2LMHeadModel, gpt2Config } from "@peftjs/models";
import { lora } from "@peftjs/lora";

setSeed(0);
const model = new GPT2LMHeadModel(gpt2Config("tiny")); // random init; `await fromPretrained("./my-gpt2")` loads a local HF folder
const peft = getPeftModel(model, lora({ r: 8, loraAlpha: 16, targetModules: ["c_attn"] }));
peft.printTrainableParameters(); // trainable params: 2,048 || all params: 33,664 || trainable%: 6.0837

const ids = tf.tensor2d([[5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]], undefined, "int32");
const { losses } = await train({
  model: peft,
  loss: (batch) => peft.forward({ inputIds: batch, labels: batch }).loss,
  batches: () => ids,
  steps: 40,
  lr: 1e-2,
});
await peft.save("my-adapter"); // adapter_config.json + adapter_model.safetensors, loadable by Python PEFT
console.log(`loss ${losses[0].toFixed(3)} → ${losses.at(-1).toFixed(3)}; adapter written to my-adapter/`);

/**
 * torch `nn.Sequential` with the two activations PEFT's prompt encoders use, so that parameter paths equal
 * PEFT's (`mlp_head.0.weight`, `mlp_head.2.bias`: activations take an index but hold nothing).
 */
import { Module, ModuleList, tf } from "@peftjs/core";
import type { Tensor } from "@peftjs/core";

/** A module with a one-tensor forward. */
export interface TensorModule extends Module {
  forward(x: Tensor): Tensor;
}

/** Runs its modules in order (torch `nn.Sequential`; children named "0", "1", …). */
export class Sequential extends ModuleList<TensorModule> {
  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      let y = x;
      for (const m of this) y = m.forward(y);
      return y;
    });
  }
}

export class ReLU extends Module implements TensorModule {
  forward(x: Tensor): Tensor {
    return tf.relu(x);
  }
}

export class Tanh extends Module implements TensorModule {
  forward(x: Tensor): Tensor {
    return tf.tanh(x);
  }
}

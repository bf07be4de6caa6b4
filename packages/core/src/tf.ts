/**
 * The one TensorFlow.js engine peftjs uses.
 *
 * `@tensorflow/tfjs-core`'s Node entry registers no gradients; the tfjs-layers bundle registers all of
 * them against the same (peer) tfjs-core, so importing it here makes `tf.grads` work on every backend.
 * The cpu backend is always registered so that something runs everywhere; faster backends are added by
 * `selectBackend()`.
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-layers";
import "@tensorflow/tfjs-backend-cpu";

export { tf };
export type { Tensor, Variable, Rank, DataType } from "@tensorflow/tfjs-core";

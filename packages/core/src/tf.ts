/**
 * The one TensorFlow.js engine peftjs uses.
 *
 * `@tensorflow/tfjs-core`'s Node entry registers no gradients; the tfjs-layers bundle registers all of
 * them against the same (peer) tfjs-core, so importing it here makes `tf.grads` work on every backend.
 * The cpu backend is always registered so that something runs everywhere; faster backends are added by
 * `selectBackend()`.
 *
 * The imports are named and used (not bare `import "…"`): tfjs-backend-cpu's package.json declares
 * its Node bundle free of side effects, so bundlers (esbuild, webpack) would drop a bare import and
 * with it the cpu backend and its kernels.
 *
 * Quiet by default: tfjs-backend-cpu prints a banner ("install our node backend") on its first tensor in
 * Node, through tfjs' own `warn`, which is silent when the `PROD` flag is on (`tf.enableProdMode()`, tfjs'
 * documented switch; in 4.22 it gates only tfjs' console messages, no computation). peftjs turns it on
 * when it loads the engine; `tf.env().set("PROD", false)` after importing peftjs brings tfjs' messages
 * back. With `@tensorflow/tfjs-node` installed nothing else changes (that backend prints no banner).
 */
import * as tf from "@tensorflow/tfjs-core";
import { version_layers } from "@tensorflow/tfjs-layers";
import { version_cpu } from "@tensorflow/tfjs-backend-cpu";

tf.env().set("PROD", true);

/** Versions of the tfjs pieces loaded with the engine (also keeps their registrations in bundles). */
export const tfjsVersions: Readonly<Record<string, string>> = Object.freeze({
  core: tf.version_core,
  layers: version_layers,
  cpu: version_cpu,
});

export { tf };
export type { Tensor, Variable, Rank, DataType } from "@tensorflow/tfjs-core";

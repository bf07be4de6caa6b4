// `pnpm --filter @peftjs/examples train-wasm`: 50 LoRA steps on wasm, chosen by selectBackend() alone.
import { trainOnWasm } from "./train-wasm.js";

const { backend, addedKernels, losses } = await trainOnWasm(50);
console.log(`backend ${backend} (core added: ${addedKernels.join(", ") || "nothing"}); loss ${losses[0]!.toFixed(3)} → ${losses.at(-1)!.toFixed(3)} over ${losses.length} steps`);

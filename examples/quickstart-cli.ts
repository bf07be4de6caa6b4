// `pnpm --filter @peftjs/examples quickstart [dir]`: runs the README example and prints the losses.
import { quickstart } from "./quickstart.js";

const dir = process.argv[2] ?? "quickstart-adapter";
const losses = await quickstart(dir);
console.log(`loss ${losses[0]!.toFixed(3)} → ${losses.at(-1)!.toFixed(3)}; adapter written to ${dir}/`);

/** Where things are: the output folder, the peer script, paths the user typed (relative to where they typed them). */
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { buildStamp, repoRoot } from "./provenance.js";

/** pnpm runs scripts in the package folder; INIT_CWD is where the user ran `pnpm bench`. */
export function userPath(p: string, env: NodeJS.ProcessEnv = process.env): string {
  return isAbsolute(p) ? p : resolve(env.INIT_CWD ?? process.cwd(), p);
}

/** `bench-out/` at the repository root from source; beside the working directory in a bundle. */
export function defaultOutDir(): string {
  const root = repoRoot();
  return join(root ?? process.cwd(), "bench-out");
}

/** peer/peer.py: beside src/ from source, beside bench.mjs in a bundle. */
export function peerScriptPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return buildStamp() === null ? resolve(here, "..", "peer", "peer.py") : resolve(here, "peer", "peer.py");
}

/**
 * Bundles the bench into one folder that runs with plain `node` on a host with no package registry
 * (the GPU host, see ../shared/gpu/README.md):
 *
 *   <outDir>/bench.mjs                                   the app, tfjs, the WebGPU backend (one ESM file)
 *   <outDir>/node_modules/webgpu/{index.js,package.json,dist/linux-x64/dawn.node}   Dawn's Node binding
 *   <outDir>/node_modules/@tensorflow/tfjs-backend-webgpu/   a stub: the real backend is inside bench.mjs
 *   <outDir>/peer/peer.py                                 the PyTorch + PEFT peer
 *   <outDir>/peer/bottleneck.py                           its bottleneck adapters (a port of AdapterHub's)
 *
 * Usage: pnpm --filter @peftjs/bench bundle [outDir]   (default: .gpu/app at the repository root)
 * Then:  node <outDir>/bench.mjs --backend webgpu --peer
 * The git sha and package versions are stamped in (the GPU host has no .git or package.json files).
 */
import { build } from "esbuild";
import { copyFileSync, mkdirSync, rmSync, statSync, writeFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { readGitSha, readPackageVersions } from "../src/provenance.js";
import type { BuildStamp } from "../src/provenance.js";

const appDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const root = resolve(appDir, "..", "..");
const outDir = resolve(process.env.INIT_CWD ?? process.cwd(), process.argv[2] ?? join(root, ".gpu", "app"));

// The optional GPU packages are @peftjs/core's optional dependencies: resolve them from there.
const fromCore = createRequire(join(root, "packages", "core", "package.json"));
const webgpuDir = dirname(fromCore.resolve("webgpu/package.json"));
const tfjsWebgpuEntry = fromCore.resolve("@tensorflow/tfjs-backend-webgpu");

const stamp: BuildStamp = {
  gitSha: readGitSha(root) ?? process.env.PEFTJS_GIT_SHA ?? null,
  packages: readPackageVersions(root),
  builtAt: new Date().toISOString(),
};

rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });

const result = await build({
  entryPoints: [join(appDir, "src", "cli.ts")],
  outfile: join(outDir, "bench.mjs"),
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  conditions: ["@peftjs/source"],
  // webgpu is a native binding shipped beside the bundle; tfjs-node packages are never bundled (native, optional).
  external: ["webgpu", "@tensorflow/tfjs-node", "@tensorflow/tfjs-node-gpu"],
  alias: { "@tensorflow/tfjs-backend-webgpu": tfjsWebgpuEntry },
  define: { __PEFTJS_BUILD__: JSON.stringify(stamp) },
  // CommonJS dependencies (tfjs) call require() and read __dirname; an ES module has neither.
  banner: {
    js: [
      'import { createRequire as __peftjsCreateRequire } from "node:module";',
      'import { fileURLToPath as __peftjsFileURLToPath } from "node:url";',
      'import { dirname as __peftjsDirname } from "node:path";',
      "const require = __peftjsCreateRequire(import.meta.url);",
      "const __filename = __peftjsFileURLToPath(import.meta.url);",
      "const __dirname = __peftjsDirname(__filename);",
    ].join("\n"),
  },
  legalComments: "none",
  logLevel: "warning",
  metafile: true,
});
if (result.errors.length > 0) process.exit(1);

// Dawn's binding: only what index.js loads on linux-x64.
const webgpuOut = join(outDir, "node_modules", "webgpu");
mkdirSync(join(webgpuOut, "dist", "linux-x64"), { recursive: true });
for (const f of ["index.js", "package.json", join("dist", "linux-x64", "dawn.node")]) copyFileSync(join(webgpuDir, f), join(webgpuOut, f));

// selectBackend imports the WebGPU backend by a computed name, which resolves to this stub; the backend
// itself is bundled in bench.mjs and registered before selectBackend runs (src/engine/backend.ts).
const stubDir = join(outDir, "node_modules", "@tensorflow", "tfjs-backend-webgpu");
mkdirSync(stubDir, { recursive: true });
writeFileSync(join(stubDir, "package.json"), JSON.stringify({ name: "@tensorflow/tfjs-backend-webgpu", version: stamp.packages["@tensorflow/tfjs-backend-webgpu"] ?? "0.0.0", type: "module", main: "index.js" }, null, 2) + "\n");
writeFileSync(join(stubDir, "index.js"), "// The WebGPU backend is bundled in bench.mjs and registered before this stub is imported.\nexport {};\n");

mkdirSync(join(outDir, "peer"), { recursive: true });
copyFileSync(join(appDir, "peer", "peer.py"), join(outDir, "peer", "peer.py"));
copyFileSync(join(appDir, "peer", "bottleneck.py"), join(outDir, "peer", "bottleneck.py"));

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? listFiles(join(dir, e.name)) : [join(dir, e.name)]));
}
let total = 0;
for (const f of listFiles(outDir)) {
  const size = statSync(f).size;
  total += size;
  console.log(`${(size / 2 ** 20).toFixed(2).padStart(8)} MiB  ${relative(outDir, f)}`);
}
console.log(`${(total / 2 ** 20).toFixed(2).padStart(8)} MiB  total in ${outDir} (git ${stamp.gitSha ?? "unknown"})`);

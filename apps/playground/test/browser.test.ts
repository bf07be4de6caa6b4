/**
 * The built page in headless Chromium (Debian's `chromium`, driven by playwright-core with its executable
 * path: nothing downloads a browser). Builds the page with Vite, checks the bundle for Node built-ins and
 * states its size, serves it, trains 30 steps on the wasm backend, checks the loss fell and the tensor count
 * stayed flat, downloads the adapter, and loads the downloaded files here in Node with
 * PeftModel.fromPretrained: the logits must equal the page's (≤ 1e-4 relative). Then the page loads the
 * Python-PEFT sample adapter and must give PEFT's logits.
 *
 * Skipped, with a printed line, when there is no Chromium (CHROMIUM_PATH, default /usr/bin/chromium;
 * `apt-get install -y chromium` on Debian). PLAYGROUND_SCREENSHOT=<file.png> saves the page after training.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { builtinModules } from "node:module";
import { tmpdir } from "node:os";
import { gzipSync } from "node:zlib";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { build, preview } from "vite";
import type { Plugin, PreviewServer, Rollup } from "vite";
import { chromium } from "playwright-core";
import type { Browser, Download, Page } from "playwright-core";
import { PeftModel, createRegistry } from "@peftjs/core";
import { loraMethod } from "@peftjs/lora";
import { PROBE_TEXT, buildTinyGpt2, byteCodec, logitsOf, relativeError } from "../src/lab.js";
import type { PlaygroundState } from "../src/main.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CHROMIUM = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium";
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) console.log(`SKIP playground browser test: no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH).`);

/**
 * Third-party CommonJS files whose Node-only branches (run only when `process.versions.node` is set) require
 * Node built-ins: Vite replaces those requires by its empty `__vite-browser-external` stub. No Node module is
 * bundled; any other importer of the stub, or a built-in anywhere else, fails the check.
 */
const STUB_IMPORTERS = [/\/@tensorflow\/tfjs-backend-wasm\/wasm-out\/tfjs-backend-wasm(-threaded-simd)?\.js$/, /\/seedrandom\/seedrandom\.js$/];
/** Built-ins named by `require("…")` calls left inside those guarded branches (tfjs-core's platform_node, the wasm glue). */
const TOLERATED_REQUIRES = new Set(["util", "fs", "worker_threads"]);
const BUILTINS = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);

const expected = JSON.parse(readFileSync(new URL("./fixtures/sample-adapter-expected.json", import.meta.url), "utf8")) as { logits: number[] };

describe.skipIf(!HAVE_CHROMIUM)("the playground page in headless Chromium", () => {
  const work = mkdtempSync(join(tmpdir(), "peftjs-playground-"));
  const outDir = join(work, "dist");
  let output: Rollup.RollupOutput;
  const stubImporters: string[] = [];
  let server: PreviewServer;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    const started = Date.now();
    const collect: Plugin = {
      name: "collect-builtin-importers",
      generateBundle() {
        for (const id of this.getModuleIds()) {
          if (!id.includes("__vite-browser-external") && !BUILTINS.has(id)) continue;
          const info = this.getModuleInfo(id);
          stubImporters.push(...(info?.importers ?? []), ...(info?.dynamicImporters ?? []));
          if (BUILTINS.has(id)) stubImporters.push(`(a built-in: ${id})`);
        }
      },
    };
    output = (await build({ root: ROOT, configFile: join(ROOT, "vite.config.ts"), logLevel: "warn", plugins: [collect], build: { outDir, emptyOutDir: true } })) as Rollup.RollupOutput;
    console.log(`vite build: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    server = await preview({ root: ROOT, configFile: join(ROOT, "vite.config.ts"), logLevel: "warn", build: { outDir }, preview: { port: 0, host: "127.0.0.1", open: false } });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // As root in a container, with a closed network: no sandbox, no background connections.
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 800, height: 1100 } });
    page = await context.newPage();
    page.on("console", (m) => {
      if (m.type() === "error") console.log(`page console.error: ${m.text()}`);
    });
    page.on("pageerror", (e) => console.log(`page error: ${e.message}`));
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it("bundles without Node built-ins; the .wasm files are the page's own", () => {
    const chunks = output.output.filter((o): o is Rollup.OutputChunk => o.type === "chunk");
    const problems: string[] = [];
    const requires = new Set<string>();
    for (const chunk of chunks) {
      for (const id of chunk.moduleIds) if (BUILTINS.has(id)) problems.push(`${chunk.fileName} bundles ${id}`);
      for (const spec of [...chunk.imports, ...chunk.dynamicImports]) if (!chunks.some((c) => c.fileName === spec)) problems.push(`${chunk.fileName} imports ${spec}`);
      if (/["'`]node:/.test(chunk.code)) problems.push(`${chunk.fileName} names a "node:" module`);
      for (const m of chunk.code.matchAll(/\brequire\(\s*["']([^"']+)["']\s*\)/g)) if (BUILTINS.has(m[1]!)) requires.add(m[1]!);
    }
    for (const r of requires) if (!TOLERATED_REQUIRES.has(r)) problems.push(`a chunk calls require("${r}")`);
    for (const importer of new Set(stubImporters.filter((i) => !i.includes("__vite-browser-external")))) if (!STUB_IMPORTERS.some((re) => re.test(importer))) problems.push(`${importer} imports a Node built-in`);
    expect(stubImporters.length).toBeGreaterThan(0); // the collector saw the known ones: it works
    expect(problems).toEqual([]);
    const files = readdirSync(join(outDir, "assets")).map((f) => ({ f, size: statSync(join(outDir, "assets", f)).size }));
    const kib = (n: number): string => `${(n / 1024).toFixed(0)} KiB`;
    const js = files.filter((x) => x.f.endsWith(".js")).reduce((a, x) => a + x.size, 0);
    const gz = (suffix: string): number => files.filter((x) => x.f.endsWith(suffix)).reduce((a, x) => a + gzipSync(readFileSync(join(outDir, "assets", x.f))).length, 0);
    const wasm = files.filter((x) => x.f.endsWith(".wasm"));
    expect(wasm.map((x) => x.f.replace(/-[\w-]{8}\.wasm$/, ".wasm")).sort()).toEqual(["tfjs-backend-wasm-simd.wasm", "tfjs-backend-wasm-threaded-simd.wasm", "tfjs-backend-wasm.wasm"]);
    const entry = chunks.find((c) => c.isEntry)!;
    console.log(
      `bundle: ${chunks.length} JS chunks, ${kib(js)} JS (${kib(gz(".js"))} gzipped; entry chunk ${kib(Buffer.byteLength(entry.code))}), ` +
        `${kib(wasm.reduce((a, x) => a + x.size, 0))} wasm (${kib(gz(".wasm"))} gzipped; the page fetches one of the three); ` +
        `guarded require() of Node built-ins inside tfjs: ${[...requires].sort().join(", ") || "none"}; stubbed in ${[...new Set(stubImporters.filter((i) => !i.includes("__vite-browser-external")))].map((f) => f.split("/node_modules/").pop()).join(", ")}`,
    );
  });

  it("trains 30 steps on wasm (loss falls, tensors flat), downloads the adapter, and Node loads it to the page's logits", async () => {
    await page.goto(`${server.resolvedUrls!.local[0]!}?backend=wasm`);
    await page.waitForFunction(() => window.playground.phase === "ready" || window.playground.phase === "error", undefined, { timeout: 120_000 });
    let state = await page.evaluate(() => window.playground);
    expect(state.error).toBeNull();
    expect(state.backend).toBe("wasm");
    await expect.poll(() => page.textContent("#backend")).toMatch(/^Backend: wasm/);

    await page.fill("#steps", "30");
    await page.click("#train");
    await page.waitForFunction(() => window.playground.phase === "trained" || window.playground.phase === "error", undefined, { timeout: 180_000 });
    state = await page.evaluate(() => window.playground);
    expect(state.error).toBeNull();
    const losses = state.losses;
    expect(losses).toHaveLength(30);
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    console.log(`page losses: first ${losses[0]!.toFixed(4)}, last ${losses[29]!.toFixed(4)}; mean of first 5 ${mean(losses.slice(0, 5)).toFixed(4)}, last 5 ${mean(losses.slice(-5)).toFixed(4)}`);
    expect(mean(losses.slice(-5))).toBeLessThan(mean(losses.slice(0, 5)) - 0.1);
    expect(new Set(state.numTensors.slice(1)).size).toBe(1);
    expect(await page.getAttribute("#progress", "value")).toBe("30");
    const shot = process.env["PLAYGROUND_SCREENSHOT"];
    if (shot !== undefined && shot !== "") {
      await page.screenshot({ path: shot, fullPage: true });
      console.log(`screenshot: ${shot}`);
    }

    const adapterDir = join(work, "downloaded");
    const downloads: Download[] = [];
    page.on("download", (d) => downloads.push(d));
    await page.click("#download");
    await expect.poll(() => downloads.length, { timeout: 30_000 }).toBe(2);
    for (const d of downloads) await d.saveAs(join(adapterDir, d.suggestedFilename()));
    expect(readdirSync(adapterDir).sort()).toEqual(["adapter_config.json", "adapter_model.safetensors"]);

    const probe = state.probe!;
    expect(probe.ids).toEqual(byteCodec.encode(PROBE_TEXT));
    const base = buildTinyGpt2();
    const peft = await PeftModel.fromPretrained(base, adapterDir, { registry: createRegistry(loraMethod) });
    peft.eval();
    const ours = await logitsOf(base, probe.ids);
    const error = relativeError(ours, probe.logits);
    console.log(`downloaded adapter: Node (cpu) vs page (wasm) logits, relative error ${error.toExponential(2)}`);
    expect(error).toBeLessThanOrEqual(1e-4);
    base.dispose();
  });

  it("loads the Python-PEFT sample adapter and gives PEFT's logits", async () => {
    await page.click("#sample");
    await page.waitForFunction(() => window.playground.adapter?.includes("sample") === true || window.playground.error !== null, undefined, { timeout: 60_000 });
    const state: PlaygroundState = await page.evaluate(() => window.playground);
    expect(state.error).toBeNull();
    const error = relativeError(state.probe!.logits, expected.logits);
    console.log(`sample adapter in the page (wasm) vs PEFT logits: relative error ${error.toExponential(2)}`);
    expect(error).toBeLessThanOrEqual(1e-4);
  });
});

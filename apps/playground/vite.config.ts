import { defineConfig, defaultClientConditions } from "vite";

// Workspace packages resolve to their TypeScript sources ("@peftjs/source"), so the page needs no build of
// them; core's "#platform" import then takes its browser side (no node:fs in the bundle).
export default defineConfig({
  base: "./",
  resolve: { conditions: ["@peftjs/source", ...defaultClientConditions] },
  build: {
    target: "es2022",
    outDir: "dist",
    emptyOutDir: true,
    // The .wasm files are imported with ?url and must stay files the page serves itself (never inlined).
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 4096,
    reportCompressedSize: false,
  },
});

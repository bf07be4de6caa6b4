import { defineProject } from "vitest/config";

// See packages/lora/vitest.config.ts: the "@peftjs/source" condition must reach Vite's SSR resolver (here for
// core's own "#platform" import, which maps to src/io/platform/node.ts under it).
export default defineProject({
  resolve: { conditions: ["@peftjs/source"] },
  ssr: { resolve: { conditions: ["@peftjs/source", "module", "node", "development|production"] } },
  // Projects do not inherit the root testTimeout; several tests take 5–13 s on a loaded 2-core machine.
  test: { name: "@peftjs/core", include: ["src/**/*.test.ts", "test/**/*.test.ts"], testTimeout: 120_000 },
});

import { defineProject } from "vitest/config";

// See packages/lora/vitest.config.ts: the "@peftjs/source" condition must reach Vite's SSR resolver.
export default defineProject({
  resolve: { conditions: ["@peftjs/source"] },
  ssr: { resolve: { conditions: ["@peftjs/source", "module", "node", "development|production"] } },
  test: { name: "@peftjs/examples", include: ["*.test.ts"], testTimeout: 120_000 },
});

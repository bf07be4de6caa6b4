import { defineProject } from "vitest/config";

// See packages/lora/vitest.config.ts: the "@peftjs/source" condition must reach Vite's SSR resolver. The
// browser test builds the page and trains in Chromium, hence the long timeouts.
export default defineProject({
  resolve: { conditions: ["@peftjs/source"] },
  ssr: { resolve: { conditions: ["@peftjs/source", "module", "node", "development|production"] } },
  test: { name: "@peftjs/playground", include: ["test/**/*.test.ts"], testTimeout: 240_000, hookTimeout: 240_000 },
});

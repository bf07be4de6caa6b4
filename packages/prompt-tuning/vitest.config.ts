import { defineProject } from "vitest/config";

// Vitest runs tests in Vite's SSR environment, whose resolver reads `ssr.resolve.conditions` (not
// `resolve.conditions`), so the "@peftjs/source" condition (workspace packages → their src/index.ts, no
// build) is added there too, before Vite's default server conditions.
export default defineProject({
  resolve: { conditions: ["@peftjs/source"] },
  ssr: { resolve: { conditions: ["@peftjs/source", "module", "node", "development|production"] } },
  test: { name: "@peftjs/prompt-tuning", include: ["src/**/*.test.ts", "test/**/*.test.ts"], testTimeout: 120_000 },
});

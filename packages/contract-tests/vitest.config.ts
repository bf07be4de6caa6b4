import { defineProject } from "vitest/config";

// Vitest runs tests in Vite's SSR environment, whose resolver reads `ssr.resolve.conditions` (not
// `resolve.conditions`), so the "@peftjs/source" condition (workspace packages → their src/index.ts, no
// build) is added there too, before Vite's default server conditions.
export default defineProject({
  resolve: { conditions: ["@peftjs/source"] },
  ssr: { resolve: { conditions: ["@peftjs/source", "module", "node", "development|production"] } },
  // Vitest projects do not inherit the root testTimeout; training tests take seconds on a loaded 2-core machine.
  test: { name: "@peftjs/contract-tests", include: ["test/**/*.test.ts"], testTimeout: 120_000, hookTimeout: 120_000 },
});

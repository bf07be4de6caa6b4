import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { conditions: ["@peftjs/source"] },
  test: {
    projects: ["packages/*", "apps/*", "examples"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});

import { defineProject } from "vitest/config";

export default defineProject({
  resolve: { conditions: ["@peftjs/source"] },
  test: { name: "@peftjs/core", include: ["src/**/*.test.ts", "test/**/*.test.ts"] },
});

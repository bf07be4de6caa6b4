// One flat config for the whole workspace, type-checked (typescript-eslint projectService).
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: ["**/scratch/**", "**/dist/**", "**/node_modules/**", "**/.turbo/**", "**/bundle/**", "**/out/**", ".gpu/**", "**/*.js", "**/*.cjs", "**/*.mjs"],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/switch-exhaustiveness-check": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-restricted-imports": [
        "error",
        { patterns: [{ group: ["@peftjs/*/src/*", "../../*/src/*"], message: "Import another package through its public entry point, not its src." }] },
      ],
    },
  },
);

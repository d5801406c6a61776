// ESLint (flat config): typescript-eslint's type-aware recommended rules for TypeScript, plain
// recommended rules for the few CommonJS scripts; `npm run lint` allows zero warnings.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["**/dist/**", "**/node_modules/**", "proto/gen/**", "coverage/**", "test-results/**"] },
  js.configs.recommended,
  {
    files: ["**/*.ts"],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": ["error", { fixStyle: "inline-type-imports" }],
    },
  },
  {
    files: ["**/*.test.ts"],
    rules: { "@typescript-eslint/unbound-method": "off" },
  },
  {
    // JSON read by tests: API answers (checked against /openapi.json by ajv) and rendered Kubernetes
    // manifests (checked against the Kubernetes schemas by kubeconform), not by the type checker.
    files: ["tests/integration/gateway.test.ts", "tests/integration/ui.e2e.test.ts", "tests/deploy/chart.test.ts"],
    rules: {
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-unsafe-return": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
    },
  },
  {
    // k6 scripts: ES modules run by k6, with its globals.
    files: ["load-tests/**/*.js"],
    languageOptions: { sourceType: "module", globals: { __ENV: "readonly", __VU: "readonly", __ITER: "readonly" } },
  },
  {
    files: ["**/*.js"],
    ignores: ["load-tests/**"],
    languageOptions: {
      sourceType: "commonjs",
      globals: { require: "readonly", process: "readonly", console: "readonly", module: "writable", __dirname: "readonly" },
    },
  },
);

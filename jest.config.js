/** Jest: unit tests beside the source (pure, no I/O), integration tests in tests/integration (real servers). */
const transform = {
  "^.+\\.ts$": ["@swc/jest", { jsc: { parser: { syntax: "typescript" }, target: "es2022" }, module: { type: "commonjs" } }],
};
// Tests run the TypeScript sources of the workspace packages, not their build output.
const moduleNameMapper = {
  "^@casebridge/kit$": "<rootDir>/services/kit/src/index.ts",
  "^@casebridge/proto$": "<rootDir>/proto/index.ts",
  "^@casebridge/(police|prosecution|court|judicial|notary)/spec$": "<rootDir>/services/$1/src/spec.ts",
  "^@casebridge/tsa/service$": "<rootDir>/services/tsa/src/service.ts",
};
const common = { rootDir: __dirname, transform, moduleNameMapper, testEnvironment: "node", testPathIgnorePatterns: ["/node_modules/", "/dist/"] };

module.exports = {
  projects: [
    { ...common, displayName: "unit", testMatch: ["<rootDir>/services/*/src/**/*.test.ts", "<rootDir>/gateway/src/**/*.test.ts"] },
    { ...common, displayName: "integration", testMatch: ["<rootDir>/tests/integration/**/*.test.ts", "<rootDir>/tests/deploy/**/*.test.ts"], slowTestThreshold: 30 },
  ],
};

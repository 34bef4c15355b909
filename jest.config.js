/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  // The TypeScript SDK's own unit tests run with the suite (its e2e is test/e2e/sdk-typescript.test.ts).
  roots: ["<rootDir>/test", "<rootDir>/clients/typescript/test"],
  testMatch: ["**/*.test.ts"],
  transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.json" }] },
  setupFilesAfterEnv: ["<rootDir>/test/setup.ts"],
  testTimeout: 60000,
};

const { readFileSync } = require("node:fs");
const { join } = require("node:path");

/**
 * The coverage floor (coverage-floor.json): `jest --coverage` fails below it, and
 * test/architecture/coverage-floor.test.ts fails if a commit lowers it. Raise it when coverage rises.
 */
const floor = JSON.parse(readFileSync(join(__dirname, "coverage-floor.json"), "utf8"));

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  // The TypeScript SDK's own unit tests run with the suite (its e2e is test/e2e/sdk-typescript.test.ts).
  roots: ["<rootDir>/test", "<rootDir>/clients/typescript/test"],
  testMatch: ["**/*.test.ts"],
  transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.json" }] },
  setupFilesAfterEnv: ["<rootDir>/test/setup.ts"],
  testTimeout: 60000,
  // What the floor covers: the application and infrastructure code (entry points and dev tooling
  // run as child processes in e2e tests, which in-process coverage cannot see).
  collectCoverageFrom: ["{wire,runtime,enclave,verifier,registry,constructs,stacks,cli}/**/*.ts", "clients/typescript/src/**/*.ts", "!**/main.ts", "!enclave/dev-main.ts"],
  coverageReporters: ["text-summary", "json-summary"],
  coverageThreshold: { global: floor.global },
};

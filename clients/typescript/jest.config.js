/** The SDK's own unit tests: `npx jest -c clients/typescript/jest.config.js` from the repository root. */
/** @type {import('jest').Config} */
module.exports = {
  rootDir: __dirname,
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: `${__dirname}/tsconfig.json` }] },
  testTimeout: 30000,
};

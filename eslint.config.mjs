// ESLint flat config (typescript-eslint). The rules the codebase's `eslint-disable` comments name
// (no-explicit-any, no-require-imports, no-control-regex) come from the recommended sets; style is
// Prettier's job (.prettierrc.json), so no formatting rules here.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: ["node_modules/", "dist/", "build/", "cdktf.out/", ".lane/", "coverage/", ".gen/", "clients/python/", "clients/typescript/dist/", "**/*.js", "**/*.cjs", "**/*.mjs"],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    linterOptions: { reportUnusedDisableDirectives: "error" },
    rules: {
      // tsc's noUnusedLocals covers locals; this adds unused parameters and catch bindings, with
      // the usual `_` prefix for parameters an interface requires.
      // A `let` assigned once after closures that read it (composition roots wiring callbacks).
      "prefer-const": ["error", { ignoreReadBeforeAssign: true }],
      "@typescript-eslint/no-unused-vars": ["error", { args: "after-used", argsIgnorePattern: "^_", caughtErrors: "none", ignoreRestSiblings: true }],
    },
  },
);

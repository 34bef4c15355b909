/**
 * OS tools some checks shell out to (shellcheck, systemd-analyze, wrk, promtool, jq). `.ci/run`
 * and ci.yml install them; there (CI=true) a missing tool is an error, so a check can never pass by
 * being skipped. On a developer machine without the tool the check is skipped with one line:
 *
 *   skipped: shellcheck not installed (shellcheck of the generated user data)
 *
 * Use at module level: `const hasShellcheck = requireTool("shellcheck", "…");` then
 * `(hasShellcheck ? test : test.skip)(…)`.
 */
import { spawnSync } from "node:child_process";

export function toolInstalled(name: string): boolean {
  // Only "not found" counts: some tools (wrk) exit non-zero for any probe argument.
  return spawnSync(name, ["--version"], { stdio: "ignore" }).error === undefined;
}

export function requireTool(name: string, what: string, env: NodeJS.ProcessEnv = process.env): boolean {
  if (toolInstalled(name)) return true;
  if (env.CI === "true") throw new Error(`${name} is not installed, and CI=true requires it (${what}); .ci/run installs it`);
  // Straight to stderr: one line, not jest's console block with a stack location.
  process.stderr.write(`skipped: ${name} not installed (${what})\n`);
  return false;
}

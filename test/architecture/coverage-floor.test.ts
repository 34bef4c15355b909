/**
 * The coverage floor (coverage-floor.json, read by jest.config.js as `coverageThreshold`) only goes
 * up: every committed version is at least the one before it, and the working copy at least the
 * last committed one. Raise it when coverage rises (the CI run prints the figures).
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = resolve(__dirname, "../..");
const FILE = "coverage-floor.json";
const METRICS = ["statements", "branches", "functions", "lines"] as const;
type Floor = Record<(typeof METRICS)[number], number>;

function git(args: string[]): string | null {
  try {
    return execFileSync("git", args, { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    return null;
  }
}

const parse = (text: string): Floor => (JSON.parse(text) as { global: Floor }).global;

describe("coverage floor", () => {
  const current = parse(readFileSync(join(ROOT, FILE), "utf8"));

  it("names every metric as a percentage", () => {
    for (const m of METRICS) {
      expect(typeof current[m]).toBe("number");
      expect(current[m]).toBeGreaterThanOrEqual(0);
      expect(current[m]).toBeLessThanOrEqual(100);
    }
  });

  it("never goes down, commit to commit", () => {
    const log = git(["log", "--format=%H", "--reverse", "--", FILE]);
    // A checkout without history (an exported tarball) cannot tell; CI clones with history.
    if (log === null) return;
    const versions = log
      .split("\n")
      .filter(Boolean)
      .map((commit) => git(["show", `${commit}:${FILE}`]))
      .filter((text): text is string => text !== null)
      .map(parse);
    const lowered: string[] = [];
    const all = [...versions, current];
    for (let i = 1; i < all.length; i++) for (const m of METRICS) if (all[i][m] < all[i - 1][m]) lowered.push(`${m}: ${all[i - 1][m]} → ${all[i][m]} (version ${i})`);
    expect(lowered).toEqual([]);
  });
});

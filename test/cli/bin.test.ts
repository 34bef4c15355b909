/**
 * bin/express-lane.js (package.json "bin"): the command works right after `npm ci` (nothing built:
 * it runs the sources through tsx) and from the bundle (dist/cli.js) when that is built and fresh.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildBundles } from "../../dev/build";

const ROOT = join(__dirname, "../..");
const BIN = join(ROOT, "bin/express-lane.js");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { chooseEntry } = require(BIN) as { chooseEntry(root: string): { kind: string; path?: string } };

function run(bin: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 60_000, env });
}

describe("bin/express-lane.js", () => {
  it("package.json's bin points at it", () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    expect((require(join(ROOT, "package.json")) as { bin: Record<string, string> }).bin["express-lane"]).toBe("bin/express-lane.js");
  });

  it("chooses the bundle only when it is newer than every CLI source, else the sources", () => {
    const root = mkdtempSync(join(tmpdir(), "bin-choose-"));
    expect(chooseEntry(root).kind).toBe("none");
    mkdirSync(join(root, "cli"));
    mkdirSync(join(root, "wire"));
    writeFileSync(join(root, "cli/main.ts"), "");
    writeFileSync(join(root, "wire/x.ts"), "");
    expect(chooseEntry(root)).toEqual({ kind: "sources", path: join(root, "cli/main.ts") });
    mkdirSync(join(root, "dist"));
    writeFileSync(join(root, "dist/cli.js"), "");
    const t = Date.now() / 1000;
    utimesSync(join(root, "cli/main.ts"), t - 100, t - 100);
    utimesSync(join(root, "wire/x.ts"), t - 100, t - 100);
    utimesSync(join(root, "dist/cli.js"), t - 50, t - 50);
    expect(chooseEntry(root)).toEqual({ kind: "bundle", path: join(root, "dist/cli.js") });
    utimesSync(join(root, "wire/x.ts"), t, t); // a source edited after the build
    expect(chooseEntry(root).kind).toBe("sources");
  });

  it("runs from the sources in a checkout with nothing built (what `npm ci` leaves)", () => {
    const help = run(BIN, ["--help"]);
    expect(help.status).toBe(0);
    for (const command of ["verify", "attest", "load", "parity", "push", "directory"]) expect(help.stdout).toContain(command);
    const refused = run(BIN, ["verify", "http://127.0.0.1:9/v1/features/v/e"]);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/^express-lane: no trust anchor/);
  });

  it("runs the bundle where there are no sources (an installed package)", async () => {
    const root = mkdtempSync(join(tmpdir(), "bin-bundle-"));
    mkdirSync(join(root, "bin"));
    copyFileSync(BIN, join(root, "bin/express-lane.js"));
    await buildBundles(["cli"], join(root, "dist"));
    const help = run(join(root, "bin/express-lane.js"), ["verify", "--help"]);
    expect(help.stderr).toBe("");
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("--accept <type>");
  });
});

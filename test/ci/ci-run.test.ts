// .ci/run, the CI entry point: it installs and then requires the OS tools the checks shell out to,
// runs npm test, then the jest suite again on the current Node LTS. The tool part runs here for
// real (with a PATH of stand-ins); the LTS part needs the npm registry and is checked as text.
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const repo = join(__dirname, "../..");
const script = readFileSync(join(repo, ".ci/run"), "utf8");
const lines = script.split("\n");
const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
// Everything before `npm ci`: the tool installation and the check.
const toolPart = lines.slice(0, at(/^npm ci\b/)).join("\n");
const TOOLS = ["shellcheck", "systemd-analyze", "wrk", "promtool", "jq", "gcc", "openssl", "curl"];

function runToolPart(present: string[]) {
  const bin = mkdtempSync(join(tmpdir(), "ci-run-"));
  for (const t of present) {
    writeFileSync(join(bin, t), "#!/bin/sh\nexit 0\n");
    chmodSync(join(bin, t), 0o755);
  }
  // No apt-get on this PATH: nothing can be installed, so the check must speak.
  return spawnSync("/bin/bash", ["--noprofile", "--norc", "-c", toolPart.replace('cd "$(dirname "$0")/.."', "")], { env: { PATH: bin }, encoding: "utf8" });
}

describe(".ci/run", () => {
  test("is CI: sets CI=true, so missing tools fail the checks instead of skipping them", () => {
    expect(script).toMatch(/^export CI=true$/m);
    expect(script).toMatch(/^set -euo pipefail$/m);
  });

  test("installs shellcheck, systemd (systemd-analyze), wrk, prometheus (promtool), jq, gcc, openssl with apt", () => {
    for (const pkg of ["[shellcheck]=shellcheck", "[systemd-analyze]=systemd", "[wrk]=wrk", "[promtool]=prometheus", "[jq]=jq", '[gcc]="gcc libc6-dev"', "[openssl]=openssl"])
      expect(script).toContain(pkg);
    expect(script).toMatch(/apt-get install -y -qq --no-install-recommends "\$\{need\[@\]\}"/);
  });

  test("stops naming every tool that is still missing after the install", () => {
    const r = runToolPart(["jq", "gcc", "openssl"]);
    expect(r.status).toBe(1);
    for (const t of ["shellcheck (shellcheck)", "systemd-analyze (systemd)", "wrk (wrk)", "promtool (prometheus)"]) expect(r.stderr).toContain(t);
    expect(r.stderr).not.toMatch(/\bjq\b/);
  });

  test("goes on when every tool is there", () => {
    const r = runToolPart(TOOLS);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  test("after npm test, runs jest on Node 24 from node-linux-<arch>@24, first on PATH", () => {
    const npmTest = at(/^npm test -- --coverage$/);
    const install = at(/npm install --no-save .*--prefix "\$lts_prefix" "node-linux-\$node_arch@24"/);
    const jest = at(/^PATH="\$lts_bin:\$PATH" node node_modules\/jest\/bin\/jest\.js$/);
    expect(npmTest).toBeGreaterThan(0);
    expect(install).toBeGreaterThan(npmTest);
    expect(jest).toBeGreaterThan(install);
    expect(script).toMatch(/x86_64\) node_arch=x64/);
    expect(script).toMatch(/aarch64 \| arm64\) node_arch=arm64/);
    // The version check refuses anything but v24.
    expect(script).toMatch(/v24\.\*\) ;;/);
  });
});

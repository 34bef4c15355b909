/**
 * `npm run lint:infra`: checks for what cannot run here.
 *
 *  1. shellcheck: the hosts' generated user data, every shell script under scripts/, .ci/run and
 *     the enclave's entrypoint.sh.
 *  2. systemd-analyze verify: the generated systemd units, in a throw-away root that holds the
 *     units, stub executables (nitro-cli, socat, node, vsock-proxy) and a stub
 *     nitro-enclaves-allocator.service. Any output (including "Unknown key" warnings) fails.
 *     If systemd-analyze is missing, a strict parse check runs instead and says so.
 *  3. @action-validator/cli: every workflow under .github/workflows/.
 *  4. promtool check config: the Prometheus scrape configuration the CloudWatch agent reads.
 *
 * (The benchmark's wrk Lua scripts are run by test/bench/wrk.test.ts: scripts/ may not import bench/.)
 *
 * Needs the Debian packages `shellcheck`, `systemd` and `prometheus` (promtool) (see .ci/run).
 * With CI=true a missing tool fails the run; otherwise each check that needs one prints
 * "skipped: <tool> not installed (<check>)" and the others still run.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { renderPrometheusConfig } from "../constructs/cloudwatch-agent";
import { renderHostUnits } from "../constructs/host-units";
import { resolveConfig } from "../stacks/config";
import { buildApp } from "../stacks/main";
import { unitParseProblems } from "./unit-parse-check";

const ROOT = path.resolve(__dirname, "..");
const failures: string[] = [];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lint-infra-"));

const CI = process.env.CI === "true";

function have(cmd: string, arg = "--version"): boolean {
  return !spawnSync(cmd, [arg], { stdio: "ignore" }).error;
}

/** True if `tool` is installed; otherwise a failure in CI, one "skipped" line elsewhere. */
function requireTool(tool: string, check: string, pkg: string): boolean {
  if (have(tool)) return true;
  if (CI) {
    failures.push(`${tool} is not installed, and CI=true requires it for ${check} (apt-get install -y ${pkg}; .ci/run does)`);
    console.log(`FAIL ${check}: ${tool} not installed`);
  } else {
    console.log(`skipped: ${tool} not installed (${check}; apt-get install -y ${pkg})`);
  }
  return false;
}

function run(label: string, cmd: string, args: string[], opts: { cwd?: string; quietOk?: boolean } = {}): void {
  const r = spawnSync(cmd, args, { cwd: opts.cwd ?? ROOT, encoding: "utf8" });
  const out = `${r.stdout ?? ""}${r.stderr ?? ""}`
    .split("\n")
    .filter((l) => l.trim() !== "" && !/^npm warn/.test(l))
    .join("\n");
  if (r.error || r.status !== 0 || (opts.quietOk && out !== "")) {
    failures.push(`${label}\n${out || String(r.error ?? `exit ${r.status}`)}`);
    console.log(`FAIL ${label}`);
  } else {
    console.log(`ok   ${label}`);
  }
}

function shellScripts(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return shellScripts(p);
    if (e.name.endsWith(".sh") || e.name.endsWith(".bash")) return [p];
    const head = fs.readFileSync(p, "utf8").slice(0, 64);
    return /^#!.*\b(ba|da|k)?sh\b/.test(head) ? [p] : [];
  });
}

// 1. shellcheck
const config = resolveConfig({});
const { lane } = buildApp(config, path.join(tmp, "cdktf.out"));
const userData = path.join(tmp, "user-data.sh");
fs.writeFileSync(userData, lane.hosts.userData);
if (requireTool("shellcheck", "shellcheck of the user data and scripts/", "shellcheck")) {
  run("shellcheck: generated user data", "shellcheck", ["--shell=bash", userData], { quietOk: true });
  for (const f of [...shellScripts(path.join(ROOT, "scripts")), path.join(ROOT, ".ci/run"), path.join(ROOT, "enclave/image/entrypoint.sh")]) {
    run(`shellcheck: ${path.relative(ROOT, f)}`, "shellcheck", ["-x", f], { quietOk: true });
  }
}

// 2. systemd units
const units = renderHostUnits({
  region: config.region,
  bucketName: config.directoryBucketName,
  readerPort: config.readerPort,
  enclaveMemoryMib: config.enclaveMemoryMib,
});
if (requireTool("systemd-analyze", "systemd-analyze verify of the host units", "systemd")) {
  const root = path.join(tmp, "root");
  const sys = path.join(root, "usr/lib/systemd/system");
  fs.mkdirSync(path.join(root, "etc/systemd/system"), { recursive: true });
  fs.mkdirSync(sys, { recursive: true });
  fs.mkdirSync(path.join(root, "usr/bin"), { recursive: true });
  // The host's own units (sysinit.target etc.); cp -a keeps masked units' /dev/null symlinks.
  for (const d of ["/usr/lib/systemd/system", "/lib/systemd/system"]) if (fs.existsSync(d)) spawnSync("cp", ["-a", `${d}/.`, sys]);
  // A stub for every executable the units name (/usr/bin/node-24, /opt/express-lane/bin/…).
  const executables = new Set(Object.values(units).flatMap((t) => [...t.matchAll(/^Exec\w+=-?(\/\S+)/gm)].map((m) => m[1])));
  for (const exe of executables) {
    fs.mkdirSync(path.join(root, path.dirname(exe)), { recursive: true });
    fs.writeFileSync(path.join(root, exe), "#!/bin/sh\n", { mode: 0o755 });
  }
  fs.writeFileSync(path.join(sys, "nitro-enclaves-allocator.service"), "[Unit]\nDescription=stub\n[Service]\nType=oneshot\nExecStart=/usr/bin/nitro-cli --version\n");
  for (const [name, text] of Object.entries(units)) fs.writeFileSync(path.join(root, "etc/systemd/system", name), text);
  for (const name of Object.keys(units)) run(`systemd-analyze verify: ${name}`, "systemd-analyze", ["verify", "--man=no", `--root=${root}`, name], { quietOk: true });
} else if (!CI) {
  console.log("      (running the fallback unit parse check instead)");
  const problems = unitParseProblems(units);
  for (const p of problems) failures.push(`unit parse check: ${p.unit}\n${p.lines.join("\n")}`);
  for (const name of Object.keys(units)) if (!problems.some((p) => p.unit === name)) console.log(`ok   unit parse check (fallback): ${name}`);
}

// 3. workflows
const wfDir = path.join(ROOT, ".github/workflows");
const validator = path.join(ROOT, "node_modules/.bin/action-validator");
for (const f of fs.existsSync(wfDir) ? fs.readdirSync(wfDir).filter((n) => /\.ya?ml$/.test(n)) : []) {
  run(`action-validator: .github/workflows/${f}`, validator, [path.join(".github/workflows", f)]);
}

// 4. promtool: the agent's Prometheus scrape configuration (JSON is YAML).
if (requireTool("promtool", "promtool check config of the agent's Prometheus configuration", "prometheus")) {
  const promConfig = path.join(tmp, "express-lane-prometheus.yaml");
  fs.writeFileSync(promConfig, renderPrometheusConfig(lane.observability.agentOptions));
  run("promtool check config: CloudWatch agent Prometheus scrape config", "promtool", ["check", "config", promConfig]);
}

fs.rmSync(tmp, { recursive: true, force: true });
if (failures.length > 0) {
  console.error(`\nlint:infra failed:\n\n${failures.join("\n\n")}`);
  process.exit(1);
}
console.log("\nlint:infra: all checks passed");

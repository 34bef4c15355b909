/**
 * First boot, simulated: the generated user data runs for real in a sandbox (see
 * sandbox/host-sandbox.ts) for a first deploy (no wrapped seal keys yet) and a later one, and
 * the units' own scripts (enclave supervisor, seal-key refresh, canary) run against stand-ins.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { runtimeEnvironment, SEAL_KEYS_FILE, UNIT_START_ORDER, renderHostScripts, renderHostUnits } from "../../constructs/host-units";
import { RELEASE_FILES, renderUserData, SEAL_KEYS_OBJECT } from "../../constructs/user-data";
import { parseRuntimeConfig } from "../../runtime/config";
import { createSandbox, removeSandboxes, Sandbox, sandboxAvailable } from "./sandbox/host-sandbox";
import { SAMPLE } from "./sandbox/sample";

const unavailable = sandboxAvailable();
afterAll(() => removeSandboxes());
const describeSandbox = unavailable ? describe.skip : describe;
if (unavailable) console.warn(`boot sandbox skipped: ${unavailable}`);

const BUCKET = SAMPLE.artifactBucket;
const PCR0 = SAMPLE.expectedPcr0;
const WRAPPED = JSON.stringify({ version: 1, region: "ap-south-1", keys: [] });

/** A published release: the files, and SHA256SUMS as the deploy workflow writes it (`sha256sum release/*`). */
function publishRelease(sb: Sandbox, tamper?: string): void {
  const sums: string[] = [];
  for (const f of RELEASE_FILES) {
    const content = `// ${f} of release ${SAMPLE.releaseId}\n`;
    sums.push(`${createHash("sha256").update(content).digest("hex")}  release/${f}`);
    sb.put(BUCKET, `releases/${SAMPLE.releaseId}/${f}`, f === tamper ? content + "tampered\n" : content);
  }
  sb.put(BUCKET, `releases/${SAMPLE.releaseId}/SHA256SUMS`, sums.join("\n") + "\n");
}

function boot(opts: { sealKeys: boolean; tamper?: string; pcr0?: string }): { sb: Sandbox; status: number | null; log: string } {
  const sb = createSandbox();
  publishRelease(sb, opts.tamper);
  if (opts.sealKeys) sb.put(BUCKET, SEAL_KEYS_OBJECT, WRAPPED);
  fs.writeFileSync(`${sb.root}/pcr0`, opts.pcr0 ?? PCR0);
  const r = sb.run(renderUserData(SAMPLE));
  const logFile = sb.file("/var/log/express-lane-bootstrap.log");
  const log = fs.existsSync(logFile) ? fs.readFileSync(logFile, "utf8") : "";
  return { sb, status: r.status, log: log + r.stdout + r.stderr };
}

const enabled = (sb: Sandbox) =>
  sb
    .calls()
    .filter((c) => c[0] === "systemctl" && c[1] === "enable" && c[2] === "--now")
    .flatMap((c) => c.slice(3));
const indexOf = (sb: Sandbox, pred: (c: string[]) => boolean) => sb.calls().findIndex(pred);

describeSandbox("first boot, simulated (user data run for real with stand-ins)", () => {
  describe("first deploy: no wrapped seal keys published yet", () => {
    let b: ReturnType<typeof boot>;
    beforeAll(() => {
      b = boot({ sealKeys: false });
    });

    test("completes: nothing after the seal-key step is skipped", () => {
      expect(b.log).toMatch(/no s3:\/\/express-lane-artifacts-ap-south-1\/seal-keys\/wrapped\.json yet/);
      expect(b.log).toMatch(/no s3:\/\/express-lane-artifacts-ap-south-1\/seal-keys\/directory\.json yet/);
      expect(b.log).toMatch(/express-lane bootstrap: done\n/);
      expect(b.status).toBe(0);
      expect(fs.existsSync(b.sb.file(SEAL_KEYS_FILE))).toBe(false);
    });

    test("enables and starts the allocator and every unit, after daemon-reload", () => {
      expect(enabled(b.sb)).toEqual(["nitro-enclaves-allocator.service", ...UNIT_START_ORDER]);
      const reload = indexOf(b.sb, (c) => c[0] === "systemctl" && c[1] === "daemon-reload");
      const firstEnable = indexOf(b.sb, (c) => c[0] === "systemctl" && c[1] === "enable");
      expect(reload).toBeGreaterThanOrEqual(0);
      expect(reload).toBeLessThan(firstEnable);
      for (const name of UNIT_START_ORDER) expect(fs.existsSync(b.sb.file(`/etc/systemd/system/${name}`))).toBe(true);
    });

    test("the runtime unit's environment makes it listen where the NLB health-checks it", () => {
      const text = fs.readFileSync(b.sb.file("/etc/systemd/system/express-lane-runtime.service"), "utf8");
      const env = Object.fromEntries([...text.matchAll(/^Environment=([A-Z_]+)=(.*)$/gm)].map((m) => [m[1], m[2]]));
      const cfg = parseRuntimeConfig([], env);
      expect(cfg.host).toBe("0.0.0.0"); // not loopback: the NLB targets the instance's private IP
      expect(cfg.port).toBe(SAMPLE.readerPort);
      expect(cfg.apiKeys).toBe("ssm:/express-lane/api-keys");
      expect(cfg.sealKeysFile).toBe(SEAL_KEYS_FILE);
      expect(env).toEqual(runtimeEnvironment(SAMPLE));
      // only the unit opens it up: the runtime's own default (npm start, local lane) stays loopback
      expect(parseRuntimeConfig([], {}).host).toBe("127.0.0.1");
    });

    test("installs the namespaced Node.js 24 package and runs every node unit with /usr/bin/node-24", () => {
      expect(b.sb.calls().find((c) => c[0] === "dnf")).toEqual(expect.arrayContaining(["install", "-y", "nodejs24", "amazon-cloudwatch-agent", "aws-nitro-enclaves-cli"]));
      for (const name of ["express-lane-runtime.service", "express-lane-metrics.service"]) {
        expect(fs.readFileSync(b.sb.file(`/etc/systemd/system/${name}`), "utf8")).toMatch(/^ExecStart=\/usr\/bin\/node-24 /m);
      }
    });

    test("the CloudWatch agent starts before any unit, and its user can read the runtime's log directory", () => {
      const agent = indexOf(b.sb, (c) => c[0] === "amazon-cloudwatch-agent-ctl" && c.includes("fetch-config"));
      expect(agent).toBeGreaterThanOrEqual(0);
      expect(agent).toBeLessThan(indexOf(b.sb, (c) => c[0] === "systemctl"));
      expect(agent).toBeLessThan(indexOf(b.sb, (c) => c[0] === "aws"));
      const st = fs.statSync(b.sb.file("/var/log/express-lane"));
      expect(st.mode & 0o7777).toBe(0o2750);
      const group = fs
        .readFileSync(b.sb.file("/etc/group"), "utf8")
        .split("\n")
        .find((l) => l.startsWith("express-lane:"))!;
      expect(Number(group.split(":")[2])).toBe(st.gid);
      expect(group.split(":")[3].split(",")).toContain("cwagent");
    });

    test("release files downloaded and checked; measurements of the verified EIF kept for the canary", () => {
      for (const f of RELEASE_FILES) expect(fs.readFileSync(b.sb.file(`/opt/express-lane/${f}`), "utf8")).toContain(`${f} of release`);
      expect(JSON.parse(fs.readFileSync(b.sb.file("/opt/express-lane/measurements.json"), "utf8")).Measurements.PCR0).toBe(PCR0);
      for (const s of ["enclave-supervisor", "fetch-seal-keys", "canary"]) expect(fs.statSync(b.sb.file(`/opt/express-lane/bin/${s}`)).mode & 0o111).toBe(0o111);
    });
  });

  test("a later deploy, with wrapped keys published, installs them and completes", () => {
    const b = boot({ sealKeys: true });
    expect(b.status).toBe(0);
    expect(fs.readFileSync(b.sb.file(SEAL_KEYS_FILE), "utf8")).toBe(WRAPPED);
    expect(fs.statSync(b.sb.file(SEAL_KEYS_FILE)).mode & 0o777).toBe(0o644);
    expect(enabled(b.sb)).toEqual(["nitro-enclaves-allocator.service", ...UNIT_START_ORDER]);
  });

  test.each(["runtime.js", "bench.js", "cli.js"])("a %s that does not match SHA256SUMS stops the boot before any unit starts (agent already shipping the log)", (f) => {
    const b = boot({ sealKeys: true, tamper: f });
    expect(b.status).not.toBe(0);
    expect(b.log).toMatch(new RegExp(`${f.replace(".", "\\.")} has SHA-256 [0-9a-f]{64}, SHA256SUMS says [0-9a-f]{64}`));
    expect(enabled(b.sb)).toEqual([]);
    expect(indexOf(b.sb, (c) => c[0] === "amazon-cloudwatch-agent-ctl")).toBeGreaterThanOrEqual(0);
  });

  test("an EIF with another PCR0 stops the boot", () => {
    const b = boot({ sealKeys: true, pcr0: "cd".repeat(48) });
    expect(b.status).not.toBe(0);
    expect(b.log).toMatch(/EIF PCR0 (cd)+ does not match expected (ab)+/);
    expect(enabled(b.sb)).toEqual([]);
  });
});

describeSandbox("host scripts", () => {
  const scripts = renderHostScripts({ ...SAMPLE, enclavePollSeconds: 0 });

  function hostEnvSandbox(): Sandbox {
    const sb = createSandbox();
    fs.mkdirSync(sb.file("/etc/express-lane"), { recursive: true });
    // the host.env user data writes
    const ud = renderUserData(SAMPLE);
    const m = /cat > \/etc\/express-lane\/host\.env <<'HOSTENV'\n([\s\S]*?)HOSTENV\n/.exec(ud)!;
    // node from PATH (the stand-in) instead of /usr/bin/node-24
    fs.writeFileSync(sb.file("/etc/express-lane/host.env"), m[1].replace(/^NODE=.*$/m, "NODE=node"));
    fs.mkdirSync(sb.file("/opt/express-lane"), { recursive: true });
    return sb;
  }

  const supervisorEnv = { EXPRESS_LANE_ENCLAVE_POLL_SECONDS: "0", EXPRESS_LANE_SIGNER_PROBE_URL: "http://127.0.0.1:8080/health/ready", EXPRESS_LANE_SIGNER_DOWN_LIMIT: "3" };
  const running = JSON.stringify([{ EnclaveName: "express-lane", EnclaveID: "i-0-enc1", State: "RUNNING", EnclaveCID: 16 }]);
  /** curl stand-in answering the readiness probe with each line of `answers` in turn (then the last; "down" = connection refused). */
  function readiness(sb: Sandbox, answers: string[]): void {
    answers.forEach((a, i) => fs.writeFileSync(`${sb.root}/ready.${i + 1}`, a));
    fs.writeFileSync(
      `${sb.root}/curl.impl`,
      `#!/bin/bash\nn=$(cat "$SANDBOX/ready.n" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$SANDBOX/ready.n"\nf="$SANDBOX/ready.$n"; [ -f "$f" ] || f="$SANDBOX/ready.${answers.length}"\nif [ "$(cat "$f")" = down ]; then exit 7; fi\ncat "$f"\n`,
      { mode: 0o755 },
    );
  }
  const signer = (state: string) => JSON.stringify({ status: state === "ok" ? "ready" : "not_ready", checks: { signer: state, store: "ok" } });

  test("enclave supervisor: starts the enclave, stays up while it runs, exits non-zero once it is gone (systemd restarts it)", () => {
    const sb = hostEnvSandbox();
    fs.writeFileSync(`${sb.root}/enclaves.1`, running);
    fs.writeFileSync(`${sb.root}/enclaves.2`, running);
    fs.writeFileSync(`${sb.root}/enclaves.3`, "[]");
    readiness(sb, [signer("ok")]);
    const r = sb.run(scripts["enclave-supervisor"], supervisorEnv);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/enclave express-lane is GONE: exiting so that systemd restarts it/);
    const nitro = sb
      .calls()
      .filter((c) => c[0] === "nitro-cli")
      .map((c) => c[1]);
    expect(nitro).toEqual(["terminate-enclave", "run-enclave", "describe-enclaves", "describe-enclaves", "describe-enclaves"]);
    const run = sb.calls().find((c) => c[1] === "run-enclave")!;
    expect(run).not.toContain("--debug-mode");
    expect(run.join(" ")).toContain("--eif-path /opt/express-lane/enclave.eif --cpu-count 1 --memory 1536 --enclave-cid 16 --enclave-name express-lane");
  });

  test("enclave supervisor: an enclave that runs with its signer dead is restarted after DOWN_LIMIT unavailable answers in a row", () => {
    const sb = hostEnvSandbox();
    fs.writeFileSync(`${sb.root}/enclaves.1`, running);
    // unavailable twice, ok (resets), runtime down (not counted), then unavailable for good
    readiness(sb, [signer("unavailable"), signer("unavailable"), signer("ok"), "down", signer("unavailable")]);
    const r = sb.run(scripts["enclave-supervisor"], supervisorEnv);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/signer unavailable to the runtime for 3 checks in a row while enclave express-lane runs/);
    expect(sb.calls().filter((c) => c[0] === "curl")).toHaveLength(7);
    expect(sb.calls().find((c) => c[0] === "curl")).toContain("http://127.0.0.1:8080/health/ready");
  });

  test("enclave supervisor: a failed launch exits non-zero at once", () => {
    const sb = hostEnvSandbox();
    fs.writeFileSync(`${sb.root}/run-enclave.rc`, "1");
    const r = sb.run(scripts["enclave-supervisor"], supervisorEnv);
    expect(r.status).not.toBe(0);
    expect(sb.calls().filter((c) => c[1] === "describe-enclaves")).toHaveLength(0);
  });

  test("the enclave unit gives the supervisor its settings", () => {
    const u = renderHostUnits(SAMPLE)["express-lane-enclave.service"];
    expect(u).toContain("Environment=EXPRESS_LANE_SIGNER_PROBE_URL=http://127.0.0.1:8080/health/ready\n");
    expect(u).toContain("Environment=EXPRESS_LANE_SIGNER_DOWN_LIMIT=24\n");
    expect(u).toContain("Environment=EXPRESS_LANE_ENCLAVE_POLL_SECONDS=5\n");
  });

  test("seal-key refresh: absent is fine, arrival installs and signals the runtime only if it runs, other errors fail", () => {
    const sb = hostEnvSandbox();
    expect(sb.run(scripts["fetch-seal-keys"]).status).toBe(0);
    expect(fs.existsSync(sb.file(SEAL_KEYS_FILE))).toBe(false);
    sb.put(BUCKET, SEAL_KEYS_OBJECT, WRAPPED);
    const r = sb.run(scripts["fetch-seal-keys"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/seal-keys\/wrapped\.json updated/);
    expect(fs.readFileSync(sb.file(SEAL_KEYS_FILE), "utf8")).toBe(WRAPPED);
    expect(
      sb
        .calls()
        .filter((c) => c[0] === "systemctl")
        .map((c) => c[1]),
    ).toEqual(["is-active"]); // stand-in: inactive, so no SIGHUP
    fs.writeFileSync(`${sb.root}/s3api.error`, "An error occurred (AccessDenied) when calling the GetObject operation: Access Denied");
    const denied = sb.run(scripts["fetch-seal-keys"]);
    expect(denied.status).toBe(1);
    expect(denied.stderr).toMatch(/AccessDenied/);
  });

  describe("canary", () => {
    function canary(verifyExit: number): Sandbox {
      const sb = hostEnvSandbox();
      fs.writeFileSync(`${sb.root}/ssm.value`, "canary-key-123\n");
      // curl: the attestation JSON, or a saved `curl -si` response
      fs.writeFileSync(`${sb.root}/curl.impl`, `#!/bin/bash\nout=""; while [ $# -gt 0 ]; do [ "$1" = -o ] && out="$2"; shift; done\necho '{"document":"AAAA"}' > "$out"\n`, {
        mode: 0o755,
      });
      fs.writeFileSync(`${sb.root}/node.impl`, `#!/bin/bash\ncase "$2" in attest) echo '{"ok": true, "publicKey": "pk-x"}' ;; verify) exit ${verifyExit} ;; esac\n`, {
        mode: 0o755,
      });
      const r = sb.run(renderHostScripts(SAMPLE).canary);
      if (process.env.DEBUG_SANDBOX) console.log(r.stdout, r.stderr);
      (sb as Sandbox & { status?: number | null }).status = r.status;
      return sb;
    }
    const metric = (sb: Sandbox) =>
      sb
        .calls()
        .filter((c) => c[0] === "aws" && c[1] === "cloudwatch")
        .map((c) => ({ name: c[c.indexOf("--metric-name") + 1], value: c[c.indexOf("--value") + 1], ns: c[c.indexOf("--namespace") + 1] }));

    test("verifies one signed read with the attestation's key pinned, and publishes 1", () => {
      const sb = canary(0);
      expect(metric(sb)).toEqual([{ name: "lane_canary_success", value: "1", ns: "ExpressLane" }]);
      const curls = sb.calls().filter((c) => c[0] === "curl");
      expect(curls.map((c) => c[c.length - 1])).toEqual([
        expect.stringMatching(/^http:\/\/127\.0\.0\.1:8080\/v1\/attestation\?nonce=/),
        "http://127.0.0.1:8080/v1/features/user_profile/express-lane-canary",
      ]);
      for (const c of curls) expect(c).toContain("x-api-key: canary-key-123");
      const nodes = sb.calls().filter((c) => c[0] === "node");
      expect(nodes[0].slice(1, 3)).toEqual(["/opt/express-lane/cli.js", "attest"]);
      expect(nodes[0]).toEqual(expect.arrayContaining(["--measurements", "/opt/express-lane/measurements.json", "--nonce"]));
      expect(nodes[1].slice(1, 3)).toEqual(["/opt/express-lane/cli.js", "verify"]);
      expect(nodes[1]).toEqual(expect.arrayContaining(["--response", "--jwk", "--nonce"]));
      // the read asked for a signature over the nonce that verify then requires
      const nonce = nodes[1][nodes[1].indexOf("--nonce") + 1];
      expect(curls[1].join(" ")).toContain(`nonce="${nonce}"`);
    });

    test("a read that does not verify publishes 0 and fails the unit", () => {
      const sb = canary(1);
      expect((sb as Sandbox & { status?: number | null }).status).toBe(1);
      expect(metric(sb)).toEqual([{ name: "lane_canary_success", value: "0", ns: "ExpressLane" }]);
    });
  });
});

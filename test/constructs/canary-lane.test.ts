/**
 * The host canary script, unmodified, against a real local lane (runtime + signer with the local
 * NSM + s3rver, dev/lane/processes.ts) and the real verifier CLI bundle: it proves the CLI
 * calls it makes (attest → key → verify) accept what the runtime really answers. Differences from
 * a host, all in host.env: the local dev root instead of the AWS Nitro root, the PCRs of the local
 * signer bundle instead of `nitro-cli describe-eif`, the lane's port. `aws` is the sandbox's
 * stand-in (the canary key from "SSM", put-metric-data recorded).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { renderHostScripts } from "../../constructs/host-units";
import { renderHostEnv } from "../../constructs/user-data";
import { measureLocalBundle } from "../../enclave/nsm/local-nsm";
import { hashKey } from "../../runtime/auth";
import { buildBundles } from "../../dev/build";
import { startLane, type Lane } from "../../dev/lane/processes";
import { createSandbox, removeSandboxes, sandboxAvailable, type Sandbox } from "./sandbox/host-sandbox";
import { SAMPLE } from "./sandbox/sample";

const unavailable = sandboxAvailable();
afterAll(() => removeSandboxes());
const describeSandbox = unavailable ? describe.skip : describe;

const ROOT = path.join(__dirname, "../..");
const CANARY_KEY = "canary-key-0123456789abcdef";

describeSandbox("canary against a real local lane", () => {
  let lane: Lane;
  let dir: string;
  let measurements: string;
  beforeAll(async () => {
    await buildBundles(["runtime", "dev-signer", "local-store", "cli"]);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "lane-canary-"));
    const keys = path.join(dir, "api-keys.json");
    fs.writeFileSync(keys, JSON.stringify([{ id: "canary", sha256: hashKey(CANARY_KEY), role: "reader" }]));
    lane = await startLane({ dataDir: path.join(dir, "lane"), port: 0, demoEntities: 0, quiet: true, runtimeEnv: { EXPRESS_LANE_API_KEYS: keys } });
    measurements = path.join(dir, "measurements.json");
    fs.writeFileSync(measurements, JSON.stringify(measureLocalBundle(path.join(ROOT, "dist/dev-signer.js"))));
  }, 180_000);
  afterAll(async () => {
    await lane?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function runCanary(opts: { measurementsFile?: string; key?: string } = {}): { sb: Sandbox; status: number | null; stderr: string } {
    const sb = createSandbox();
    const port = new URL(lane.url).port;
    const env = renderHostEnv(SAMPLE)
      .replace(/^READER_PORT=.*$/m, `READER_PORT='${port}'`)
      .replace(/^NODE=.*$/m, "NODE='node'")
      .replace(/^CLI=.*$/m, `CLI='${path.join(ROOT, "dist/cli.js")}'`)
      .replace(/^MEASUREMENTS_FILE=.*$/m, `MEASUREMENTS_FILE='${opts.measurementsFile ?? measurements}'`)
      .replace(/^ATTEST_ROOT=.*$/m, `ATTEST_ROOT='${path.join(lane.dataDir, "dev-ca/root.pem")}'`);
    fs.mkdirSync(sb.file("/etc/express-lane"), { recursive: true });
    fs.writeFileSync(sb.file("/etc/express-lane/host.env"), env);
    fs.writeFileSync(`${sb.root}/ssm.value`, `${opts.key ?? CANARY_KEY}\n`);
    fs.writeFileSync(`${sb.root}/curl.impl`, '#!/bin/bash\nexec /usr/bin/curl "$@"\n', { mode: 0o755 });
    fs.writeFileSync(`${sb.root}/node.impl`, `#!/bin/bash\nexec ${process.execPath} "$@"\n`, { mode: 0o755 });
    const r = sb.run(renderHostScripts(SAMPLE).canary);
    return { sb, status: r.status, stderr: r.stderr };
  }
  const published = (sb: Sandbox) =>
    sb
      .calls()
      .filter((c) => c[0] === "aws" && c[1] === "cloudwatch")
      .map((c) => c[c.indexOf("--value") + 1]);

  test("attests the signer, verifies one signed read with the attested key, publishes 1", () => {
    const r = runCanary();
    expect({ status: r.status, stderr: r.stderr.replace(/.*pyenv.*\n|.*cargo.*\n/g, "") }).toEqual({ status: 0, stderr: "" });
    expect(published(r.sb)).toEqual(["1"]);
  }, 60_000);

  test("an enclave image other than the pinned measurements publishes 0", () => {
    const wrong = path.join(dir, "wrong.json");
    const m = measureLocalBundle(path.join(ROOT, "dist/dev-signer.js"));
    fs.writeFileSync(wrong, JSON.stringify({ Measurements: { ...m.Measurements, PCR0: "00".repeat(47) + "01" } }));
    const r = runCanary({ measurementsFile: wrong });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/attestation did not verify/);
    expect(published(r.sb)).toEqual(["0"]);
  }, 60_000);

  test("a key the lane does not accept publishes 0", () => {
    const r = runCanary({ key: "not-a-key" });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/FAIL GET \/v1\/attestation/);
    expect(published(r.sb)).toEqual(["0"]);
  }, 60_000);
});

/**
 * The Python SDK (clients/python) against the real local lane: jest starts the lane, hands its URL
 * and trust material (dev CA root, PCRs of the running dev signer bundle) to
 * clients/python/tests/e2e via the environment and runs them with the system Python, which has
 * only the Debian packages python3-cryptography, python3-cbor2, python3-msgpack, python3-pytest.
 * With CI=true (.ci/run installs them) a missing interpreter or package fails this test; on a
 * developer machine without them it is skipped with one line, so `npm test` passes with only Node.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildBundles } from "../../dev/build";
import { LANE_BUNDLES, startLane, Lane } from "../../dev/lane/processes";
import { demoEntityId } from "../../dev/lane/demo-data";
import { measureLocalBundle } from "../../enclave/nsm/local-nsm";

const PYTHON = process.env.EXPRESS_LANE_PYTHON ?? "/usr/bin/python3";
const PYTHON_DIR = join(__dirname, "../../clients/python");
let lane: Lane;
let dir: string;

const probe = spawnSync(PYTHON, ["-c", "import cryptography, cbor2, msgpack, pytest"], { encoding: "utf8" });
const pythonReady = probe.status === 0;
if (!pythonReady && process.env.CI !== "true") {
  process.stdout.write(`skipped: Python SDK e2e (${PYTHON} with python3-cryptography, python3-cbor2, python3-msgpack, python3-pytest not installed)\n`);
}
const describePython = pythonReady || process.env.CI === "true" ? describe : describe.skip;

beforeAll(async () => {
  if (!pythonReady && process.env.CI !== "true") return;
  await buildBundles(LANE_BUNDLES);
  dir = mkdtempSync(join(tmpdir(), "lane-sdk-py-"));
  lane = await startLane({ dataDir: dir, port: 0, demoEntities: 150, quiet: true });
}, 180_000);

afterAll(async () => {
  await lane?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function python(args: string[], env: Record<string, string> = {}) {
  return spawnSync(PYTHON, args, { cwd: PYTHON_DIR, env: { ...process.env, ...env, PYTHONDONTWRITEBYTECODE: "1" }, encoding: "utf8", timeout: 120_000 });
}

describePython("Python SDK on the local lane", () => {
  it("has its Debian dependencies", () => {
    const probe = python(["-c", "import cryptography, cbor2, msgpack, pytest"]);
    expect({ status: probe.status, stderr: probe.stderr }).toEqual({ status: 0, stderr: "" });
  });

  it("attests, reads a batch, verifies every answer, rejects a tampered one (pytest clients/python/tests/e2e)", () => {
    const measurements = join(dir, "measurements.json");
    writeFileSync(measurements, JSON.stringify(measureLocalBundle(join(__dirname, "../../dist/dev-signer.js"))));
    const run = python(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/e2e"], {
      EXPRESS_LANE_E2E_URL: lane.url,
      EXPRESS_LANE_E2E_ROOT: join(dir, "dev-ca", "root.pem"),
      EXPRESS_LANE_E2E_MEASUREMENTS: measurements,
      EXPRESS_LANE_E2E_KEYID: lane.keyid,
      EXPRESS_LANE_E2E_ENTITIES: Array.from({ length: 150 }, (_, i) => demoEntityId(i)).join(","),
    });
    const output = `${run.stdout}\n${run.stderr}`;
    expect({ status: run.status, output }).toEqual({ status: 0, output: expect.stringMatching(/5 passed/) });
  });
});

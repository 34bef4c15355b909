/**
 * The NLB's health check against the runtime started with the runtime unit's environment, in a
 * network namespace of the test's own (its loopback interface also holds the host's private
 * address, as no dummy/veth devices exist here; only addresses inside that namespace are used). The old unit (no EXPRESS_LANE_HOST) listened on
 * 127.0.0.1, where the NLB never connects.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { renderHostUnits, runtimeEnvironment } from "../../constructs/host-units";
import { hashKey } from "../../runtime/auth";
import { buildBundles } from "../../dev/build";
import { SAMPLE } from "./sandbox/sample";

const PRIVATE_ADDRESS = "10.40.0.10";

function netnsAvailable(): string | undefined {
  if (process.getuid?.() !== 0) return "not root";
  const r = spawnSync("unshare", ["-n", "bash", "--norc", "-c", `ip link set lo up && ip addr add ${PRIVATE_ADDRESS}/24 dev lo`]);
  return r.status === 0 ? undefined : "unshare -n / ip addr not permitted here";
}

const unavailable = netnsAvailable();
const describeNetns = unavailable ? describe.skip : describe;
if (unavailable) console.warn(`runtime netns test skipped: ${unavailable}`);

/** The Environment= lines of the generated runtime unit, as systemd would pass them. */
function unitEnvironment(unitText: string): Record<string, string> {
  return Object.fromEntries([...unitText.matchAll(/^Environment=([A-Z_]+)=(.*)$/gm)].map((m) => [m[1], m[2]]));
}

interface ProbeResult {
  started: boolean;
  ssmCalls: { target: string; body: { Name: string; WithDecryption: boolean } }[];
  readyAtPrivateAddress?: { status?: number; body?: string; error?: string };
  liveAtPrivateAddress?: { status?: number; error?: string };
  readyAtLoopback?: { status?: number; body?: string; error?: string };
  log: string[];
}

describeNetns("runtime in a network namespace, started with the unit's environment", () => {
  let runtimeJs: string;
  let dir: string;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "runtime-bundle-"));
    [runtimeJs] = await buildBundles(["runtime"], dir);
  }, 60_000);
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  function probe(env: Record<string, string>): ProbeResult {
    const keysDoc = JSON.stringify([{ id: "canary", sha256: hashKey("canary-key"), role: "reader" }]);
    const script = [
      "set -e",
      "ip link set lo up",
      `ip addr add ${PRIVATE_ADDRESS}/24 dev lo`,
      `exec "$NODE" ${path.join(__dirname, "sandbox/health-probe.js")} "$RUNTIME" "$ENVJSON" ${PRIVATE_ADDRESS} ${SAMPLE.readerPort} "$KEYS"`,
    ].join("\n");
    const r = spawnSync("unshare", ["-n", "bash", "--norc", "--noprofile", "-c", script], {
      encoding: "utf8",
      timeout: 60_000,
      env: { PATH: process.env.PATH, NODE: process.execPath, RUNTIME: runtimeJs, ENVJSON: JSON.stringify(env), KEYS: keysDoc },
    });
    const line = r.stdout.trim().split("\n").pop() ?? "";
    try {
      return JSON.parse(line) as ProbeResult;
    } catch {
      throw new Error(`probe failed: ${r.stdout}\n${r.stderr}`);
    }
  }

  test("the NLB's HTTP check on the private address gets an answer: not ready (no signer, no wrapped keys yet), live", () => {
    const env = unitEnvironment(renderHostUnits(SAMPLE)["express-lane-runtime.service"]);
    expect(env).toEqual(runtimeEnvironment(SAMPLE));
    const r = probe(env);
    expect(r.started).toBe(true);
    expect(r.readyAtPrivateAddress?.status).toBe(503);
    expect(JSON.parse(r.readyAtPrivateAddress!.body!)).toEqual(expect.objectContaining({ status: "not_ready", checks: expect.objectContaining({ signer: "unavailable" }) }));
    expect(r.liveAtPrivateAddress?.status).toBe(200);
    // API keys came from SSM (access control on by default), decrypted
    expect(r.ssmCalls).toEqual([{ target: "AmazonSSM.GetParameter", body: { Name: "/express-lane/api-keys", WithDecryption: true } }]);
    // the store probe's CreateSession cannot reach AWS from here: the line the CreateSession alarm counts
    expect(r.log.some((l) => /"event":"create_session_failed"/.test(l))).toBe(true);
  }, 60_000);

  test("the old unit environment (no EXPRESS_LANE_HOST) is unreachable at the private address", () => {
    const { EXPRESS_LANE_HOST: _host, ...old } = runtimeEnvironment(SAMPLE);
    const r = probe(old);
    expect(r.started).toBe(true);
    expect(r.readyAtLoopback?.status).toBe(503); // it runs, on loopback
    expect(r.readyAtPrivateAddress?.error).toBe("ECONNREFUSED");
  }, 60_000);
});

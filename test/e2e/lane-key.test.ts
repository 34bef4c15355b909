/**
 * One trust anchor per lane (issue #14), against the real local lane: a consumer pins the lane's
 * JWKS once; answers verify across a signer restart (a new enclave-born key) and through a second
 * runtime+signer pair of the same lane. (Answers created outside a pinned key's window are refused:
 * test/enclave/key-provisioning.test.ts, "rotation without consumer outage".)
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildBundles } from "../../dev/build";
import { spawnRuntime, spawnSigner, type Child, type RuntimeChild } from "../../dev/lane/children";
import { LANE_BUNDLES, startLane, type Lane } from "../../dev/lane/processes";
import { DEMO_VIEW, demoEntityId } from "../../dev/lane/demo-data";
import { runVerify } from "../../cli/verify";
import { verifyResponse } from "../../verifier/response";
import type { LaneKeyJwk } from "../../wire/lane-key";

let lane: Lane;
let dir: string;
let pinned: LaneKeyJwk[];
const extra: (Child | RuntimeChild)[] = [];

async function readAndVerify(url: string, entity: string) {
  const path = `/v1/features/${DEMO_VIEW}/${entity}`;
  const res = await fetch(`${url}${path}?features=country`, { headers: { "accept-signature": 'sig1=("@status");nonce="lk-nonce"' } });
  const headers: Record<string, string> = {};
  res.headers.forEach((v, k) => (headers[k] = v));
  const body = Buffer.from(await res.arrayBuffer());
  return verifyResponse({ status: res.status, headers, body }, { method: "GET", path, query: "?features=country" }, { key: pinned, nonce: "lk-nonce" });
}

beforeAll(async () => {
  await buildBundles(LANE_BUNDLES);
  dir = mkdtempSync(join(tmpdir(), "lane-key-"));
  lane = await startLane({ dataDir: dir, port: 0, demoEntities: 10, quiet: true, laneKey: true });
  pinned = (JSON.parse(readFileSync(lane.keys.laneJwksFile, "utf8")) as { keys: LaneKeyJwk[] }).keys;
}, 120_000);

afterAll(async () => {
  for (const c of extra) await c.stop();
  await lane?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("one trust anchor for the lane", () => {
  it("answers are signed with the lane key the consumer pinned, not the enclave's own key", async () => {
    const verified = await readAndVerify(lane.url, demoEntityId(1));
    expect(verified.keyid).toBe(pinned[0]!.kid);
    const signer = JSON.parse(Buffer.from(await (await fetch(`${lane.url}/v1/signer`)).arrayBuffer()).toString());
    expect(signer.keyid).toBe(pinned[0]!.kid);
    expect(signer.enclave_key.keyid).not.toBe(pinned[0]!.kid);
  });

  it("a signer restart (new enclave key) does not break the consumer configured once", async () => {
    const before = JSON.parse(Buffer.from(await (await fetch(`${lane.url}/v1/signer`)).arrayBuffer()).toString()).enclave_key.keyid;
    await lane.stopSigner();
    await lane.startSigner();
    for (let i = 0; i < 100; i++) {
      const r = await fetch(`${lane.url}/health/ready`);
      if (r.status === 200) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    const after = JSON.parse(Buffer.from(await (await fetch(`${lane.url}/v1/signer`)).arrayBuffer()).toString()).enclave_key.keyid;
    expect(after).not.toBe(before);
    expect((await readAndVerify(lane.url, demoEntityId(2))).keyid).toBe(pinned[0]!.kid);
  }, 30_000);

  it("a second runtime+signer pair of the same lane verifies with the same pin", async () => {
    const socket = join(dir, "second-signer.sock");
    const signer = await spawnSigner(socket, dir);
    extra.push(signer);
    const runtime = await spawnRuntime(lane, { signerSocket: socket, waitForReady: true });
    extra.push(runtime);
    expect((await readAndVerify(runtime.url, demoEntityId(3))).keyid).toBe(pinned[0]!.kid);
  }, 30_000);

  it("a consumer that trusts only what it attested gets the lane key from the document's user_data", async () => {
    const out: string[] = [];
    const code = await runVerify(
      `${lane.url}/v1/features/${DEMO_VIEW}/${demoEntityId(5)}?features=country`,
      { attest: true, root: "local", devCa: join(dir, "dev-ca"), localBundle: join(__dirname, "../../dist/dev-signer.js"), maxAge: "300", skew: "5" },
      { stdout: (t) => out.push(t), stderr: (t) => out.push(t) },
    );
    expect([code, out.join("")]).toEqual([0, expect.stringContaining(`lane key ${pinned[0]!.kid}`)]);
  }, 30_000);
});

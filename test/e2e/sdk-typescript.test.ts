/**
 * The TypeScript SDK (clients/typescript) against the real local lane: attest (local dev root, PCRs
 * measured from the dev signer bundle that is running, a fresh nonce), read a batch of 250 entities
 * (3 chunks in parallel), verify every answer against that trust anchor, reject a tampered one,
 * and keep working across a signer restart (new key, attested again) without reconfiguration.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildBundles } from "../../dev/build";
import { LANE_BUNDLES, startLane, Lane } from "../../dev/lane/processes";
import { DEMO_VIEW, demoEntityId } from "../../dev/lane/demo-data";
import { measureLocalBundle } from "../../enclave/nsm/local-nsm";
import { loadPinnedRoot } from "../../verifier/attestation";
import { attested, ExpressLaneClient, pinnedKeys, type TrustAnchor } from "../../clients/typescript/src";

let lane: Lane;
let dir: string;
let trust: TrustAnchor;
const ENTITIES = 250;

beforeAll(async () => {
  await buildBundles(LANE_BUNDLES);
  dir = mkdtempSync(join(tmpdir(), "lane-sdk-ts-"));
  lane = await startLane({ dataDir: dir, port: 0, demoEntities: ENTITIES, quiet: true });
  trust = attested({ root: loadPinnedRoot("local", join(dir, "dev-ca")), measurements: measureLocalBundle(join(__dirname, "../../dist/dev-signer.js")) });
}, 180_000);

afterAll(async () => {
  await lane?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const entities = Array.from({ length: ENTITIES }, (_, i) => demoEntityId(i));

describe("TypeScript SDK on the local lane", () => {
  it("attests, reads a batch in parallel chunks and verifies every answer against the attested key", async () => {
    const client = new ExpressLaneClient({ url: lane.url, trust });
    const key = await client.attest();
    expect(key?.keyid).toBe(lane.keyid);
    const rows = await client.getMany(DEMO_VIEW, [...entities, "nobody"], { features: ["country", "risk_score", "referrer"] });
    expect(rows).toHaveLength(ENTITIES + 1);
    expect(rows.map((r) => r.entity)).toEqual([...entities, "nobody"]);
    for (const row of rows.slice(0, ENTITIES)) {
      expect(row).toMatchObject({ found: true, writtenBy: "loader", verification: { keyid: lane.keyid } });
      expect(row.status.country).toBe("PRESENT");
      expect(row.eventTime).toBeInstanceOf(Date);
    }
    expect(rows[ENTITIES]).toMatchObject({ found: false, error: { code: "not_found" } });
    // Three batch answers, each with its own nonce.
    expect(new Set(rows.map((r) => r.verification.nonce)).size).toBe(3);
    const single = await client.get(DEMO_VIEW, demoEntityId(7), { features: ["embedding_0"] });
    expect(single.features.embedding_0).toHaveLength(38);
  });

  it("reads MessagePack, and a pinned keyid works as a trust anchor", async () => {
    const client = new ExpressLaneClient({ url: lane.url, trust: pinnedKeys(lane.keyid), format: "msgpack" });
    const row = await client.get(DEMO_VIEW, demoEntityId(3), { features: ["flag_0", "txn_count_1d"] });
    expect(typeof row.features.flag_0).toBe("boolean");
    expect(row.eventTime).toBeInstanceOf(Date);
  });

  it("rejects a tampered answer (one body byte flipped between the lane and the client)", async () => {
    const tampering = (async (input: URL | string, init?: RequestInit) => {
      const res = await fetch(input, init);
      if (!String(input).includes("/v1/features/")) return res;
      const body = Buffer.from(await res.arrayBuffer());
      body[body.length - 3] ^= 0x01;
      return new Response(body, { status: res.status, headers: res.headers });
    }) as typeof fetch;
    const client = new ExpressLaneClient({ url: lane.url, trust, fetch: tampering });
    await expect(client.getMany(DEMO_VIEW, entities.slice(0, 5))).rejects.toMatchObject({ code: "verification_failed", details: { reason: "digest_mismatch" } });
    await expect(client.get(DEMO_VIEW, demoEntityId(1))).rejects.toMatchObject({ code: "verification_failed" });
  });

  it("refuses a lane whose signer is not the attested image", async () => {
    const wrong = attested({
      root: loadPinnedRoot("local", join(dir, "dev-ca")),
      measurements: { Measurements: { PCR0: "ab".repeat(48), PCR1: "cd".repeat(48), PCR2: "ef".repeat(48) } },
    });
    await expect(new ExpressLaneClient({ url: lane.url, trust: wrong }).get(DEMO_VIEW, demoEntityId(1))).rejects.toMatchObject({
      code: "attestation_failed",
      details: { reason: "PCR_MISMATCH" },
    });
  });

  it("keeps working across a signer restart (new key): configured once, it attests the new signer", async () => {
    const client = new ExpressLaneClient({ url: lane.url, trust, retry: { attempts: 40, baseDelayMs: 50, maxDelayMs: 200 } });
    const before = await client.get(DEMO_VIEW, demoEntityId(2));
    await lane.stopSigner();
    await lane.startSigner();
    // The runtime reconnects and re-provisions the new signer's key directory; until then it is not ready.
    for (let i = 0; i < 400 && (await fetch(`${lane.url}/health/ready`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 25));
    const after = await client.get(DEMO_VIEW, demoEntityId(2));
    expect(after).toMatchObject({ found: true, verification: { keyid: lane.keyid } });
    expect(after.verification.keyid).not.toBe(before.verification.keyid);
    expect(client.trustedKeyids).toEqual(expect.arrayContaining([before.verification.keyid, after.verification.keyid]));
  });
});

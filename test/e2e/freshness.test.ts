/**
 * Provable freshness (issue #16, docs/trust.md P8) against the real local lane: the lane's
 * in-process sequencer seals a checkpoint every second, the runtime follows the published log and
 * proves every read against the checkpoint the signer accepted; the signer signs fresh_as_of.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildBundles } from "../../dev/build";
import { LANE_BUNDLES, startLane, type Lane } from "../../dev/lane/processes";
import { DEMO_VIEW, demoEntityId } from "../../dev/lane/demo-data";
import { verifyResponse, VerificationError } from "../../verifier/response";
import { push } from "../../cli/push";
import { sendPushAnswer } from "../../sequencer/report";
import { readWriterKeyFile } from "../../dev/key-files";
import { objectKey } from "../../wire/object";
import type { Ed25519Jwk } from "../../wire/keys";

let lane: Lane;
let dir: string;
let jwks: Ed25519Jwk[];

interface Read {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  json: Record<string, unknown>;
}

async function read(path: string, init: RequestInit = {}): Promise<Read> {
  const res = await fetch(`${lane.url}${path}`, init);
  const headers: Record<string, string> = {};
  res.headers.forEach((v, k) => (headers[k] = v));
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers, body, json: JSON.parse(body.toString()) as Record<string, unknown> };
}

const readEntity = (view: string, entity: string, features: string) => read(`/v1/features/${view}/${encodeURIComponent(entity)}?features=${features}`);

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not happen within ${ms} ms ${last ? String(last) : ""}`);
}

const ageMs = (r: Read): number => Date.now() - Date.parse(String(r.json.fresh_as_of));

beforeAll(async () => {
  await buildBundles(LANE_BUNDLES);
  dir = mkdtempSync(join(tmpdir(), "lane-fresh-"));
  lane = await startLane({ dataDir: dir, port: 0, demoEntities: 10, quiet: true, laneKey: true });
  jwks = (JSON.parse(readFileSync(lane.keys.laneJwksFile, "utf8")) as { keys: Ed25519Jwk[] }).keys;
}, 180_000);

afterAll(async () => {
  await lane?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("fresh_as_of on the local lane", () => {
  it("answers carry fresh_as_of within a few seconds of now, and verify under the default bound", async () => {
    expect(lane.sequencerUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const entity = demoEntityId(3);
    const r = await until("a fresh answer", async () => {
      const got = await readEntity(DEMO_VIEW, entity, "country,risk_score");
      return typeof got.json.fresh_as_of === "string" ? got : undefined;
    });
    expect(r.status).toBe(200);
    expect(typeof r.json.checkpoint_seq).toBe("number");
    expect(ageMs(r)).toBeLessThan(5000);
    process.stdout.write(`fresh_as_of age at read: ${ageMs(r)} ms (checkpoint_seq ${String(r.json.checkpoint_seq)})\n`);
    const path = `/v1/features/${DEMO_VIEW}/${entity}`;
    expect(() => verifyResponse(r, { method: "GET", path, query: "?features=country,risk_score" }, { key: jwks })).not.toThrow();
    // An entity nobody wrote: not_found with a fresh bound (absence proof).
    const missing = await readEntity(DEMO_VIEW, "nobody-wrote-this", "country");
    expect(missing.status).toBe(404);
    expect(typeof missing.json.fresh_as_of).toBe("string");
    expect(ageMs(missing)).toBeLessThan(5000);
  });

  it("a push then a read shows the new value with a fresh bound; an older genuine object put back is refused as rolled_back", async () => {
    const key = readWriterKeyFile(lane.writerKeyFile);
    const entity = "m-fresh-1";
    const pushed: Array<{ seq: number }> = [];
    const pushRow = async (eventTime: number, n: number) => {
      const s = await push({
        url: lane.url,
        view: "merchant_risk",
        key,
        rows: [{ entity, event_time: eventTime, features: { txn_count_1h: n } }],
        pinned: jwks,
        retries: 6,
        onAnswer: async (report) => void pushed.push(await sendPushAnswer(lane.sequencerUrl!, "merchant_risk", report)),
      });
      expect(s).toMatchObject({ written: 1, verified: true });
    };
    const now = Date.now();
    await pushRow(now - 60_000, 1);
    const stored = await lane.store.get(objectKey("merchant_risk", entity));
    if (!stored.found) throw new Error("push stored nothing");
    const older = stored.body;
    await pushRow(now - 30_000, 2);
    expect(pushed).toHaveLength(2);
    const r = await until("the pushed value, proven against a checkpoint holding it", async () => {
      const got = await readEntity("merchant_risk", entity, "txn_count_1h");
      return typeof got.json.checkpoint_seq === "number" && got.json.checkpoint_seq >= pushed[1]!.seq ? got : undefined;
    });
    expect(r.json).toMatchObject({ found: true, features: { txn_count_1h: 2 } });
    expect(ageMs(r)).toBeLessThan(5000);
    // The hostile host puts the older, genuinely sealed object back.
    await lane.store.put(objectKey("merchant_risk", entity), older, { contentType: "application/msgpack" });
    const rolled = await readEntity("merchant_risk", entity, "txn_count_1h");
    expect(JSON.stringify(rolled.json)).toContain("rolled_back");
    expect(rolled.json.features).toBeUndefined();
    process.stdout.write(`put-back read: ${rolled.status} ${rolled.body.toString().slice(0, 200)}\n`);
  });

  it("stopping the sequencer makes fresh_as_of age (and consumers reject it past their bound); restarting it makes answers fresh again", async () => {
    const entity = demoEntityId(5);
    const path = `/v1/features/${DEMO_VIEW}/${entity}`;
    await lane.stopSequencer();
    await new Promise((r) => setTimeout(r, 3500));
    const stale = await readEntity(DEMO_VIEW, entity, "country");
    expect(typeof stale.json.fresh_as_of).toBe("string");
    expect(ageMs(stale)).toBeGreaterThan(2500);
    let code = "";
    try {
      verifyResponse(stale, { method: "GET", path, query: "?features=country" }, { key: jwks, maxStaleness: 2 });
    } catch (err) {
      code = (err as VerificationError).code;
    }
    expect(code).toBe("stale_answer");
    await lane.startSequencer();
    const fresh = await until("a fresh answer after the restart", async () => {
      const got = await readEntity(DEMO_VIEW, entity, "country");
      return typeof got.json.fresh_as_of === "string" && ageMs(got) < 2000 ? got : undefined;
    });
    expect(Number(fresh.json.checkpoint_seq)).toBeGreaterThan(Number(stale.json.checkpoint_seq));
  });
});

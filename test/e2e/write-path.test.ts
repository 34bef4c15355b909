/**
 * The write path against the running lane (store twin with conditional writes, signer with the dev
 * seal key, runtime): load → signed read round trip for every type, ordering, idempotence, rejects,
 * max age, the push API, parity, and the tamper cases — each refused by the signer.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Packr } from "msgpackr";
import { buildBundles } from "../../dev/build";
import { LANE_BUNDLES, startLane, Lane } from "../../dev/lane/processes";
import { signedPush } from "../helpers/writer";
import { demoObjectBytes } from "../../dev/lane/demo-data";
import { verifyResponse } from "../../verifier/response";
import type { Ed25519Jwk } from "../../wire/keys";
import { decodeStoredObject, objectKey } from "../../wire/object";
import { generateSealKey, readSealKeyFile, SealKeyring } from "../../enclave/seal";
import { load } from "../../cli/load";
import { parity } from "../../cli/parity";

let lane: Lane;
let dir: string;
let seals: SealKeyring;
const NOW = Date.now();
const HOUR = 3_600_000;

interface Got {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

async function call(path: string, init: RequestInit = {}): Promise<Got> {
  const res = await fetch(`${lane.url}${path}`, init);
  const headers: Record<string, string> = {};
  res.headers.forEach((v, k) => (headers[k] = v));
  const body = Buffer.from(await res.arrayBuffer());
  let json: unknown;
  try {
    json = JSON.parse(body.toString());
  } catch {
    json = undefined;
  }
  return { status: res.status, headers, body, json };
}

let jwk: Ed25519Jwk;
/** A signed read, verified; returns the parsed body and status. */
async function read(view: string, entity: string, query = ""): Promise<Got> {
  const path = `/v1/features/${view}/${encodeURIComponent(entity)}`;
  const res = await call(path + query);
  verifyResponse(res, { method: "GET", path, query }, { key: jwk });
  return res;
}

/**
 * A push signed with the lane's dev writer key; every 2xx answer must carry a valid signature
 * bound to this POST and its body (fail closed), and name the writer.
 */
async function push(path: string, body: unknown): Promise<Got> {
  const [, view, segment] = /^\/v1\/features\/([^/]+)(\/_push)?$/.exec(path)!;
  const res = await signedPush(lane.url, decodeURIComponent(view!), body, lane.writerKeyFile, { batch: segment !== undefined });
  if (res.status < 300) {
    verifyResponse(res, res.request, { key: jwk, nonce: res.answerNonce });
    expect(res.json.outcome_reported_by).toBe("host");
    expect(res.json.written_by).toBe("loader");
  }
  return res;
}

function jsonl(name: string, rows: unknown[]): string {
  const file = join(dir, name);
  writeFileSync(file, rows.map((r) => (typeof r === "string" ? r : JSON.stringify(r))).join("\n") + "\n");
  return file;
}

const m = (id: string, event_time: number | string, extra: Record<string, unknown> = {}) => ({
  merchant_id: id,
  event_time,
  chargeback_rate: 0.0125,
  txn_count_1h: 42,
  category: "5411",
  is_high_risk: false,
  risk_embedding: [0.5, -0.25, 1, 0],
  last_chargeback_time: "2025-01-31T12:00:00.123Z",
  ...extra,
});

beforeAll(async () => {
  await buildBundles(LANE_BUNDLES);
  dir = mkdtempSync(join(tmpdir(), "lane-write-"));
  lane = await startLane({ dataDir: dir, port: 0, demoEntities: 5, quiet: true });
  const loaderKey = readSealKeyFile(lane.sealKeyFile);
  seals = new SealKeyring([loaderKey], loaderKey.kid);
  // The runtime may say ready before its signer connection has the key (busy machine): wait for it.
  for (let i = 0; i < 200 && !jwk; i++) {
    const res = await call("/v1/signer");
    if (res.status === 200) jwk = res.json.jwk;
    else await new Promise((r) => setTimeout(r, 25));
  }
  if (!jwk) throw new Error("signer key never became available");
}, 120_000);

afterAll(async () => {
  await lane?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("express-lane load → signed reads", () => {
  it("round-trips every type (JSONL), and a re-load is idempotent", async () => {
    const file = jsonl("m1.jsonl", [
      m("m-1", NOW - 60_000),
      m("m-2", new Date(NOW - 30_000).toISOString(), { is_high_risk: true, txn_count_1h: -7, chargeback_rate: 1e-9, category: "ünï ✓" }),
    ]);
    const first = await load({ file, view: "merchant_risk", store: lane.store, seals });
    expect(first).toMatchObject({ rows: 2, entities: 2, written: 2, unchanged: 0, skipped_older: 0, rejected: 0 });

    const res = await read("merchant_risk", "m-2");
    expect(res.status).toBe(200);
    expect(res.json.event_time).toBe(new Date(NOW - 30_000).toISOString());
    expect(res.json.features).toEqual({
      chargeback_rate: 1e-9,
      txn_count_1h: -7,
      category: "ünï ✓",
      is_high_risk: true,
      risk_embedding: [0.5, -0.25, 1, 0],
      last_chargeback_time: "2025-01-31T12:00:00.123Z",
    });
    expect(Object.values(res.json.status)).toEqual(Array(6).fill("PRESENT"));
    // MessagePack keeps native types (timestamp extension → Date).
    const mp = await call("/v1/features/merchant_risk/m-1", { headers: { accept: "application/msgpack" } });
    const body = new Packr({ useRecords: false, mapsAsObjects: true }).unpack(mp.body);
    expect(body.features.last_chargeback_time).toBeInstanceOf(Date);
    expect(body.features.txn_count_1h).toBe(42);

    const again = await load({ file, view: "merchant_risk", store: lane.store, seals });
    expect(again).toMatchObject({ written: 0, unchanged: 2, skipped_older: 0, rejected: 0 });
  });

  it("loads CSV with the same validation", async () => {
    const file = join(dir, "m.csv");
    writeFileSync(
      file,
      "merchant_id,event_time,chargeback_rate,txn_count_1h,category,is_high_risk,risk_embedding,last_chargeback_time\n" +
        `m-csv,${NOW - 1000},0.5,3,grocery,true,"[1,2,3,4]",2025-02-01T00:00:00Z\n` +
        `m-csv-2,${NOW - 1000},,,,false,,\n`,
    );
    const s = await load({ file, view: "merchant_risk", store: lane.store, seals });
    expect(s).toMatchObject({ written: 2, rejected: 0 });
    const res = await read("merchant_risk", "m-csv");
    expect(res.json.features).toMatchObject({
      chargeback_rate: 0.5,
      txn_count_1h: 3,
      is_high_risk: true,
      risk_embedding: [1, 2, 3, 4],
      last_chargeback_time: "2025-02-01T00:00:00.000Z",
    });
    const nulls = await read("merchant_risk", "m-csv-2");
    expect(nulls.json.status).toMatchObject({ chargeback_rate: "NULL_VALUE", is_high_risk: "PRESENT" });
  });

  it("never overwrites newer data: an older row is skipped, newest row per entity wins within a file", async () => {
    await load({ file: jsonl("o1.jsonl", [m("m-old", NOW - 10_000, { txn_count_1h: 10 })]), view: "merchant_risk", store: lane.store, seals });
    const older = await load({ file: jsonl("o2.jsonl", [m("m-old", NOW - 20_000, { txn_count_1h: 20 })]), view: "merchant_risk", store: lane.store, seals });
    expect(older).toMatchObject({ written: 0, skipped_older: 1 });
    expect((await read("merchant_risk", "m-old")).json.features.txn_count_1h).toBe(10);
    const inFile = await load({
      file: jsonl("o3.jsonl", [m("m-dup", NOW - 3000, { txn_count_1h: 3 }), m("m-dup", NOW - 1000, { txn_count_1h: 1 }), m("m-dup", NOW - 2000, { txn_count_1h: 2 })]),
      view: "merchant_risk",
      store: lane.store,
      seals,
    });
    expect(inFile).toMatchObject({ entities: 1, written: 1, skipped_older: 2 });
    expect((await read("merchant_risk", "m-dup")).json.features.txn_count_1h).toBe(1);
  });

  it("rejects bad rows with row numbers and reasons, and loads the rest", async () => {
    const file = jsonl("bad.jsonl", [
      m("ok-1", NOW - 1000),
      m("bad-1", NOW - 1000, { txn_count_1h: 1.5 }),
      m("bad-2", NOW - 1000, { risk_embedding: [1, 2] }),
      m("bad-3", NOW - 1000, { nope: 1 }),
      { merchant_id: "bad-4", chargeback_rate: 0.1 },
      m("bad-5", "yesterday"),
      "{not json",
      m("", NOW - 1000),
      m("bad-8", NOW + 48 * HOUR),
    ]);
    const s = await load({ file, view: "merchant_risk", store: lane.store, seals });
    expect(s).toMatchObject({ rows: 9, written: 1, rejected: 8 });
    const rejects = readFileSync(s.rejectsFile!, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(rejects.map((r: { row: number; code: string }) => [r.row, r.code])).toEqual([
      [2, "bad_value"],
      [3, "bad_value"],
      [4, "unknown_feature"],
      [5, "missing_event_time"],
      [6, "bad_event_time"],
      [7, "bad_row"],
      [8, "missing_entity"],
      [9, "future_event_time"],
    ]);
    expect(rejects[0].reason).toMatch(/txn_count_1h: expected an integer/);
    expect(rejects[1].reason).toMatch(/exactly 4 numbers/);
  });

  it("reports OUTSIDE_MAX_AGE past the view's TTL (judged at the signed read time), with the event time", async () => {
    await load({ file: jsonl("ttl.jsonl", [m("m-stale", NOW - 2 * HOUR)]), view: "merchant_risk", store: lane.store, seals });
    const res = await read("merchant_risk", "m-stale");
    expect(res.status).toBe(200);
    expect(res.json.event_time).toBe(new Date(NOW - 2 * HOUR).toISOString());
    expect(new Set(Object.values(res.json.status))).toEqual(new Set(["OUTSIDE_MAX_AGE"]));
    expect(Object.values(res.json.features).every((v) => v === null)).toBe(true);
  });

  it("parity: matches what was loaded, reports what differs", async () => {
    const file = jsonl("parity.jsonl", [m("p-1", NOW - 5000), m("p-2", NOW - 5000), m("p-3", NOW - 5000)]);
    await load({ file, view: "merchant_risk", store: lane.store, seals });
    expect(await parity({ file, view: "merchant_risk", url: lane.url })).toMatchObject({ entities: 3, matched: 3, mismatched: 0 });
    const drift = jsonl("parity2.jsonl", [m("p-1", NOW - 5000, { category: "other" }), m("p-2", NOW - 1000), m("p-404", NOW - 5000)]);
    const report = await parity({ file: drift, view: "merchant_risk", url: lane.url });
    expect(report).toMatchObject({ entities: 3, matched: 0, mismatched: 3 });
    expect(report.differences.map((d) => [d.entity, d.kind])).toEqual([
      ["p-1", "value"],
      ["p-2", "stale_online"],
      ["p-404", "missing"],
    ]);
  });
});

describe("push API", () => {
  it("validates, seals in the signer and writes with newer-wins ordering", async () => {
    const row = { entity: "push-1", event_time: NOW - 5000, features: { txn_count_1h: 5, category: "pushed", risk_embedding: [1, 1, 1, 1] } };
    const first = await push("/v1/features/merchant_risk", row);
    expect(first.status).toBe(201);
    expect(first.json).toMatchObject({ view: "merchant_risk", entity: "push-1", result: "written", kid: seals.activeKid });
    const read1 = await read("merchant_risk", "push-1");
    expect(read1.json.features).toMatchObject({ txn_count_1h: 5, category: "pushed", chargeback_rate: null });
    expect(read1.json.status.chargeback_rate).toBe("NOT_FOUND");

    expect((await push("/v1/features/merchant_risk", row)).json.result).toBe("unchanged");
    // Newer wins, per row: an older row is refused with a row error that says what is stored.
    const older = await push("/v1/features/merchant_risk", { ...row, event_time: NOW - 9000, features: { txn_count_1h: 9 } });
    expect(older.status).toBe(409);
    expect(older.json.error.code).toBe("older_than_stored");
    expect(older.json.error.message).toContain(new Date(NOW - 5000).toISOString());

    const batch = await push("/v1/features/merchant_risk/_push", {
      rows: [
        { entity: "push-1", event_time: NOW - 1000, features: { txn_count_1h: 6 } },
        { entity: "push-2", event_time: NOW - 1000, features: { is_high_risk: "yes" } },
        { entity: "push-3", event_time: NOW - 1000, features: { secret: 1 } },
      ],
    });
    expect(batch.status).toBe(200);
    expect(batch.json.summary).toEqual({ written: 1, unchanged: 0, skipped_older: 0, conflict: 0, rejected: 2 });
    expect(batch.json.results.map((r: { result: string; error?: { code: string } }) => r.error?.code ?? r.result)).toEqual(["written", "bad_value", "unknown_feature"]);
    // A partial push merges (the default): the features it does not carry keep their values.
    expect((await read("merchant_risk", "push-1")).json.features).toMatchObject({ txn_count_1h: 6, category: "pushed", risk_embedding: [1, 1, 1, 1] });
  });

  it("seals only what the directory's writer key signed: unsigned, foreign-key, altered and replayed pushes are refused", async () => {
    const row = { entity: "push-auth", event_time: NOW - 4000, features: { txn_count_1h: 4 } };
    const unsigned = await call("/v1/features/merchant_risk", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(row) });
    expect([unsigned.status, unsigned.json.error.code]).toEqual([401, "writer_signature_missing"]);
    // A well-formed signature under a key the directory does not list (same kid, other key; or another kid).
    const rogue = { ...generateSealKey("rogue"), writer: "loader" };
    expect((await signedPush(lane.url, "merchant_risk", row, rogue)).status).toBe(401);
    expect((await signedPush(lane.url, "merchant_risk", row, { ...rogue, kid: seals.activeKid })).status).toBe(401);
    // The body changed after signing: the digest no longer matches.
    const altered = await signedPush(lane.url, "merchant_risk", row, lane.writerKeyFile, {
      headers: { "content-digest": "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:" },
    });
    expect(altered.status).toBeGreaterThanOrEqual(400);
    // A stale signature (created 10 min ago) and a replayed nonce.
    expect((await signedPush(lane.url, "merchant_risk", row, lane.writerKeyFile, { nowSeconds: Math.floor(Date.now() / 1000) - 600 })).json.error.code).toBe(
      "writer_signature_stale",
    );
    const nonce = "replay-nonce-0123456789";
    const once = await signedPush(lane.url, "merchant_risk", row, lane.writerKeyFile, { nonce, nowSeconds: Math.floor(Date.now() / 1000) });
    expect(once.status).toBe(201);
    const replayed = await signedPush(lane.url, "merchant_risk", row, lane.writerKeyFile, { nonce, nowSeconds: Math.floor(Date.now() / 1000) });
    expect([replayed.status, replayed.json.error.code]).toEqual([409, "push_replayed"]);
    // None of the refused pushes wrote anything: only the signed one is there.
    expect((await read("merchant_risk", "push-auth")).json.features.txn_count_1h).toBe(4);
  });

  it("refuses unknown views, bad rows and bad bodies with clear errors", async () => {
    expect((await push("/v1/features/nope", { entity: "x", event_time: NOW, features: {} })).json.error.code).toBe("unknown_view");
    const bad = await push("/v1/features/merchant_risk", { entity: "x", event_time: NOW, features: { secret: 1 } });
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe("unknown_feature");
    const notJson = await signedPush(lane.url, "merchant_risk", "{", lane.writerKeyFile);
    expect([notJson.status, notJson.json.error.code]).toEqual([400, "bad_body"]);
    const tooMany = await push("/v1/features/merchant_risk/_push", { rows: Array.from({ length: 101 }, (_, i) => ({ entity: `e${i}`, event_time: NOW, features: {} })) });
    expect([tooMany.status, tooMany.json.error.code]).toEqual([413, "batch_too_large"]);
  });
});

describe("tampering with stored objects (the host can write the bucket; the signer refuses)", () => {
  const key = (entity: string) => objectKey("merchant_risk", entity);
  async function stored(entity: string): Promise<Buffer> {
    const got = await lane.store.get(key(entity));
    if (!got.found) throw new Error(`no object for ${entity}`);
    return Buffer.from(got.body);
  }
  async function refused(entity: string, code: string): Promise<void> {
    const res = await read("merchant_risk", entity);
    expect(res.status).toBe(502);
    expect(res.json.found).toBe(false);
    expect(res.json.features).toBeUndefined();
    expect(res.json.error.code).toBe(code);
  }

  beforeAll(async () => {
    await load({
      file: jsonl(
        "t.jsonl",
        ["t-flip", "t-copy-src", "t-copy-dst", "t-strip", "t-other-key", "t-unknown-kid", "t-v1"].map((e) => m(e, NOW - 1000)),
      ),
      view: "merchant_risk",
      store: lane.store,
      seals,
    });
  });

  it("one flipped byte in a value → seal_invalid", async () => {
    const bytes = await stored("t-flip");
    const env = decodeStoredObject(bytes);
    if (env.v !== 2) throw new Error("expected v2");
    const at = bytes.indexOf(env.body) + env.body.length - 1; // last byte of the body: inside last_chargeback_time's value
    bytes[at] ^= 0x01;
    await lane.store.put(key("t-flip"), bytes);
    await refused("t-flip", "seal_invalid");
  });

  it("an object copied to another entity's key → object_mismatch", async () => {
    await lane.store.put(key("t-copy-dst"), await stored("t-copy-src"));
    await refused("t-copy-dst", "object_mismatch");
  });

  it("a stripped seal, or an unsealed v1 object → seal_missing", async () => {
    const env = decodeStoredObject(await stored("t-strip"));
    if (env.v !== 2) throw new Error("expected v2");
    await lane.store.put(key("t-strip"), new Packr({ useRecords: false }).pack({ v: 2, body: env.body }));
    await refused("t-strip", "seal_missing");
    const v1 = new Packr({ useRecords: false }).pack({ v: 1, view: "merchant_risk", entity: "t-v1", event_time: NOW, written_time: NOW, features: { txn_count_1h: 1 } });
    await lane.store.put(key("t-v1"), v1);
    await refused("t-v1", "seal_missing");
    expect(demoObjectBytes(0, NOW).length).toBeGreaterThan(0); // v1 demo objects are also unsealed
  });

  it("a seal from another key → seal_invalid (same kid) or seal_unknown_key", async () => {
    const rogue = new SealKeyring([{ kid: seals.activeKid, key: generateSealKey().key }]);
    await lane.store.put(key("t-other-key"), rogue.seal({ view: "merchant_risk", entity: "t-other-key", event_time: NOW, written_time: NOW, features: { txn_count_1h: 666 } }));
    await refused("t-other-key", "seal_invalid");
    const stranger = new SealKeyring([generateSealKey("rogue")]);
    await lane.store.put(key("t-unknown-kid"), stranger.seal({ view: "merchant_risk", entity: "t-unknown-kid", event_time: NOW, written_time: NOW, features: {} }));
    await refused("t-unknown-kid", "seal_unknown_key");
  });

  it("an older sealed version put back is refused once the signer served the newer one (P2)", async () => {
    await load({ file: jsonl("r1.jsonl", [m("t-replay", NOW - 2 * HOUR, { txn_count_1h: 1 })]), view: "merchant_risk", store: lane.store, seals });
    const old = await stored("t-replay");
    await load({ file: jsonl("r2.jsonl", [m("t-replay", NOW - 1000, { txn_count_1h: 2 })]), view: "merchant_risk", store: lane.store, seals });
    expect((await read("merchant_risk", "t-replay")).json.features.txn_count_1h).toBe(2);
    await lane.store.put(key("t-replay"), old); // the host rolls the object back
    const res = await read("merchant_risk", "t-replay");
    // The seal is genuine, but this signer already served a newer version: a signed refusal.
    expect(res.status).toBe(502);
    expect(res.json.error.code).toBe("rolled_back");
  });

  it("an older sealed version of an entity the signer has not seen is served with its true (old) event time", async () => {
    await load({ file: jsonl("r3.jsonl", [m("t-replay-unseen", NOW - 2 * HOUR, { txn_count_1h: 1 })]), view: "merchant_risk", store: lane.store, seals });
    const old = await stored("t-replay-unseen");
    await load({ file: jsonl("r4.jsonl", [m("t-replay-unseen", NOW - 1000, { txn_count_1h: 2 })]), view: "merchant_risk", store: lane.store, seals });
    await lane.store.put(key("t-replay-unseen"), old); // rolled back before any read (docs/trust.md, residual risk)
    const res = await read("merchant_risk", "t-replay-unseen");
    // The seal is genuine and this signer never saw the newer one: served with the event time it was
    // sealed with, so a consumer's freshness check sees an old value and the view's max age withholds it.
    expect(res.status).toBe(200);
    expect(res.json.event_time).toBe(new Date(NOW - 2 * HOUR).toISOString());
    expect(res.json.status.txn_count_1h).toBe("OUTSIDE_MAX_AGE");
  });

  it("counts every refusal in lane_entity_errors_total{code}", async () => {
    const metrics = (await call("/metrics")).body.toString();
    for (const code of ["seal_invalid", "object_mismatch", "seal_missing", "seal_unknown_key"]) {
      expect(metrics).toMatch(new RegExp(`lane_entity_errors_total\\{code="${code}"\\} [1-9]`));
    }
  });

  it("a batch read refuses the tampered entities one by one and serves the rest", async () => {
    const res = await call("/v1/features/merchant_risk/batch", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ entities: ["t-flip", "m-1", "t-copy-dst"], features: ["category"] }),
    });
    expect(res.status).toBe(200);
    expect(res.json.results.map((r: { found: boolean; error?: { code: string } }) => (r.found ? "ok" : r.error!.code))).toEqual(["seal_invalid", "ok", "object_mismatch"]);
  });
});

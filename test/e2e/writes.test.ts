/**
 * Issue #13 write semantics against the real lane (store twin, dev signer, runtime): partial
 * pushes merge, replace drops, deletes read NOT_FOUND (signed) and refuse older writes, entity ids
 * that look like routes (`batch`, `_push`, `/`) or numbers round-trip through GET, batch, push and
 * load, and `load --url` writes through the push API.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { buildBundles } from "../../dev/build";
import { LANE_BUNDLES, startLane, Lane } from "../../dev/lane/processes";
import { pushNonce } from "../../cli/push";
import { readWriterKeyFile } from "../../dev/key-files";
import { load, loadViaApi } from "../../cli/load";
import { signedPush } from "../helpers/writer";
import { verifyResponse } from "../../verifier/response";
import { signPush } from "../../wire/writer-auth";
import type { Ed25519Jwk } from "../../wire/keys";
import { readSealKeyFile, SealKeyring } from "../../enclave/seal";
import { buildProgram } from "../../cli/main";
import { runProgram } from "../helpers/cli";
import { jwkThumbprint } from "../../wire/keys";

let lane: Lane;
let dir: string;
let seals: SealKeyring;
let jwk: Ed25519Jwk;
const NOW = Date.now();
const VIEW = "merchant_risk";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Got = { status: number; json: any; headers: Record<string, string>; body: Buffer };
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
  return { status: res.status, json, headers, body };
}
/** A consumer's GET, verified. */
async function read(entity: string): Promise<Got> {
  const path = `/v1/features/${VIEW}/${encodeURIComponent(entity)}`;
  const res = await call(path);
  verifyResponse(res, { method: "GET", path, query: "" }, { key: jwk });
  return res;
}
async function batchRead(entities: unknown[]): Promise<Got> {
  const path = `/v1/features/${VIEW}/batch`;
  const body = Buffer.from(JSON.stringify({ entities }));
  const res = await call(path, { method: "POST", body, headers: { "content-type": "application/json" } });
  verifyResponse(res, { method: "POST", path, query: "", body }, { key: jwk });
  return res;
}
async function push(body: unknown, batch = false): Promise<Got> {
  const res = await signedPush(lane.url, VIEW, body, lane.writerKeyFile, { batch });
  if (res.status < 300) verifyResponse(res, res.request, { key: jwk, nonce: res.answerNonce });
  return res;
}
async function del(entity: string, body?: unknown): Promise<Got> {
  const path = `/v1/features/${VIEW}/${encodeURIComponent(entity)}`;
  const bytes = body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(body));
  const sig = signPush({ method: "DELETE", path, query: "", contentType: "application/json", body: bytes }, readWriterKeyFile(lane.writerKeyFile), { nonce: pushNonce() });
  const answerNonce = pushNonce();
  const res = await call(path, {
    method: "DELETE",
    body: bytes,
    headers: {
      "content-type": "application/json",
      "content-digest": sig.contentDigest,
      "signature-input": sig.signatureInput,
      signature: sig.signature,
      "accept-signature": `sig1=("@status" "content-digest");nonce="${answerNonce}"`,
    },
  });
  if (res.status < 300) verifyResponse(res, { method: "DELETE", path, query: "", body: bytes }, { key: jwk, nonce: answerNonce });
  return res;
}

beforeAll(async () => {
  await buildBundles(LANE_BUNDLES);
  dir = mkdtempSync(join(tmpdir(), "lane-writes-"));
  lane = await startLane({ dataDir: dir, port: 0, demoEntities: 1, quiet: true });
  const loaderKey = readSealKeyFile(lane.sealKeyFile);
  seals = new SealKeyring([loaderKey], loaderKey.kid);
  for (let i = 0; i < 200 && !jwk; i++) {
    const res = await call("/v1/signer");
    if (res.status === 200) jwk = res.json.jwk;
    else await new Promise((r) => setTimeout(r, 25));
  }
  if (!jwk) throw new Error("signer key never became available");
  // The write connection to the signer may come up after the read one (busy machine): wait for it.
  let last: Got | undefined;
  for (let i = 0; i < 100; i++) {
    last = await push({ entity: "w-warmup", event_time: Date.now() - 1000, features: { txn_count_1h: i } });
    if (last.status < 300) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!last || last.status >= 300) throw new Error(`pushes never worked: ${last?.status} ${JSON.stringify(last?.json)}`);
}, 120_000);

afterAll(async () => {
  await lane?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("merge and replace", () => {
  it("a partial push merges into the stored object; replace drops what the row does not carry", async () => {
    expect((await push({ entity: "w-merge", event_time: NOW - 5000, features: { txn_count_1h: 1, category: "5411" } })).status).toBe(201);
    const merged = await push({ entity: "w-merge", event_time: NOW - 4000, features: { txn_count_1h: 2 } });
    expect([merged.status, merged.json.result]).toEqual([201, "written"]);
    expect((await read("w-merge")).json).toMatchObject({ features: { txn_count_1h: 2, category: "5411" }, status: { txn_count_1h: "PRESENT", category: "PRESENT" } });
    const replaced = await push({ rows: [{ entity: "w-merge", event_time: NOW - 3000, features: { txn_count_1h: 3 } }], mode: "replace" }, true);
    expect(replaced.json.summary).toMatchObject({ written: 1 });
    expect((await read("w-merge")).json).toMatchObject({ features: { txn_count_1h: 3, category: null }, status: { category: "NOT_FOUND" } });
  });

  it("an older row is refused with a row error naming the stored version; the same row again is unchanged", async () => {
    const batch = await push({ rows: [{ entity: "w-merge", event_time: NOW - 9000, features: { txn_count_1h: 9 } }] }, true);
    expect(batch.json.results[0]).toMatchObject({ result: "rejected", error: { code: "older_than_stored" } });
    const again = await push({ rows: [{ entity: "w-merge", event_time: NOW - 3000, features: { txn_count_1h: 3 } }] }, true);
    expect(again.json.results[0].result).toBe("unchanged");
  });
});

describe("concurrent merges", () => {
  it("pushes racing on one entity all land: lost conditional writes are re-fetched and re-sealed by the signer", async () => {
    // Same event time: nobody is "older", so every push must merge (a tie is a write, not a refusal).
    const features = [{ txn_count_1h: 5 }, { category: "race" }, { is_high_risk: true }];
    const answers = await Promise.all(features.map((f) => push({ entity: "w-race", event_time: NOW - 100, features: f })));
    const outcomes = answers.map((a) => a.json.result ?? a.json.error?.code);
    console.log(`racing merges: ${outcomes.join(", ")}`);
    // With 3 racers and 4 seal attempts each, every one lands (≥ one winner per round).
    expect(outcomes).toEqual(["written", "written", "written"]);
    expect((await read("w-race")).json.features).toMatchObject({ txn_count_1h: 5, category: "race", is_high_risk: true });
  });
});

describe("deletes", () => {
  it("DELETE stores a tombstone: the read is a signed NOT_FOUND, an older write after it is refused, a newer one brings it back", async () => {
    await push({ entity: "w-del", event_time: NOW - 5000, features: { txn_count_1h: 1 } });
    const gone = await del("w-del", { event_time: NOW - 2000 });
    expect([gone.status, gone.json.result, gone.json.deleted]).toEqual([201, "written", true]);
    const after = await read("w-del");
    expect([after.status, after.json.error.code]).toEqual([404, "not_found"]);
    const older = await push({ entity: "w-del", event_time: NOW - 3000, features: { txn_count_1h: 2 } });
    expect([older.status, older.json.error.code]).toEqual([409, "older_than_stored"]);
    expect((await push({ entity: "w-del", event_time: NOW - 1000, features: { category: "back" } })).status).toBe(201);
    expect((await read("w-del")).json).toMatchObject({ features: { category: "back", txn_count_1h: null }, status: { txn_count_1h: "NOT_FOUND" } });
  });

  it("a delete row in a batch push, and an unsigned DELETE refused", async () => {
    await push({ entity: "w-del-2", event_time: NOW - 5000, features: { txn_count_1h: 1 } });
    const r = await push({ rows: [{ entity: "w-del-2", event_time: NOW - 1000, delete: true }] }, true);
    expect(r.json.summary.written).toBe(1);
    expect((await read("w-del-2")).status).toBe(404);
    const unsigned = await call(`/v1/features/${VIEW}/w-del-2`, { method: "DELETE" });
    expect([unsigned.status, unsigned.json.error.code]).toEqual([401, "writer_signature_missing"]);
  });
});

describe("entity ids that look like routes or numbers", () => {
  it.each(["batch", "_push", "a/b", "ünï-✓"])("%j round-trips through push, GET and batch", async (entity) => {
    expect((await push({ entity, event_time: NOW - 1000, features: { category: `id:${entity}` } })).status).toBe(201);
    const got = await read(entity);
    expect([got.status, got.json.entity, got.json.features.category]).toEqual([200, entity, `id:${entity}`]);
    expect((await batchRead([entity])).json.results[0]).toMatchObject({ entity, found: true });
  });

  it('numeric ids: pushed as 42, read by GET /42, batch [42] and ["42"], loaded from CSV and JSONL ints', async () => {
    expect((await push({ entity: 42, event_time: NOW - 1000, features: { txn_count_1h: 42 } })).json.entity).toBe("42");
    expect((await read("42")).json.features.txn_count_1h).toBe(42);
    const batch = await batchRead([42, "42"]);
    expect(batch.json.results.map((r: { entity: string; found: boolean }) => [r.entity, r.found])).toEqual([
      ["42", true],
      ["42", true],
    ]);
    const bad = await call(`/v1/features/${VIEW}/batch`, { method: "POST", body: JSON.stringify({ entities: [4.2] }), headers: { "content-type": "application/json" } });
    expect([bad.status, bad.json.error.code]).toEqual([400, "bad_entity"]);
    const csv = join(dir, "ids.csv");
    writeFileSync(csv, `merchant_id,event_time,txn_count_1h\n43,${NOW - 900},43\n`);
    const jsonl = join(dir, "ids.jsonl");
    writeFileSync(jsonl, `${JSON.stringify({ merchant_id: 44, event_time: NOW - 900, txn_count_1h: 44 })}\n`);
    expect(await load({ file: csv, view: VIEW, store: lane.store, seals })).toMatchObject({ written: 1, rejected: 0 });
    expect(await load({ file: jsonl, view: VIEW, store: lane.store, seals })).toMatchObject({ written: 1, rejected: 0 });
    expect((await batchRead([43, 44])).json.results.map((r: { features: { txn_count_1h: number } }) => r.features.txn_count_1h)).toEqual([43, 44]);
  });
});

describe("load: columns, units, renames, stdin, s3://, and --url", () => {
  it("--entity-column, --event-time-column with --event-time-unit s, --rename, from stdin; Feast's event_timestamp/created accepted", async () => {
    const seconds = Math.floor((NOW - 60_000) / 1000);
    const stdin = Readable.from([`id,ts,count\nw-cols,${seconds},7\n`]);
    const s = await load({
      file: "-",
      format: "csv",
      view: VIEW,
      store: lane.store,
      seals,
      stdin,
      entityColumn: "id",
      eventTimeColumn: "ts",
      eventTimeUnit: "s",
      rename: { count: "txn_count_1h" },
    });
    expect(s).toMatchObject({ written: 1, rejected: 0 });
    const got = await read("w-cols");
    expect([got.json.event_time, got.json.features.txn_count_1h]).toEqual([new Date(seconds * 1000).toISOString(), 7]);
    const feast = join(dir, "feast.jsonl");
    writeFileSync(
      feast,
      `${JSON.stringify({ merchant_id: "w-feast", event_timestamp: new Date(NOW - 1000).toISOString(), created: new Date(NOW).toISOString(), txn_count_1h: 5 })}\n`,
    );
    expect(await load({ file: feast, view: VIEW, store: lane.store, seals })).toMatchObject({ written: 1, rejected: 0 });
  });

  it("an s3:// source is read through the project's S3 client (the local twin)", async () => {
    await lane.store.put("sources/in.jsonl", Buffer.from(`${JSON.stringify({ merchant_id: "w-s3", event_time: NOW - 500, txn_count_1h: 3 })}\n`));
    const s = await load({
      file: `s3://${lane.bucket}/sources/in.jsonl`,
      view: VIEW,
      store: lane.store,
      seals,
      fetchS3: async (_bucket, key) => {
        const got = await lane.store.get(key);
        if (!got.found) throw new Error("missing");
        return got.body;
      },
    });
    expect(s).toMatchObject({ written: 1 });
    expect((await read("w-s3")).json.features.txn_count_1h).toBe(3);
  });

  it("load --url writes through the push API with the writer key (merge by default), answers verified against the pinned key", async () => {
    const file = join(dir, "via-api.jsonl");
    const rows = Array.from({ length: 150 }, (_, i) => ({ merchant_id: i === 0 ? "batch" : `w-api-${i}`, event_time: NOW - 800, txn_count_1h: i }));
    writeFileSync(file, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
    const s = await loadViaApi({ file, view: VIEW, url: lane.url, key: readWriterKeyFile(lane.writerKeyFile), pinned: [jwk], rejectsFile: join(dir, "api.rejects.jsonl") });
    if (s.failed > 0 || s.rejected > 0) console.log(JSON.stringify(s), readFileSync(join(dir, "api.rejects.jsonl"), "utf8"));
    expect(s).toMatchObject({ rows: 150, entities: 150, written: 150, rejected: 0, failed: 0, verified: true, written_by: ["loader"] });
    // "batch" was pushed earlier with a category: the load merged, it kept it.
    expect((await read("batch")).json.features).toMatchObject({ txn_count_1h: 0, category: "id:batch" });
    expect((await read("w-api-149")).json.features.txn_count_1h).toBe(149);
  });
});

/** The binary's program with commander's process.exit turned into throws (subcommands included). */
function program() {
  const p = buildProgram().exitOverride();
  for (const c of p.commands) c.exitOverride();
  return p;
}

describe("the CLI: load flags and --url, purge", () => {
  const store = () => ["--endpoint", lane.storeEndpoint, "--bucket", lane.bucket, "--no-progress", "--writer-key-file", lane.writerKeyFile];

  it("load --mode replace --rename --event-time-unit ms, and load --url --key through the binary's parser", async () => {
    const file = join(dir, "cli.csv");
    writeFileSync(file, `merchant_id,event_time,n\nw-cli,${NOW - 700},11\n`);
    const direct = await runProgram(program(), ["load", file, "--view", VIEW, ...store(), "--mode", "replace", "--rename", "n=txn_count_1h", "--event-time-unit", "ms"]);
    expect([direct.code, direct.out]).toEqual([0, expect.stringMatching(/written 1 {2}unchanged 0/)]);
    writeFileSync(file, `merchant_id,event_time,category\nw-cli,${NOW - 600},cli\n`);
    const viaApi = await runProgram(program(), ["load", file, "--view", VIEW, "--url", lane.url, "--writer-key", lane.writerKeyFile, "--key", jwkThumbprint(jwk)]);
    expect(viaApi.code).toBe(0);
    expect(viaApi.out).toMatch(/answers verified against the pinned signer key/);
    expect((await read("w-cli")).json.features).toMatchObject({ txn_count_1h: 11, category: "cli" });
    await expect(runProgram(program(), ["load", file, "--view", VIEW, ...store(), "--event-time-unit", "minutes"])).rejects.toThrow(/event-time-unit/);
  });

  it("purge counts without --yes, deletes with it; reads then answer NOT_FOUND; other views untouched", async () => {
    await push({ entity: "w-purge", event_time: NOW - 500, features: { txn_count_1h: 1 } });
    const dry = await runProgram(program(), ["purge", "--view", VIEW, "--endpoint", lane.storeEndpoint, "--bucket", lane.bucket]);
    expect(dry.code).toBe(0);
    const count = Number(/(\d+) objects would be deleted/.exec(dry.out)?.[1]);
    expect(count).toBeGreaterThanOrEqual(2);
    expect((await read("w-purge")).status).toBe(200);
    const real = await runProgram(program(), ["purge", "--view", VIEW, "--endpoint", lane.storeEndpoint, "--bucket", lane.bucket, "--yes"]);
    if (real.code !== 0) console.log(real.err);
    expect([real.code, real.out]).toEqual([0, expect.stringMatching(new RegExp(`deleted ${count} of ${count} objects`))]);
    expect((await read("w-purge")).status).toBe(404);
    expect((await batchRead(["batch", 42])).json.results.every((r: { found: boolean }) => !r.found)).toBe(true);
    expect((await lane.store.list("user_profile/")).keys.length).toBeGreaterThan(0);
    expect((await lane.store.get("sources/in.jsonl")).found).toBe(true);
  });
});

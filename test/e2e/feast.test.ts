/**
 * Feast compatibility against the real lane: `POST /get-online-features` with request bodies built
 * exactly as Feast's `remote` online store builds them (feast-dev/feast
 * sdk/python/feast/infra/online_stores/remote.py: `json.dumps({"features": [...], "entities":
 * {join_key: [values]}})`, posted as `data=` with no Content-Type), answered in Feast's
 * feature-server shape (sdk/python/feast/feature_server.py: MessageToDict of
 * GetOnlineFeaturesResponse) and signed like every other answer, bound to the body.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildBundles } from "../../dev/build";
import { LANE_BUNDLES, startLane, type Lane } from "../../dev/lane/processes";
import { DEMO_VIEW, demoEntityId } from "../../dev/lane/demo-data";
import { verifyResponse } from "../../verifier/response";
import type { Ed25519Jwk } from "../../wire/keys";

let lane: Lane;
let dir: string;
let key: Ed25519Jwk;

/** Python's json.dumps default separators: ", " and ": " (what Feast's client sends, byte for byte). */
function pythonJsonDumps(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(pythonJsonDumps).join(", ")}]`;
  if (value !== null && typeof value === "object")
    return `{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}: ${pythonJsonDumps(v)}`)
      .join(", ")}}`;
  return JSON.stringify(value);
}

/** What RemoteOnlineStore._construct_online_read_api_json_request builds for one feature view. */
function remoteStoreBody(view: string, features: string[], joinKey: string, values: (string | number)[]): string {
  return pythonJsonDumps({ features: features.map((f) => `${view}:${f}`), entities: { [joinKey]: values } });
}

async function post(body: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${lane.url}/get-online-features`, { method: "POST", body, headers: { "accept-signature": 'sig1=("@status");nonce="feast-nonce"', ...headers } });
  const h: Record<string, string> = {};
  res.headers.forEach((v, k) => (h[k] = v));
  return { status: res.status, headers: h, body: Buffer.from(await res.arrayBuffer()) };
}

beforeAll(async () => {
  await buildBundles(LANE_BUNDLES);
  dir = mkdtempSync(join(tmpdir(), "lane-feast-"));
  lane = await startLane({ dataDir: dir, port: 0, demoEntities: 20, quiet: true });
  key = JSON.parse(Buffer.from(await (await fetch(`${lane.url}/v1/signer`)).arrayBuffer()).toString()).jwk;
}, 120_000);

afterAll(async () => {
  await lane?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("POST /get-online-features (Feast's feature server API)", () => {
  it("answers a remote-store request in Feast's shape, signed and bound to the body", async () => {
    const body = remoteStoreBody(DEMO_VIEW, ["country", "risk_score"], "user_id", [demoEntityId(3), "user_missing"]);
    const res = await post(body); // no Content-Type, like requests' data=<str>
    expect(res.status).toBe(200);
    verifyResponse(
      { status: res.status, headers: res.headers, body: res.body },
      { method: "POST", path: "/get-online-features", query: "", body: Buffer.from(body) },
      { key, nonce: "feast-nonce" },
    );
    const answer = JSON.parse(res.body.toString());
    expect(answer.metadata.feature_names).toEqual(["user_id", "country", "risk_score"]);
    expect(answer.results).toHaveLength(3);
    expect(answer.results[0]).toEqual({
      values: [demoEntityId(3), "user_missing"],
      statuses: ["PRESENT", "PRESENT"],
      event_timestamps: ["1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"],
    });
    expect(answer.results[1].statuses).toEqual(["PRESENT", "NOT_FOUND"]);
    expect(typeof answer.results[1].values[0]).toBe("string");
    expect(answer.results[1].values[1]).toBeNull();
    // What the remote store reads as the event time: results[1].event_timestamps[0], ISO with Z.
    expect(new Date(answer.results[1].event_timestamps[0]).getTime()).toBeGreaterThan(0);
    expect(answer.results[1].event_timestamps[1]).toBe("1970-01-01T00:00:00Z");
  });

  it("a signature over one body does not verify for another (the host cannot swap the entities)", async () => {
    const body = remoteStoreBody(DEMO_VIEW, ["country"], "user_id", [demoEntityId(1), demoEntityId(2)]);
    const res = await post(body);
    const other = remoteStoreBody(DEMO_VIEW, ["country"], "user_id", [demoEntityId(2), demoEntityId(1)]);
    expect(() =>
      verifyResponse({ status: res.status, headers: res.headers, body: res.body }, { method: "POST", path: "/get-online-features", query: "", body: Buffer.from(other) }, { key }),
    ).toThrow(/signature/);
  });

  it("full_feature_names names features view__feature; integer entity keys are their decimal text", async () => {
    const body = JSON.stringify({ features: [`${DEMO_VIEW}:country`], entities: { user_id: [demoEntityId(4)] }, full_feature_names: true });
    const res = await post(body, { "content-type": "application/json" });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body.toString()).metadata.feature_names).toEqual(["user_id", `${DEMO_VIEW}__country`]);
    const numeric = await post(JSON.stringify({ features: [`${DEMO_VIEW}:country`], entities: { user_id: [12345] } }));
    const answer = JSON.parse(numeric.body.toString());
    expect(answer.results[0].values).toEqual([12345]);
    expect(answer.results[1].statuses).toEqual(["NOT_FOUND"]);
  });

  it("refuses what it cannot answer faithfully, with the error shape", async () => {
    const cases: [string, number, string][] = [
      [JSON.stringify({ feature_service: "svc", entities: { user_id: ["a"] } }), 400, "bad_body"],
      [JSON.stringify({ features: ["nope:country"], entities: { user_id: ["a"] } }), 404, "unknown_view"],
      [JSON.stringify({ features: [`${DEMO_VIEW}:nope`], entities: { user_id: ["a"] } }), 400, "unknown_feature"],
      [JSON.stringify({ features: [`${DEMO_VIEW}:country`], entities: { merchant_id: ["a"] } }), 400, "bad_body"],
      [JSON.stringify({ features: [`${DEMO_VIEW}:country`], entities: { user_id: [] } }), 400, "bad_body"],
      ["not json", 400, "bad_body"],
    ];
    for (const [body, status, code] of cases) {
      const res = await post(body);
      expect([res.status, JSON.parse(res.body.toString()).error.code]).toEqual([status, code]);
    }
  });
});

import { feastFeatureName, feastLookups, isFeastRequest, MAX_FEAST_BODY_BYTES, MAX_FEAST_LOOKUPS, MAX_FEAST_VIEWS, parseFeastRequest, FEAST_PATH } from "../../wire/feast";
import { defineRegistry, type ViewSpec } from "../../wire/registry";
import { LaneError } from "../../wire/errors";
import type { RawReadRequest } from "../../wire/request";

const view = (name: string, features: string[], entityKey = "user_id"): ViewSpec => ({
  name,
  entityKey,
  features: features.map((f) => ({ name: f, type: "float" as const })),
  ttlSeconds: 3600,
  owner: "tests",
  description: name,
});
const registry = defineRegistry([
  view("clicks", ["count", "rate"]),
  view("orders", ["count", "total"]),
  view("items", ["price"], "item_id"),
  ...Array.from({ length: MAX_FEAST_VIEWS + 1 }, (_, i) => view(`v${i}`, ["f"])),
]);

const raw = (body: unknown, over: Partial<RawReadRequest> = {}): RawReadRequest => ({
  method: "POST",
  path: FEAST_PATH,
  query: "",
  body: Buffer.from(typeof body === "string" ? body : JSON.stringify(body)),
  ...over,
});
const parse = (body: unknown, over: Partial<RawReadRequest> = {}) => parseFeastRequest(raw(body, over), registry);

function codeOf(body: unknown, over: Partial<RawReadRequest> = {}): string {
  try {
    parse(body, over);
    return "accepted";
  } catch (err) {
    expect(err).toBeInstanceOf(LaneError);
    return (err as LaneError).code;
  }
}

describe("parseFeastRequest: what Feast's remote online store sends", () => {
  it("parses views, features and entities, keeping entity values as sent and their ids as text", () => {
    const r = parse({ features: ["clicks:count", "orders:total", "clicks:rate"], entities: { user_id: [42, "u2"] } });
    expect(r.joinKey).toBe("user_id");
    expect(r.entityValues).toEqual([42, "u2"]);
    expect(r.entities).toEqual(["42", "u2"]);
    expect(r.views.map((v) => [v.def.name, v.features])).toEqual([
      ["clicks", ["count", "rate"]],
      ["orders", ["total"]],
    ]);
    expect(r.references).toEqual([
      { view: 0, feature: "count" },
      { view: 1, feature: "total" },
      { view: 0, feature: "rate" },
    ]);
    expect(r.fullFeatureNames).toBe(false);
    expect(r.signature).toEqual({ label: "sig1" });
  });

  it("takes no Content-Type (Feast sends none), JSON or text/plain", () => {
    const body = { features: ["clicks:count"], entities: { user_id: ["u1"] } };
    expect(codeOf(body)).toBe("accepted");
    expect(codeOf(body, { contentType: "application/json; charset=utf-8" })).toBe("accepted");
    expect(codeOf(body, { contentType: "text/plain" })).toBe("accepted");
    expect(codeOf(body, { contentType: "application/msgpack" })).toBe("unsupported_media_type");
  });

  it("drops a repeated reference", () => {
    expect(parse({ features: ["clicks:count", "clicks:count"], entities: { user_id: ["u1"] } }).references).toHaveLength(1);
  });

  it("lookups are, per view, each entity", () => {
    const r = parse({ features: ["clicks:count", "orders:total"], entities: { user_id: ["a", "b"] } });
    expect(feastLookups(r)).toEqual([
      { view: "clicks", entity: "a" },
      { view: "clicks", entity: "b" },
      { view: "orders", entity: "a" },
      { view: "orders", entity: "b" },
    ]);
  });

  it("names features bare, or view__feature with full_feature_names (then two views may share a feature name)", () => {
    expect(codeOf({ features: ["clicks:count", "orders:count"], entities: { user_id: ["u"] } })).toBe("bad_body");
    const r = parse({ features: ["clicks:count", "orders:count"], entities: { user_id: ["u"] }, full_feature_names: true });
    expect(r.references.map((ref) => feastFeatureName(r, ref))).toEqual(["clicks__count", "orders__count"]);
    const bare = parse({ features: ["clicks:rate"], entities: { user_id: ["u"] } });
    expect(feastFeatureName(bare, bare.references[0]!)).toBe("rate");
  });

  it("reads the Accept-Signature nonce", () => {
    expect(parse({ features: ["clicks:count"], entities: { user_id: ["u"] } }, { acceptSignature: 'sig2=();nonce="n1"' }).signature).toEqual({ label: "sig2", nonce: "n1" });
  });
});

describe("parseFeastRequest refusals", () => {
  const ok = { features: ["clicks:count"], entities: { user_id: ["u1"] } };

  it.each<[string, unknown, string]>([
    ["not JSON", "{", "bad_body"],
    ["a JSON array", [], "bad_body"],
    ["an unknown field", { ...ok, project: "p" }, "bad_body"],
    ["a feature_service", { ...ok, feature_service: "svc" }, "bad_body"],
    ["full_feature_names as a string", { ...ok, full_feature_names: "true" }, "bad_body"],
    ["entities as an array", { ...ok, entities: ["u1"] }, "bad_body"],
    ["two join keys", { ...ok, entities: { user_id: ["u1"], item_id: ["i1"] } }, "bad_body"],
    ["no entity values", { ...ok, entities: { user_id: [] } }, "bad_body"],
    ["a float entity", { ...ok, entities: { user_id: [1.5] } }, "bad_entity"],
    ["a boolean entity", { ...ok, entities: { user_id: [true] } }, "bad_entity"],
    ["too many entities", { ...ok, entities: { user_id: Array.from({ length: 101 }, (_, i) => `u${i}`) } }, "batch_too_large"],
    ["no features", { ...ok, features: [] }, "bad_body"],
    ["a feature that is not a string", { ...ok, features: [1] }, "bad_body"],
    ["a reference without a view", { ...ok, features: ["count"] }, "bad_body"],
    ["a reference with an empty view", { ...ok, features: [":count"] }, "bad_body"],
    ["a bad view name", { ...ok, features: ["Clicks:count"] }, "bad_view"],
    ["a bad feature name", { ...ok, features: ["clicks:co-unt"] }, "bad_feature"],
    ["an unknown view", { ...ok, features: ["nope:count"] }, "unknown_view"],
    ["an unknown feature", { ...ok, features: ["clicks:nope"] }, "unknown_feature"],
    ["a view keyed by another join key", { ...ok, features: ["items:price"] }, "bad_body"],
    ["too many views", { ...ok, features: Array.from({ length: MAX_FEAST_VIEWS + 1 }, (_, i) => `v${i}:f`) }, "batch_too_large"],
  ])("%s", (_what, body, code) => {
    expect(codeOf(body)).toBe(code);
  });

  it("no answer column can be named like the join key: a view may not define a feature of that name", () => {
    // Every view a request reads shares the join key, so the registry's rule is what keeps the
    // answer's first column (the join key) distinct from the feature columns.
    expect(() => defineRegistry([view("clicks", ["user_id"])])).toThrow(/collides with the entity key/);
  });

  it("bounds the (view, entity) lookups of one request", () => {
    const entities = Array.from({ length: 100 }, (_, i) => `u${i}`);
    const features = Array.from({ length: Math.floor(MAX_FEAST_LOOKUPS / 100) + 1 }, (_, i) => `v${i}:f`);
    expect(codeOf({ features, entities: { user_id: entities } })).toBe("batch_too_large");
  });

  it("refuses a body over the limit, another method, another path and any query parameter", () => {
    expect(codeOf(" ".repeat(MAX_FEAST_BODY_BYTES + 1))).toBe("body_too_large");
    expect(codeOf(ok, { method: "GET" })).toBe("method_not_allowed");
    expect(codeOf(ok, { path: "/get-online-features/" })).toBe("not_found_route");
    expect(codeOf(ok, { query: "?x=1" })).not.toBe("accepted");
  });
});

describe("isFeastRequest", () => {
  it("is POST on the exact path only", () => {
    expect(isFeastRequest("POST", FEAST_PATH)).toBe(true);
    expect(isFeastRequest("GET", FEAST_PATH)).toBe(false);
    expect(isFeastRequest("POST", `${FEAST_PATH}/x`)).toBe(false);
  });
});

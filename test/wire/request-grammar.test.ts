import { defineRegistry } from "../../wire/registry";
import { LaneError } from "../../wire/errors";
import { lookupView, negotiateFormat, parseAcceptSignature, parseReadRequest, splitTarget, MAX_BATCH_BODY_BYTES, MAX_NONCE_LENGTH, type RawReadRequest } from "../../wire/request";

// The registry is the caller's (wire/ never imports registry/): a small one of the test's own.
const registry = defineRegistry([
  {
    name: "users",
    entityKey: "user_id",
    owner: "tests",
    description: "request tests",
    ttlSeconds: 3600,
    features: [
      { name: "a", type: "int" },
      { name: "b", type: "string" },
    ],
  },
]);
const other = defineRegistry([
  { name: "merchants", entityKey: "merchant_id", owner: "tests", description: "a second registry", ttlSeconds: 60, features: [{ name: "a", type: "int" }] },
]);

const get = (path: string, query = "", extra: Partial<RawReadRequest> = {}): RawReadRequest => ({ method: "GET", path, query, ...extra });
const batch = (body: unknown, extra: Partial<RawReadRequest> = {}): RawReadRequest => ({
  method: "POST",
  path: "/v1/features/users/batch",
  query: "",
  contentType: "application/json",
  body: Buffer.from(typeof body === "string" ? body : JSON.stringify(body)),
  ...extra,
});

/** [status, code] of the LaneError `f` throws. */
function refusal(f: () => unknown): [number, string] {
  try {
    f();
  } catch (err) {
    if (err instanceof LaneError) return [err.status, err.code];
    throw err;
  }
  throw new Error("expected a LaneError");
}

describe("wire/request: the read grammar", () => {
  test("a single read: view, entity (percent-decoded), projection, format and signature label", () => {
    const r = parseReadRequest(get("/v1/features/users/u%2F1", "?features=b,a,b", { accept: "application/msgpack", acceptSignature: 'mine=("@status");nonce="n-1"' }), registry);
    expect(r).toEqual({ kind: "single", view: "users", entities: ["u/1"], features: ["b", "a"], format: "msgpack", signature: { label: "mine", nonce: "n-1" } });
    expect(parseReadRequest(get("/v1/features/users/u1"), registry)).toMatchObject({ features: null, format: "json", signature: { label: "sig1" } });
  });

  test("the registry passed in decides which views exist", () => {
    expect(refusal(() => parseReadRequest(get("/v1/features/users/u1"), other))).toEqual([404, "unknown_view"]);
    expect(parseReadRequest(get("/v1/features/merchants/m1"), other).view).toBe("merchants");
    expect(() => lookupView("nope", registry)).toThrow(/known: users/);
  });

  test.each([
    ["unknown feature", get("/v1/features/users/u1", "?features=zzz"), 400, "unknown_feature"],
    ["unknown query parameter", get("/v1/features/users/u1", "?limit=1"), 400, "bad_query"],
    ["features twice", get("/v1/features/users/u1", "?features=a&features=b"), 400, "bad_query"],
    ["empty feature name", get("/v1/features/users/u1", "?features=a,,b"), 400, "bad_feature"],
    ["bad percent-encoding in the entity", get("/v1/features/users/%E0%A4%A"), 400, "bad_entity"],
    ["other route", get("/v1/other/users/u1"), 404, "not_found_route"],
    ["too many segments", get("/v1/features/users/u1/x"), 404, "not_found_route"],
    ["single read with POST", { ...get("/v1/features/users/u1"), method: "POST" }, 405, "method_not_allowed"],
    ["no acceptable format", get("/v1/features/users/u1", "", { accept: "text/html" }), 406, "not_acceptable"],
    ["bad Accept-Signature", get("/v1/features/users/u1", "", { acceptSignature: "((" }), 400, "bad_accept_signature"],
  ])("refuses %s", (_name, raw, status, code) => {
    expect(refusal(() => parseReadRequest(raw as RawReadRequest, registry))).toEqual([status, code]);
  });

  test("GET …/batch reads the entity named batch (routes differ by method, never by an id)", () => {
    expect(parseReadRequest(get("/v1/features/users/batch"), registry)).toMatchObject({ kind: "single", entities: ["batch"] });
  });

  test("a batch read takes entities and features from a JSON body, and nothing else", () => {
    expect(parseReadRequest(batch({ entities: ["u1", "u2"], features: ["a"] }), registry)).toMatchObject({ kind: "batch", entities: ["u1", "u2"], features: ["a"] });
    expect(refusal(() => parseReadRequest(batch({ entities: ["u1"], extra: 1 }), registry))).toEqual([400, "bad_body"]);
    expect(refusal(() => parseReadRequest(batch({ entities: [] }), registry))).toEqual([400, "bad_body"]);
    expect(refusal(() => parseReadRequest(batch("{not json"), registry))).toEqual([400, "bad_body"]);
    expect(refusal(() => parseReadRequest(batch({ entities: ["u1"] }, { contentType: "text/plain" }), registry))).toEqual([415, "unsupported_media_type"]);
    expect(refusal(() => parseReadRequest(batch({ entities: ["u1"] }, { query: "?features=a" }), registry))).toEqual([400, "bad_query"]);
    expect(refusal(() => parseReadRequest(batch({ entities: ["u1"], features: ["zzz"] }), registry))).toEqual([400, "unknown_feature"]);
    expect(refusal(() => parseReadRequest(batch({ entities: Array.from({ length: 101 }, (_, i) => `u${i}`) }), registry))).toEqual([413, "batch_too_large"]);
    expect(refusal(() => parseReadRequest(batch("x".repeat(MAX_BATCH_BODY_BYTES + 1)), registry))).toEqual([413, "body_too_large"]);
  });

  test("content negotiation honours q-values and refuses malformed ones", () => {
    expect(negotiateFormat(undefined)).toBe("json");
    expect(negotiateFormat("application/json;q=0.5, application/msgpack")).toBe("msgpack");
    expect(negotiateFormat("application/msgpack;q=0, */*")).toBe("json");
    expect(refusal(() => negotiateFormat("application/json;q=2"))).toEqual([406, "not_acceptable"]);
  });

  test("Accept-Signature: the first member's label and nonce, bounded", () => {
    expect(parseAcceptSignature(undefined)).toEqual({ label: "sig1" });
    expect(parseAcceptSignature('a=();nonce="x", b=();nonce="y"')).toEqual({ label: "a", nonce: "x" });
    expect(refusal(() => parseAcceptSignature(`a=();nonce="${"n".repeat(MAX_NONCE_LENGTH + 1)}"`))).toEqual([400, "bad_accept_signature"]);
    expect(refusal(() => parseAcceptSignature("a=1"))).toEqual([400, "bad_accept_signature"]);
    expect(refusal(() => parseAcceptSignature("a=();nonce=1"))).toEqual([400, "bad_accept_signature"]);
  });

  test("splitTarget keeps the raw path and query apart", () => {
    expect(splitTarget("/v1/features/users/u1?features=a")).toEqual({ path: "/v1/features/users/u1", query: "?features=a" });
    expect(splitTarget("/v1/features/users/u1")).toEqual({ path: "/v1/features/users/u1", query: "" });
  });
});

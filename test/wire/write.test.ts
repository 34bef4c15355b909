import { defineRegistry } from "../../wire/registry";
import { LaneError } from "../../wire/errors";
import { MAX_PUSH_ROWS, parseWriteRequest, writeTarget, type RawWriteRequest } from "../../wire/write";

const NOW = 1_700_000_000_000;
const registry = defineRegistry([
  {
    name: "users",
    entityKey: "user_id",
    owner: "tests",
    description: "write tests",
    ttlSeconds: 3600,
    features: [
      { name: "n", type: "int" },
      { name: "s", type: "string" },
    ],
  },
]);
const push = (path: string, body: unknown, extra: Partial<RawWriteRequest> = {}): RawWriteRequest => ({
  method: "POST",
  path,
  query: "",
  contentType: "application/json",
  body: Buffer.from(typeof body === "string" ? body : JSON.stringify(body)),
  ...extra,
});
const row = (entity: string, features: Record<string, unknown> = { n: 1 }) => ({ entity, event_time: NOW - 1000, features });

function refusal(f: () => unknown): [number, string] {
  try {
    f();
  } catch (err) {
    if (err instanceof LaneError) return [err.status, err.code];
    throw err;
  }
  throw new Error("expected a LaneError");
}

describe("wire/write: the push grammar", () => {
  test("targets: POST /v1/features/{view} (one row) and /v1/features/{view}/_push (a batch); nothing else", () => {
    expect(writeTarget("POST", "/v1/features/users")).toEqual({ kind: "single", view: "users" });
    expect(writeTarget("POST", "/v1/features/users/_push")).toEqual({ kind: "batch", view: "users" });
    expect(writeTarget("GET", "/v1/features/users")).toBeNull();
    expect(writeTarget("POST", "/v1/features/users/u1")).toBeNull();
    expect(writeTarget("POST", "/v1/other/users")).toBeNull();
    expect(refusal(() => writeTarget("POST", "/v1/features/..%2Fx"))).toEqual([400, "bad_view"]);
  });

  test("every row is validated against the view; bad rows are reported one by one, not fatal", () => {
    const parsed = parseWriteRequest(push("/v1/features/users/_push", { rows: [row("u1"), row("u2", { zzz: 1 }), { nope: true }] }), registry, NOW);
    expect(parsed.kind).toBe("batch");
    expect(parsed.rows[0]).toMatchObject({ ok: true, entity: "u1", event_time: NOW - 1000 });
    expect(parsed.rows[1]).toMatchObject({ ok: false, entity: "u2" });
    expect(parsed.rows[2]).toMatchObject({ ok: false, entity: undefined });
    expect(parseWriteRequest(push("/v1/features/users", row("u3")), registry, NOW).rows).toHaveLength(1);
  });

  test.each([
    ["unknown view", push("/v1/features/nope", row("u1")), 404, "unknown_view"],
    ["a query", push("/v1/features/users", row("u1"), { query: "?x=1" }), 400, "bad_query"],
    ["not JSON", push("/v1/features/users", "{"), 400, "bad_body"],
    ["not application/json", push("/v1/features/users", row("u1"), { contentType: "text/plain" }), 415, "unsupported_media_type"],
    ["a batch without rows", push("/v1/features/users/_push", { rows: [] }), 400, "bad_body"],
    ["a batch with extra fields", push("/v1/features/users/_push", { rows: [row("u1")], more: 1 }), 400, "bad_body"],
    ["a batch as an array", push("/v1/features/users/_push", [row("u1")]), 400, "bad_body"],
    ["too many rows", push("/v1/features/users/_push", { rows: Array.from({ length: MAX_PUSH_ROWS + 1 }, (_, i) => row(`u${i}`)) }), 413, "batch_too_large"],
    ["a read route", { ...push("/v1/features/users/u1/x", {}) }, 404, "not_found_route"],
  ])("refuses %s", (_name, raw, status, code) => {
    expect(refusal(() => parseWriteRequest(raw as RawWriteRequest, registry, NOW))).toEqual([status, code]);
  });
});

// P8 on the consumer's side (docs/trust.md): verifyResponse rejects, by default, a read answer with
// an entity whose fresh_as_of is null or older than the bound (the answer's max_staleness or the
// caller's override); only an explicit Infinity turns the check off.
import { SigningKey } from "../../enclave/key";
import { answerFreshness, verifyResponse, VerificationError, type SentRequest } from "../../verifier/response";
import { batchRequest, signAnswer } from "./answers";

const NOW = 1_800_000_000_000;
const key = SigningKey.generate();
const iso = (ms: number) => new Date(ms).toISOString();
const single: SentRequest = { method: "GET", path: "/v1/features/users/u1", query: "" };

function outcome(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof VerificationError) return `${err.code}: ${err.message}`;
    throw err;
  }
  return "verified";
}
const verify = (body: unknown, options: { maxStaleness?: number; format?: "json" | "msgpack"; request?: SentRequest; status?: number } = {}) => {
  const request = options.request ?? single;
  const response = signAnswer({ key, request, body, created: NOW / 1000, format: options.format, status: options.status });
  return outcome(() => verifyResponse(response, request, { key: key.info.jwk, now: NOW / 1000, ...(options.maxStaleness !== undefined ? { maxStaleness: options.maxStaleness } : {}) }));
};
const found = (freshAsOf: number | null, extra: Record<string, unknown> = {}) => ({
  view: "users",
  max_staleness: 60,
  entity: "u1",
  found: true,
  fresh_as_of: freshAsOf === null ? null : iso(freshAsOf),
  ...(freshAsOf === null ? {} : { checkpoint_seq: 4 }),
  features: { a: 1 },
  ...extra,
});

describe("verifier: fresh_as_of is enforced by default (stale_answer)", () => {
  it("verifies an answer proven fresh within the answer's max_staleness", () => {
    expect(verify(found(NOW - 59_000))).toBe("verified");
    const response = signAnswer({ key, request: single, body: found(NOW - 10_000), created: NOW / 1000 });
    expect(verifyResponse(response, single, { key: key.info.jwk, now: NOW / 1000 }).oldestFreshAsOf).toBe(NOW - 10_000);
  });

  it("rejects fresh_as_of null, and an answer from a signer before P8 (no field)", () => {
    expect(verify(found(null))).toMatch(/^stale_answer: .*fresh_as_of null/);
    const { fresh_as_of: _dropped, ...old } = found(NOW);
    expect(verify(old)).toMatch(/^stale_answer/);
  });

  it("rejects an entity older than the answer's bound; the answer's own bound applies (max_staleness 300)", () => {
    expect(verify(found(NOW - 61_000))).toMatch(/^stale_answer: .*61 s ago, bound 60 s/);
    expect(verify(found(NOW - 200_000, { max_staleness: 300 }))).toBe("verified");
  });

  it("a per-call override replaces the answer's bound, in both directions", () => {
    expect(verify(found(NOW - 30_000), { maxStaleness: 10 })).toMatch(/^stale_answer/);
    expect(verify(found(NOW - 600_000), { maxStaleness: 3600 })).toBe("verified");
    expect(verify(found(null), { maxStaleness: 3600 })).toMatch(/^stale_answer/);
  });

  it("Infinity is the only opt-out (even null passes), and a nonsense override is a caller bug", () => {
    expect(verify(found(null), { maxStaleness: Number.POSITIVE_INFINITY })).toBe("verified");
    const response = signAnswer({ key, request: single, body: found(NOW), created: NOW / 1000 });
    expect(() => verifyResponse(response, single, { key: key.info.jwk, now: NOW / 1000, maxStaleness: Number.NaN })).toThrow(TypeError);
  });

  it("not_found and tombstones are claims too; refused entities (no value) are not", () => {
    const notFound = { view: "users", max_staleness: 60, entity: "u1", found: false, error: { code: "not_found", message: "…" }, fresh_as_of: null };
    expect(verify(notFound, { status: 404 })).toMatch(/^stale_answer/);
    expect(verify({ ...notFound, fresh_as_of: iso(NOW - 1000), checkpoint_seq: 2 }, { status: 404 })).toBe("verified");
    const refused = { view: "users", max_staleness: 60, entity: "u1", found: false, error: { code: "rolled_back", message: "…" }, fresh_as_of: null };
    expect(verify(refused, { status: 502 })).toBe("verified");
  });

  it("batch: one stale entity fails the whole answer, naming it", () => {
    const request = batchRequest("users", ["u1", "u2"]);
    const body = (second: number | null) => ({
      view: "users",
      max_staleness: 60,
      results: [
        { entity: "u1", found: true, fresh_as_of: iso(NOW - 1000) },
        { entity: "u2", found: true, fresh_as_of: second === null ? null : iso(second) },
      ],
    });
    expect(verify(body(NOW - 2000), { request })).toBe("verified");
    expect(verify(body(NOW - 120_000), { request })).toMatch(/^stale_answer: entity "u2"/);
    expect(verify(body(null), { request })).toMatch(/^stale_answer: entity "u2"/);
  });

  it("MessagePack answers (fresh_as_of a timestamp)", () => {
    const body = { ...found(null), fresh_as_of: new Date(NOW - 1000) };
    expect(verify(body, { format: "msgpack" })).toBe("verified");
    expect(verify({ ...body, fresh_as_of: new Date(NOW - 100_000) }, { format: "msgpack" })).toMatch(/^stale_answer/);
    expect(verify({ ...body, fresh_as_of: null }, { format: "msgpack" })).toMatch(/^stale_answer/);
  });

  it("Feast answers: per view section; entities the signer refused are skipped; no section at all fails", () => {
    const request: SentRequest = { method: "POST", path: "/get-online-features", query: "", body: Buffer.from('{"entities":{"user_id":["u1","u2"]},"features":["users:a"]}') };
    const feast = (times: Array<string | null>, errors?: unknown[]) => ({
      metadata: { feature_names: ["user_id", "a"] },
      results: [{ values: ["u1", "u2"] }, { values: [1, null] }],
      freshness: [{ view: "users", max_staleness: 60, fresh_as_of: times, checkpoint_seq: times.map((t) => (t ? 1 : null)) }],
      ...(errors ? { errors } : {}),
    });
    expect(verify(feast([iso(NOW - 1000), iso(NOW - 1000)]), { request })).toBe("verified");
    expect(verify(feast([iso(NOW - 1000), null]), { request })).toMatch(/^stale_answer: entity "u2"/);
    expect(verify(feast([iso(NOW - 1000), null], [{ view: "users", entity: "u2", code: "rolled_back", message: "…" }]), { request })).toBe("verified");
    const { freshness: _none, ...old } = feast([]);
    expect(verify(old, { request })).toMatch(/^stale_answer/);
  });

  it("push answers and other non-read bodies are not freshness claims", () => {
    const push = { view: "users", results: [{ entity: "u1", result: "written", event_time: iso(NOW) }], outcome_reported_by: "host" };
    expect(answerFreshness(Buffer.from(JSON.stringify(push)), "application/json")).toBeUndefined();
    const request: SentRequest = { method: "POST", path: "/v1/features/users/_push", query: "", body: Buffer.from("{}") };
    expect(verify(push, { request })).toBe("verified");
  });
});

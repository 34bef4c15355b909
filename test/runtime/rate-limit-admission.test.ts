import { IncomingMessage, ServerResponse } from "node:http";
import { Socket } from "node:net";
import { Admission } from "../../runtime/admission";
import { generateKey } from "../../runtime/auth";
import { RequestGate } from "../../runtime/gate";
import { RateLimiter, TokenBucket } from "../../runtime/rate-limit";
import { requestIdOf } from "../../runtime/request-id";
import { matchRoute, UNROUTED } from "../../runtime/routes";
import { LaneError } from "../../wire/errors";

/** The table entry a request is gated as (runtime/routes.ts). */
const routeOf = (path: string, method = "GET") => {
  const m = matchRoute(method, path);
  return m.kind === "route" ? m.route : UNROUTED;
};

describe("token bucket", () => {
  it("allows a burst, then refills at rps, and says how long to wait", () => {
    const b = new TokenBucket(2, 3, 0);
    expect([b.take(0), b.take(0), b.take(0)]).toEqual([0, 0, 0]);
    expect(b.take(0)).toBeCloseTo(0.5);
    expect(b.take(500)).toBe(0); // half a second = one token at 2/s
    expect(b.take(500)).toBeGreaterThan(0);
  });

  it("limits per key, Retry-After ≥ 1 s, and keeps state for retained keys only", () => {
    const l = new RateLimiter();
    const spec = { rps: 1, burst: 2 };
    expect(l.check("a", spec, 0)).toBeNull();
    expect(l.check("a", spec, 0)).toBeNull();
    expect(l.check("a", spec, 0)).toBe(1);
    expect(l.check("b", spec, 0)).toBeNull();
    expect(l.check("c", undefined, 0)).toBeNull();
    l.retain(["a"]);
    expect(l.size).toBe(1);
    expect(l.check("a", spec, 0)).toBe(1); // still empty after a reload that kept it
    expect(l.check("a", { rps: 100 }, 0)).toBeNull(); // a new limit starts a new bucket
  });
});

describe("admission", () => {
  it("admits up to the bound, then sheds until a slot frees", () => {
    const a = new Admission(2);
    expect([a.tryEnter(), a.tryEnter(), a.tryEnter()]).toEqual([true, true, false]);
    expect(a.shed).toBe(1);
    a.leave();
    expect(a.tryEnter()).toBe(true);
    expect(a.inFlight).toBe(2);
    expect(() => new Admission(0)).toThrow();
  });
});

function fakeReq(method: string, headers: Record<string, string> = {}): IncomingMessage {
  const req = new IncomingMessage(new Socket());
  req.method = method;
  req.headers = headers;
  return req;
}

function fakeRes(req: IncomingMessage): ServerResponse {
  return new ServerResponse(req);
}

function refusal(fn: () => unknown): LaneError {
  try {
    fn();
  } catch (err) {
    if (err instanceof LaneError) return err;
    throw err;
  }
  throw new Error("expected a refusal");
}

describe("request gate", () => {
  const reader = generateKey("reader-1", "reader", { rps: 1, burst: 2 });
  const writer = generateKey("writer-1", "writer");
  const admin = generateKey("admin-1", "admin");

  it("is open (only shedding) without keys", () => {
    const gate = new RequestGate({ keys: null, maxInFlight: 1 });
    const req = fakeReq("GET");
    const t = gate.enter(req, fakeRes(req), routeOf("/v1/features/v/e"));
    const e = refusal(() => gate.enter(req, fakeRes(req), routeOf("/v1/features/v/e")));
    expect([e.status, e.code, e.retryAfterSeconds]).toEqual([503, "overloaded", 1]);
    // health is never shed
    gate.enter(req, fakeRes(req), routeOf("/health/live")).release();
    t.release();
    t.release(); // idempotent
    expect(gate.inFlight).toBe(0);
  });

  it("401 without or with a wrong key, 403 for a role too low, 429 over the limit", () => {
    const gate = new RequestGate({ keys: [reader.record, writer.record, admin.record], maxInFlight: 10 });
    const get = (headers: Record<string, string>, path = "/v1/features/v/e", method = "GET") => {
      const req = fakeReq(method, headers);
      const res = fakeRes(req);
      return { res, run: () => gate.enter(req, res, routeOf(path, method)) };
    };
    const none = get({});
    expect(refusal(none.run)).toMatchObject({ status: 401, code: "unauthenticated" });
    expect(none.res.getHeader("www-authenticate")).toMatch(/^Bearer/);
    expect(refusal(get({ authorization: "Bearer nope" }).run)).toMatchObject({ status: 401, code: "unauthenticated" });
    expect(refusal(get({ "x-api-key": reader.key }, "/metrics").run)).toMatchObject({ status: 403, code: "forbidden" });
    expect(refusal(get({ "x-api-key": reader.key }, "/v1/features/v/_push", "POST").run)).toMatchObject({ status: 403, code: "forbidden" });
    expect(refusal(get({ "x-api-key": writer.key }, "/metrics").run)).toMatchObject({ status: 403 });
    get({ "x-api-key": writer.key }, "/v1/features/v", "POST").run().release();
    get({ authorization: `Bearer ${admin.key}` }, "/metrics")
      .run()
      .release();
    get({}, "/health/ready").run().release();
    // reader: burst 2 at 1/s
    expect(get({ "x-api-key": reader.key }).run().keyId).toBe("reader-1");
    get({ "x-api-key": reader.key }).run();
    expect(refusal(get({ "x-api-key": reader.key }).run)).toMatchObject({ status: 429, code: "rate_limited", retryAfterSeconds: 1 });
  });

  it("reload swaps keys without touching admitted requests", () => {
    const gate = new RequestGate({ keys: [reader.record], maxInFlight: 10 });
    const req = fakeReq("GET", { "x-api-key": reader.key });
    const ticket = gate.enter(req, fakeRes(req), routeOf("/v1/signer"));
    gate.reload([writer.record]);
    expect(refusal(() => gate.enter(req, fakeRes(req), routeOf("/v1/signer")))).toMatchObject({ status: 401 });
    ticket.release();
    expect(gate.inFlight).toBe(0);
    const w = fakeReq("GET", { "x-api-key": writer.key });
    gate.enter(w, fakeRes(w), routeOf("/v1/signer")).release();
    gate.reload(null);
    expect(gate.accessControl).toBe(false);
  });
});

describe("request id", () => {
  it("keeps a sane inbound id and replaces anything else", () => {
    expect(requestIdOf(fakeReq("GET", { "x-request-id": "trace-123:abc" }))).toBe("trace-123:abc");
    for (const bad of ["", "a b", "x".repeat(200), 'a"b', "é"]) {
      expect(requestIdOf(fakeReq("GET", { "x-request-id": bad }))).toMatch(/^[0-9a-f-]{36}$/);
    }
    expect(requestIdOf(fakeReq("GET"))).toMatch(/^[0-9a-f-]{36}$/);
  });
});

import type { IncomingMessage, ServerResponse } from "node:http";
import { generateKey } from "../../runtime/auth";
import { RequestGate } from "../../runtime/gate";
import { matchRoute, UNROUTED } from "../../runtime/routes";
import { LaneError } from "../../wire/errors";

/** The table entry a request is gated as (runtime/routes.ts). */
const routeOf = (path: string, method = "GET") => {
  const m = matchRoute(method, path);
  return m.kind === "route" ? m.route : UNROUTED;
};

const req = (path: string, remoteAddress: string, headers: Record<string, string> = {}) =>
  ({ method: "GET", url: path, headers, socket: { remoteAddress } }) as unknown as IncomingMessage;
const res = { setHeader: () => undefined } as unknown as ServerResponse;

describe("runtime/gate: /metrics for the host's own scrapers", () => {
  const admin = generateKey("admin", "admin");

  it("with --loopback-metrics on, a loopback scrape needs no key; anything else still does", () => {
    const gate = new RequestGate({ keys: [admin.record], maxInFlight: 4, loopbackMetrics: true });
    for (const address of ["127.0.0.1", "::1", "::ffff:127.0.0.1"]) expect(() => gate.enter(req("/metrics", address), res, routeOf("/metrics")).release()).not.toThrow();
    expect(() => gate.enter(req("/metrics", "10.0.3.7"), res, routeOf("/metrics"))).toThrow(LaneError);
    // Only /metrics: loopback reads still need a key.
    expect(() => gate.enter(req("/v1/signer", "127.0.0.1"), res, routeOf("/v1/signer"))).toThrow(LaneError);
    expect(() => gate.enter(req("/metrics", "10.0.3.7", { authorization: `Bearer ${admin.key}` }), res, routeOf("/metrics")).release()).not.toThrow();
  });

  it("is off by default: loopback is not trusted (the local lane is all loopback)", () => {
    const gate = new RequestGate({ keys: [admin.record], maxInFlight: 4 });
    expect(() => gate.enter(req("/metrics", "127.0.0.1"), res, routeOf("/metrics"))).toThrow(LaneError);
  });
});

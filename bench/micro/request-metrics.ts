/**
 * Per-request bookkeeping cost in the runtime (issue #15 item 4): what one read pays for metrics
 * (LaneMetrics: request histogram + counter, signer histogram, one store histogram per entity) and
 * for the access log line (pino, at the lane's default level "warn" the info line is dropped; at
 * "info" it is written to /dev/null here). Rounds interleave the variants; medians of µs/request.
 *
 *   npx tsx bench/micro/request-metrics.ts [rounds=7] [iterations=20000]
 */
import { openSync } from "node:fs";
import { loadavg } from "node:os";
import pino from "pino";
import { Counter, Histogram, Registry } from "prom-client";
import { FRESHNESS_BUCKETS, LaneMetrics } from "../../runtime/metrics";
import { percentile } from "../../dev/stats";

const rounds = Number(process.argv[2] ?? 7);
const iterations = Number(process.argv[3] ?? 20_000);
const metrics = new LaneMetrics();
const devNull = pino.destination({ fd: openSync("/dev/null", "w"), sync: true });
const quiet = pino({ level: "warn" }, devNull);
const loud = pino({ level: "info" }, devNull);

/** lane_request_duration_seconds and lane_requests_total as prom-client metrics (before session 7), for the A/B. */
const requestsRegistryBefore = new Registry();
const requestDurationBefore = new Histogram({
  name: "rd_before",
  help: "h",
  labelNames: ["route", "status", "view"] as const,
  buckets: [0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
  registers: [requestsRegistryBefore],
});
const requestsBefore = new Counter({ name: "r_before", help: "h", labelNames: ["route", "status", "view"] as const, registers: [requestsRegistryBefore] });

/** The store histogram's series for one label value, looked up once. */
const storeFound = metrics.storeDuration.child("found");

// A batch's served outcomes as the signer reports them: 100 entities of one view, mostly found.
const servedViews = Array.from({ length: 100 }, () => "user_profile");
const served = Array.from({ length: 100 }, (_, k) => (k % 10 === 9 ? { status: "not_found" as const } : { status: "found" as const, ageSeconds: 30 + k }));

/** The per-entity metrics as they were before FastHistogram (prom-client Histogram, same buckets), for the A/B. */
const LATENCY = [0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const old = new Registry();
const before = {
  store: new Histogram({ name: "s", help: "s", labelNames: ["result"] as const, buckets: LATENCY, registers: [old] }),
  freshness: new Histogram({ name: "f", help: "f", labelNames: ["view"] as const, buckets: FRESHNESS_BUCKETS, registers: [old] }),
  status: new Counter({ name: "c", help: "c", labelNames: ["view", "status"] as const, registers: [old] }),
};

const variants: Record<string, (i: number) => void> = {
  // What observeServed did before (one labelled increment and one prom-client observe per entity).
  "served outcomes, batch of 100, before (prom-client, per entity)": () => {
    served.forEach((entity, k) => {
      const view = metrics.viewLabel(servedViews[k] ?? servedViews[0]);
      before.status.inc({ view, status: entity.status });
      if (typeof entity.ageSeconds === "number") before.freshness.observe({ view }, entity.ageSeconds);
    });
  },
  "store GETs of a batch of 100, before (prom-client)": (i) => {
    for (let k = 0; k < 100; k++) before.store.observe({ result: "found" }, 0.0001 + ((i + k) % 7) * 1e-5);
  },
  "store GETs of a batch of 100 (FastHistogram)": (i) => {
    for (let k = 0; k < 100; k++) metrics.storeDuration.observe({ result: "found" }, 0.0001 + ((i + k) % 7) * 1e-5);
  },
  "served outcomes, batch of 100, observeServed (counts aggregated, FastHistogram)": () => metrics.observeServed(servedViews, served),
  "metrics, single read": (i) => {
    metrics.storeDuration.observe({ result: "found" }, 0.0001 + (i % 7) * 1e-5);
    metrics.signerDuration.observe(0.0002);
    metrics.observeRequest("features", "200", "user_profile", 0.0005);
  },
  "metrics, single read, before (prom-client request histogram + counter)": (i) => {
    metrics.storeDuration.observe({ result: "found" }, 0.0001 + (i % 7) * 1e-5);
    metrics.signerDuration.observe(0.0002);
    requestDurationBefore.observe({ route: "features", status: "200", view: "user_profile" }, 0.0005);
    requestsBefore.inc({ route: "features", status: "200", view: "user_profile" });
  },
  "metrics, batch of 100": (i) => {
    for (let k = 0; k < 100; k++) metrics.storeDuration.observe({ result: "found" }, 0.0001 + ((i + k) % 7) * 1e-5);
    metrics.signerDuration.observe(0.003);
    metrics.observeRequest("batch", "200", "user_profile", 0.004);
  },
  "metrics, batch of 100, store series kept": (i) => {
    for (let k = 0; k < 100; k++) storeFound.observe(0.0001 + ((i + k) % 7) * 1e-5);
    metrics.signerDuration.observe(0.003);
    metrics.observeRequest("batch", "200", "user_profile", 0.004);
  },
  "access log, level warn (lane default)": (i) => quiet.info({ requestId: `r${i}`, method: "GET", route: "features", status: 200, keyId: "k1", ms: 0.5 }, "request"),
  "access log, level info": (i) => loud.info({ requestId: `r${i}`, method: "GET", route: "features", status: 200, keyId: "k1", ms: 0.5 }, "request"),
};

const samples: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
for (let r = 0; r < rounds; r++) {
  const names = r % 2 === 0 ? Object.keys(variants) : Object.keys(variants).reverse();
  for (const name of names) {
    const fn = variants[name];
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) fn(i);
    samples[name].push(Number(process.hrtime.bigint() - t0) / 1000 / iterations);
  }
}
process.stdout.write(
  `${JSON.stringify({ loadavg: loadavg(), rounds, iterations, medianUsPerRequest: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, +percentile(v, 50).toFixed(3)])) }, null, 2)}\n`,
);

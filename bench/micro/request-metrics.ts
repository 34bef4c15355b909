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
import { LaneMetrics } from "../../runtime/metrics";
import { percentile } from "../../dev/stats";

const rounds = Number(process.argv[2] ?? 7);
const iterations = Number(process.argv[3] ?? 20_000);
const metrics = new LaneMetrics();
const devNull = pino.destination({ fd: openSync("/dev/null", "w"), sync: true });
const quiet = pino({ level: "warn" }, devNull);
const loud = pino({ level: "info" }, devNull);

/** The store histogram's child for one label set, looked up once (prom-client hashes labels per observe otherwise). */
const storeFound = metrics.storeDuration.labels({ result: "found" });

const variants: Record<string, (i: number) => void> = {
  "metrics, single read": (i) => {
    metrics.storeDuration.observe({ result: "found" }, 0.0001 + (i % 7) * 1e-5);
    metrics.signerDuration.observe(0.0002);
    metrics.requestDuration.observe({ route: "features", status: "200" }, 0.0005);
    metrics.requests.inc({ route: "features", status: "200" });
  },
  "metrics, batch of 100": (i) => {
    for (let k = 0; k < 100; k++) metrics.storeDuration.observe({ result: "found" }, 0.0001 + ((i + k) % 7) * 1e-5);
    metrics.signerDuration.observe(0.003);
    metrics.requestDuration.observe({ route: "batch", status: "200" }, 0.004);
    metrics.requests.inc({ route: "batch", status: "200" });
  },
  "metrics, batch of 100, label children cached": (i) => {
    for (let k = 0; k < 100; k++) storeFound.observe(0.0001 + ((i + k) % 7) * 1e-5);
    metrics.signerDuration.observe(0.003);
    metrics.requestDuration.observe({ route: "batch", status: "200" }, 0.004);
    metrics.requests.inc({ route: "batch", status: "200" });
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

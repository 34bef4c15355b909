/**
 * Overload measurement (docs/operations.md, "Load shedding"): does P99 of admitted requests stay
 * bounded when the offered load is twice what the lane can serve?
 *
 *   1. capacity: closed-loop at rising concurrency against a runtime without shedding; the
 *      saturation throughput C is the best req/s seen.
 *   2. open loop (fixed arrival rate, latency from the scheduled start) at 0.5·C, 1·C and 2·C,
 *      once with shedding (--max-in-flight) and once without (limit 100000): P50/P99 of the 200s,
 *      share shed (503 overloaded), errors.
 *
 *   npx tsx scripts/overload.ts [--step-seconds 10] [--max-in-flight 64] [--entities 2000] [--json]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { buildBundles } from "../dev/build";
import { startLane } from "../dev/lane/processes";
import { spawnRuntime } from "../dev/lane/children";
import { DEMO_VIEW, demoEntityId } from "../dev/lane/demo-data";
import { httpClosedLoop, httpOpenLoop, type LoadSummary } from "../dev/http-load";
import { percentile } from "../dev/percentile";

export function demoShot(entities: number) {
  return (i: number) => ({ path: `/v1/features/${DEMO_VIEW}/${demoEntityId((i * 7919) % entities)}?features=country,risk_score,segment` });
}

export function describe(s: LoadSummary): Record<string, number> {
  const ok = s.latencies["200"] ?? [];
  const shed = s.byStatus["503"] ?? 0;
  const errors = s.sent - ok.length - shed;
  return {
    sent: s.sent,
    rps: Math.round(s.sent / s.seconds),
    okRps: Math.round(ok.length / s.seconds),
    p50: Number(percentile(ok, 50).toFixed(2)),
    p99: Number(percentile(ok, 99).toFixed(2)),
    shedPct: Number(((100 * shed) / Math.max(1, s.sent)).toFixed(1)),
    errors,
  };
}

async function main(): Promise<void> {
  const o = new Command("overload")
    .option("--step-seconds <n>", "seconds per load step", "10")
    .option("--max-in-flight <n>", "runtime admission limit under test", "64")
    .option("--entities <n>", "demo entities", "2000")
    .option("--runs <n>", "repeat the open-loop steps", "1")
    .option("--store <kind>", "file (FileStore: runtime + signer are the bottleneck) or s3 (the s3rver twin)", "file")
    .parse()
    .opts<{ stepSeconds: string; maxInFlight: string; entities: string; runs: string; store: "file" | "s3" }>();
  const stepMs = Number(o.stepSeconds) * 1000;
  const entities = Number(o.entities);
  await buildBundles(["runtime", "dev-signer", "local-store"]);
  const dir = mkdtempSync(join(tmpdir(), "lane-overload-"));
  const lane = await startLane({ dataDir: dir, port: 0, demoEntities: entities, quiet: true, storeKind: o.store });
  const storeEnv: Record<string, string> = o.store === "file" ? { EXPRESS_LANE_STORE: "file", EXPRESS_LANE_STORE_DIR: lane.objectsDir } : {};
  const shedding = await spawnRuntime(lane, {
    signerSocket: lane.signerSocket,
    env: { ...storeEnv, EXPRESS_LANE_MAX_IN_FLIGHT: o.maxInFlight, EXPRESS_LANE_SELF_VERIFY_RATE: "0" },
  });
  const unbounded = await spawnRuntime(lane, { signerSocket: lane.signerSocket, env: { ...storeEnv, EXPRESS_LANE_MAX_IN_FLIGHT: "100000", EXPRESS_LANE_SELF_VERIFY_RATE: "0" } });
  process.stdout.write(`store=${o.store} max-in-flight=${o.maxInFlight} step=${o.stepSeconds}s entities=${entities}\n`);
  const shot = demoShot(entities);
  const log = (what: string, v: unknown): void => void process.stdout.write(`${what.padEnd(34)} ${JSON.stringify(v)}\n`);
  try {
    await httpClosedLoop({ url: unbounded.url, concurrency: 16, durationMs: 2000, next: shot }); // warm-up
    let capacity = 0;
    for (const c of [1, 4, 16, 32, 64]) {
      const s = await httpClosedLoop({ url: unbounded.url, concurrency: c, durationMs: stepMs / 2, next: shot });
      const d = describe(s);
      log(`closed c=${c}`, d);
      capacity = Math.max(capacity, d.okRps);
    }
    log("saturation C (req/s)", capacity);
    for (let run = 1; run <= Number(o.runs); run++) {
      for (const factor of [0.5, 1, 2]) {
        const rate = Math.round(capacity * factor);
        log(
          `run ${run} open ${factor}C=${rate}/s shed@${o.maxInFlight}`,
          describe(await httpOpenLoop({ url: shedding.url, rate, durationMs: stepMs, next: shot, connections: 512 })),
        );
        await new Promise((r) => setTimeout(r, 1000));
      }
      const rate = Math.round(capacity * 2);
      log(`run ${run} open 2C=${rate}/s no shedding`, describe(await httpOpenLoop({ url: unbounded.url, rate, durationMs: stepMs, next: shot, connections: 512 })));
      await new Promise((r) => setTimeout(r, 2000));
    }
  } finally {
    await Promise.all([shedding.stop(), unbounded.stop()]);
    await lane.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}

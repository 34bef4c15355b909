/**
 * What one /metrics scrape costs the runtime (docs/performance.md "Session 7"): a local lane
 * (memory store, demo view) warmed with single reads and batches so every series exists, then 200
 * sequential GET /metrics against 200 GET /health/live, alternating twice; the runtime's CPU from
 * /proc per request (USER_HZ ticks: read only the difference between the two, and only over many
 * requests). The bench reads a local lane's RSS from /proc for this reason (bench/phase.ts).
 *
 *   npx tsx bench/metrics-scrape.ts [requests=200]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { buildBundles } from "../dev/build";
import { startLane } from "../dev/lane/processes";
import { findWrk, runWrk } from "./wrk";
import { demoScript } from "./cpu-ab";
import { processCpu } from "./proc-cpu";

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 200);
  const wrk = findWrk();
  if (!wrk) throw new Error("wrk is not installed (apt-get install wrk)");
  await buildBundles(["runtime", "dev-signer", "local-store"]);
  const dataDir = mkdtempSync(join(tmpdir(), "express-lane-scrape-"));
  const lane = await startLane({ dataDir, port: 0, demoEntities: 2000, storeKind: "memory", quiet: true, sequencer: true });
  try {
    await runWrk(wrk, lane.url, demoScript("projected", 2000), 8, { duration: 3 }, dataDir);
    await runWrk(wrk, lane.url, demoScript("batch", 2000), 1, { duration: 2 }, dataDir);
    const pid = lane.pids().runtime;
    let bytes = 0;
    process.stdout.write(`/metrics scrape cost — ${n} sequential requests per row, load average ${loadavg()[0]!.toFixed(2)}\n`);
    for (let round = 0; round < 2; round++) {
      for (const path of ["/metrics", "/health/live"]) {
        const cpu0 = processCpu(pid);
        const t0 = performance.now();
        for (let i = 0; i < n; i++) {
          const res = await fetch(lane.url + path);
          const text = await res.text();
          if (path === "/metrics") bytes = text.length;
        }
        const wall = (performance.now() - t0) / n;
        const cpu = (processCpu(pid) - cpu0) / n;
        process.stdout.write(`${path.padEnd(14)} wall ${wall.toFixed(2)} ms, runtime CPU ${cpu.toFixed(0)} µs per request${path === "/metrics" ? ` (${bytes} B)` : ""}\n`);
      }
    }
  } finally {
    await lane.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`metrics-scrape failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);

/**
 * The runtime's peak RSS against its V8 heap flags (docs/performance.md "Session 7: runtime read
 * path"). Starts the local lane (memory store, sequencer on) once per variant of the runtime's
 * node flags, variants in rotating order per round so drift on this shared VM lands on all of
 * them, drives wrk c=32 projected and full reads and c=1 batches, and samples the runtime's VmRSS
 * every 200 ms. Prints per variant and round: idle RSS, each scenario's peak, req/s, the runtime's
 * CPU µs per request and the batch P50/P99 (a lower old-space limit must not buy RSS with batch latency).
 *
 *   npx tsx bench/rss-heap.ts [--rounds 2] [--duration 8] [--variants "none;--max-old-space-size=96"]
 *
 * A variant is the extra node flags after the lane's own (`--max-semi-space-size=2` in NODE_OPTIONS,
 * `--heap-growing-percent=50` as an argument, dev/lane/processes.ts); V8 takes the last of a flag
 * given twice, so `--heap-growing-percent=0` is V8's own growth (the lane before session 7).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { buildBundles } from "../dev/build";
import { LANE_BUNDLES, startLane } from "../dev/lane/processes";
import { rssKiB } from "../dev/lane/children";
import { findWrk, runWrk } from "./wrk";
import { demoScript } from "./cpu-ab";
import { processCpu } from "./proc-cpu";
import { procRss, rssSampler } from "./phase";

const MIB = 1024 * 1024;

const SCENARIOS = [
  ["projected", 32],
  ["full", 32],
  ["batch", 1],
] as const;

const DEFAULT_VARIANTS = "--heap-growing-percent=0;none;--max-old-space-size=128;--heap-growing-percent=100";

async function main(): Promise<void> {
  const o = new Command("rss-heap")
    .option("--rounds <n>", "rounds (each runs every variant once)", "2")
    .option("--duration <s>", "seconds per scenario", "8")
    .option("--entities <n>", "demo entities", "2000")
    .option("--variants <list>", "';'-separated runtime flag sets ('none' = the lane's default)", DEFAULT_VARIANTS)
    .parse()
    .opts<{ rounds: string; duration: string; entities: string; variants: string }>();
  const wrk = findWrk();
  if (!wrk) throw new Error("wrk not found (Debian: apt-get install wrk)");
  const entities = Number(o.entities);
  const variants = o.variants.split(";").map((v) => v.trim());
  await buildBundles(LANE_BUNDLES);
  process.stdout.write(`runtime peak RSS (MB), memory store, sequencer on, ${entities} entities, ${o.duration} s per scenario, load ${loadavg()[0]!.toFixed(2)}\n`);
  for (let round = 0; round < Number(o.rounds); round++) {
    // Rotate the order each round: no variant always runs first (or right after the heaviest).
    const order = variants.map((_, i) => variants[(i + round) % variants.length]!);
    for (const variant of order) {
      const dir = mkdtempSync(join(tmpdir(), "rss-heap-"));
      const flags = variant === "none" ? [] : variant.split(/\s+/);
      const lane = await startLane({ dataDir: dir, port: 0, demoEntities: entities, storeKind: "memory", quiet: true, nodeArgs: { runtime: flags } });
      try {
        const pid = lane.pids().runtime!;
        const idle = rssKiB(pid) / 1024;
        const parts: string[] = [];
        for (const [kind, concurrency] of SCENARIOS) {
          const sampler = rssSampler({ pid: () => pid }, 200);
          const cpu0 = processCpu(pid);
          const r = await runWrk(wrk, lane.url, demoScript(kind, entities), concurrency, { duration: Number(o.duration) }, dir);
          const peak = Math.max((await sampler.stop()) ?? 0, procRss(pid) ?? 0) / MIB;
          const latency = kind === "batch" ? ` P50 ${r.p50.toFixed(2)} P99 ${r.p99.toFixed(2)} ms` : "";
          const cpuUs = (processCpu(pid) - cpu0) / r.requests;
          parts.push(`${kind} ${peak.toFixed(0)} MB ${r.rps.toFixed(0)} req/s runtime ${cpuUs.toFixed(0)} µs${latency}${r.errors ? ` ${r.errors} ERRORS` : ""}`);
        }
        process.stdout.write(`round ${round + 1} [${variant}] idle ${idle.toFixed(0)} MB | ${parts.join(" | ")} | load ${loadavg()[0]!.toFixed(2)}\n`);
      } finally {
        await lane.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});

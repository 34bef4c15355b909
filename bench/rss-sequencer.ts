/**
 * Does provable freshness (#16: an entity-map proof on every read) raise the runtime's peak RSS?
 * Starts the local lane (memory store) without and with its checkpoint sequencer, alternating,
 * drives each scenario with wrk at c=32 (c=1 for batches) and samples the runtime's VmRSS every
 * 300 ms. docs/performance.md "Session 6" quotes it.
 *
 *   npx tsx bench/rss-sequencer.ts [--rounds 2] [--duration 8] [--entities 2000]
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
import { rssSampler } from "./phase";

const SCENARIOS = [
  ["projected", 32],
  ["full", 32],
  ["batch", 1],
] as const;

async function main(): Promise<void> {
  const o = new Command("rss-sequencer")
    .option("--rounds <n>", "off/on pairs", "2")
    .option("--duration <s>", "seconds per scenario", "8")
    .option("--entities <n>", "demo entities", "2000")
    .parse()
    .opts<{ rounds: string; duration: string; entities: string }>();
  const wrk = findWrk();
  if (!wrk) throw new Error("wrk not found (Debian: apt-get install wrk)");
  const entities = Number(o.entities);
  await buildBundles(LANE_BUNDLES);
  process.stdout.write(`runtime peak RSS (MB), memory store, ${entities} entities, ${o.duration} s per scenario, load ${loadavg()[0]!.toFixed(2)}\n`);
  for (let round = 0; round < Number(o.rounds); round++) {
    for (const sequencer of [false, true]) {
      const dir = mkdtempSync(join(tmpdir(), "rss-sequencer-"));
      const lane = await startLane({ dataDir: dir, port: 0, demoEntities: entities, storeKind: "memory", quiet: true, sequencer });
      try {
        const pid = lane.pids().runtime!;
        const idle = rssKiB(pid) / 1024;
        const peaks: string[] = [];
        for (const [kind, concurrency] of SCENARIOS) {
          const sampler = rssSampler({ pid: () => pid }, 300);
          await runWrk(wrk, lane.url, demoScript(kind, entities), concurrency, { duration: Number(o.duration) }, dir);
          const peak = ((await sampler.stop()) ?? 0) / (1024 * 1024);
          peaks.push(`${kind} ${peak.toFixed(0)}`);
        }
        process.stdout.write(`round ${round + 1} sequencer ${sequencer ? "on " : "off"}: idle ${idle.toFixed(0)}, peak ${peaks.join(", ")}\n`);
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

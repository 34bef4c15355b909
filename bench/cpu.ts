/**
 * CPU per request, per process: where a signed read's cost goes (runtime vs signer), the figure
 * docs/performance.md quotes next to req/s. Starts a local lane from the bundles, drives each
 * scenario with wrk (C, 1 thread: little CPU of its own on the shared cores) after a warm-up, and
 * reads each lane process's user+system time from /proc/<pid>/stat over the measured window.
 *
 *   npx tsx bench/cpu.ts [--store memory|file|s3] [--duration 8] [--runs 2]
 *
 * Needs Linux (/proc) and wrk (Debian: apt-get install wrk). Lane processes are not pinned (see
 * pinLane in bench/main.ts for why, on 2 vCPUs).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { Command, Option } from "commander";
import { buildBundles } from "../dev/build";
import { startLane } from "../dev/lane/processes";
import { findWrk, runWrk } from "./wrk";
import { demoRequest, demoScript, type DemoKind } from "./cpu-ab";

import { processCpu } from "./proc-cpu";
// The /proc reader is bench/proc-cpu.ts (npm run bench uses it too).
export { cpuMicros } from "./proc-cpu";

interface Options {
  store: "memory" | "file" | "s3";
  duration: number;
  warmup: number;
  runs: number;
  entities: number;
  concurrency: number;
  scenarios: string;
}

async function main(): Promise<void> {
  const opts = new Command("bench-cpu")
    .addOption(new Option("--store <kind>").choices(["memory", "file", "s3"]).default("memory"))
    .addOption(new Option("--duration <s>", "measured seconds per run").argParser(Number).default(8))
    .addOption(new Option("--warmup <s>").argParser(Number).default(3))
    .addOption(new Option("--runs <n>", "runs per scenario").argParser(Number).default(2))
    .addOption(new Option("--entities <n>").argParser(Number).default(2000))
    .addOption(new Option("-c, --concurrency <n>", "connections for single reads").argParser(Number).default(32))
    .addOption(
      new Option("--scenarios <list>", "comma-separated: full, projected, batch, batch-msgpack (rows in MessagePack), batch-feast (Feast's columnar answer)").default(
        "full,projected,batch",
      ),
    )
    .parse()
    .opts<Options>();
  const wrk = findWrk();
  if (!wrk) throw new Error("wrk is not installed (apt-get install wrk)");
  await buildBundles(["runtime", "dev-signer", "local-store"]);
  const dataDir = mkdtempSync(join(tmpdir(), "express-lane-cpu-"));
  const lane = await startLane({
    dataDir,
    port: 0,
    demoEntities: opts.entities,
    storeKind: opts.store,
    quiet: true,
    sequencer: process.env.EXPRESS_LANE_BENCH_SEQUENCER !== "off",
  });
  // EXPRESS_LANE_BENCH_SEQUENCER=off: no checkpoint sequencer (no proofs on reads): the before of #16.
  // The lane startLane loads is the demo view (user_profile, user_NNNNNN): ask for those. (It asked
  // for the benchmark dataset's ids, which this lane does not hold: every read was a 404.)
  const wanted = new Set(opts.scenarios.split(","));
  const scenarios = [
    { key: "full", name: "single read, all 60 features", lua: demoScript("full", opts.entities), c: opts.concurrency },
    { key: "projected", name: "single read, 10 features", lua: demoScript("projected", opts.entities), c: opts.concurrency },
    { key: "batch", name: "batch 100 × 10 features", lua: demoScript("batch", opts.entities), c: 1 },
    { key: "batch-msgpack", name: "batch 100 × 10, MessagePack rows", lua: demoScript("batch-msgpack", opts.entities), c: 1 },
    { key: "batch-feast", name: "batch 100 × 10, Feast columnar JSON", lua: demoScript("batch-feast", opts.entities), c: 1 },
  ].filter((s) => wanted.has(s.key));
  // The answer's size per scenario (one request, body bytes), next to its CPU: what a batch body format costs on the wire.
  const answerBytes = new Map<string, number>();
  for (const s of scenarios) {
    const r = demoRequest(s.key as DemoKind, opts.entities);
    const res = await fetch(lane.url + r.path, { method: r.method, headers: r.headers, body: r.body });
    const body = Buffer.from(await res.arrayBuffer());
    if (res.status !== 200 || res.headers.get("signature") === null) throw new Error(`${s.key}: HTTP ${res.status} ${body.subarray(0, 200).toString()}`);
    answerBytes.set(s.key, body.length);
  }
  process.stdout.write(
    `bench/cpu — ${cpus().length} × ${cpus()[0]?.model ?? "?"}, node ${process.version}, store ${opts.store}, load average ${loadavg()[0].toFixed(2)} before\n\n` +
      `| scenario | c | answer bytes | req/s | P50 | P99 | runtime CPU / req | signer CPU / req |\n|---|---|---|---|---|---|---|---|\n`,
  );
  try {
    for (const s of scenarios) {
      for (let run = 0; run < opts.runs; run++) {
        await runWrk(wrk, lane.url, s.lua, s.c, { duration: opts.warmup }, dataDir);
        const pids = lane.pids();
        const before = { runtime: processCpu(pids.runtime), signer: processCpu(pids.signer) };
        const r = await runWrk(wrk, lane.url, s.lua, s.c, { duration: opts.duration }, dataDir);
        const requests = r.requests;
        const per = (after: number, was: number) => `${((after - was) / requests).toFixed(0)} µs`;
        process.stdout.write(
          `| ${s.name} | ${s.c} | ${answerBytes.get(s.key)} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(2)} ms | ${r.p99.toFixed(2)} ms | ${per(processCpu(pids.runtime), before.runtime)} | ${per(processCpu(pids.signer), before.signer)} |${r.errors ? ` ${r.errors} errors` : ""}\n`,
        );
      }
    }
  } finally {
    await lane.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`bench-cpu failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}

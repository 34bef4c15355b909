/**
 * `npm run bench` (bundled to dist/bench.js): the Express Lane benchmark.
 *
 * Local mode (default): starts the lane as separate processes (store twin, signer, runtime; pinned
 * to separate cores with taskset when available), seeds objects of `--size` bytes, then runs, in
 * one go, so every figure is a ratio against a baseline measured minutes apart at most:
 *
 *   direct    store GET of the same objects with the runtime's store client (closed loop, c=N)
 *   single    signed single-entity read (closed loop, c=N) → the lane's max load here
 *   projected single read projecting 10 features
 *   batch     100 entities × 10 features, one signature (closed loop)
 *   direct@½, single@½   open loop at half the max load: the lane's added latency per percentile
 *   wrk       (if installed) an independent load generator for the throughput figure
 *
 * `--suite hedging` runs the tail-control what-if instead: a SIMULATION store latency model, the
 * same open-loop load with hedging off and on, and the P99 ratio.
 *
 * Remote mode (`--url`): the same scenarios against a running lane (e.g. on a node via SSM, see
 * bench/remote-bench.ts); the direct baseline needs `--direct-bucket` (S3 / S3 Express) or
 * `--direct-dir`.
 *
 * Output: the table on stdout, `<out>/bench-<time>.json` and `.html` (or `--json-out <file>`).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { BENCH_VIEW, benchEntityId, LaneTarget } from "./targets";
import { renderHtml, renderTable, type BenchResult, type ScenarioResult } from "./report";
import { BenchOptions, program, pacingOf } from "./options";
import { scrape } from "./phase";
import { pinLane, generatorCpus, machine, gitCommit, startLocal, remoteDirect } from "./local";
import { defaultSuite, hedgingSuite } from "./suites";
import { evaluateGoals } from "./goals";

export async function runBench(opts: BenchOptions): Promise<BenchResult> {
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const startedAt = new Date().toISOString();
  const loadBefore = loadavg()[0];
  if (loadBefore > 0.5 * cpus().length) log(`warning: load average ${loadBefore.toFixed(2)} before the run — other work on this machine will skew the figures`);
  const scenarios: ScenarioResult[] = [];
  let added: BenchResult["added"];
  let hedging: BenchResult["hedging"];
  let cpuPerRead: BenchResult["cpuPerRead"];
  let laneInfo: BenchResult["lane"] = { url: opts.url ?? "(local)" };
  let objectBytes = opts.size;
  const scratch = mkdtempSync(join(tmpdir(), "express-lane-bench-scratch-"));
  try {
    if (opts.suite !== "hedging") {
      if (opts.url) {
        const key = await LaneTarget.signerKey(opts.url);
        const direct = remoteDirect(opts);
        const snap = await scrape(opts.url);
        laneInfo = { url: opts.url, storeKind: opts.directBucket ? "s3" : opts.directDir ? "file" : undefined, keyid: key.keyid, simulation: snap?.simulation };
        try {
          const r = await defaultSuite(opts, opts.url, key, direct, opts.directBucket ?? opts.directDir ?? "none", scratch, undefined, log);
          scenarios.push(...r.scenarios);
          added = r.added;
        } finally {
          await direct?.close();
        }
      } else {
        log(`starting the local lane (store ${opts.store}${pinLane(opts, cpus().length) ? ", pinned" : ""})…`);
        if (opts.traceStages) opts = { ...opts, traceFile: join(scratch, "stages.jsonl") };
        const signerEnv: Record<string, string> = {
          EXPRESS_LANE_SIGNER_WORKERS: String(opts.signerWorkers ?? 1),
          ...(opts.traceFile ? { EXPRESS_LANE_SIGNER_TRACE_STAGES: "1" } : {}),
        };
        const local = await startLocal(opts, opts.traceFile ? { EXPRESS_LANE_TRACE_STAGES: opts.traceFile } : {}, log, signerEnv);
        try {
          objectBytes = local.objectBytes;
          const key = await LaneTarget.signerKey(local.lane.url);
          // The generator (this process, every thread, and wrk) on the cores the lane does not use.
          const generator = pinLane(opts, cpus().length) ? generatorCpus(cpus().length) : undefined;
          const benchPinned = generator !== undefined && spawnSync("taskset", ["-a", "-cp", generator, String(process.pid)], { stdio: "ignore" }).status === 0;
          laneInfo = {
            url: local.lane.url,
            storeKind: opts.store,
            pinning: { ...local.lane.pinning, bench: benchPinned ? generator! : "unpinned", wrk: generator ?? "unpinned" },
            keyid: key.keyid,
          };
          const r = await defaultSuite(
            opts,
            local.lane.url,
            key,
            local.direct,
            { file: "FileStore", memory: "MemoryStore", s3: "S3Store→s3rver" }[opts.store],
            scratch,
            generator,
            log,
            () => local.lane.pids(),
          );
          scenarios.push(...r.scenarios);
          added = r.added;
          cpuPerRead = r.cpuPerRead;
        } finally {
          await local.stop();
        }
      }
    }
    if (opts.suite !== "default") {
      if (opts.url) throw new Error("the hedging suite starts its own local lanes (SIMULATION store); drop --url");
      const h = await hedgingSuite(opts, log);
      scenarios.push(...h.scenarios);
      hedging = h.hedging;
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const partial = { scenarios, added, hedging, cpuPerRead };
  return {
    tool: "express-lane-bench",
    version: 1,
    startedAt,
    machine: machine(),
    config: { ...opts, pacing: pacingOf(opts), objectBytes, commit: gitCommit(), view: BENCH_VIEW, entityExample: benchEntityId(0) },
    lane: laneInfo,
    scenarios,
    added,
    hedging,
    cpuPerRead,
    goals: evaluateGoals(partial, laneInfo.storeKind),
  };
}

export function writeOutputs(result: BenchResult, opts: Pick<BenchOptions, "out" | "jsonOut">): { json: string; html: string } {
  const stamp = result.startedAt.replace(/[:.]/g, "-");
  const json = opts.jsonOut ? resolve(opts.jsonOut) : resolve(opts.out, `bench-${stamp}.json`);
  const html = json.replace(/\.json$/, "") + ".html";
  mkdirSync(resolve(json, ".."), { recursive: true });
  writeFileSync(json, JSON.stringify(result, null, 2));
  writeFileSync(html, renderHtml(result));
  return { json, html };
}

async function main(): Promise<void> {
  const opts = program().parse().opts<BenchOptions>();
  const result = await runBench(opts);
  const files = writeOutputs(result, opts);
  process.stdout.write(`\n${renderTable(result)}\n\nJSON ${files.json}\nHTML ${files.html}\n`);
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}

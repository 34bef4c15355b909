/**
 * Young-generation size vs the batch tail (issue #15 goal 1): the lane's runtime runs with
 * `--max-semi-space-size=2` (for the RSS goal, docs/performance.md "Runtime RSS"); a 100-entity
 * batch moves ≈ 410 KB of frames plus 92 KB of JSON through it, so a small young generation
 * scavenges often. For each setting (runtime MB / signer MB, "-" = V8's default), one lane from the
 * bundles, wrk batch 100 × 10 at c=1, rounds interleaved; reports wrk's P50/P99, the runtime's
 * minor GCs per batch and their total pause (`nodejs_gc_duration_seconds{kind="minor"}` from
 * /metrics), the runtime's peak RSS during the run, and CPU per batch of both processes.
 *
 *   npx tsx bench/gc-semi-space.ts [--rounds 2] [--duration 6] [--settings 2/-,16/-,32/-,64/-,16/16]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { Command, Option } from "commander";
import { buildBundles } from "../dev/build";
import { rssKiB } from "../dev/lane/children";
import { startLane } from "../dev/lane/processes";
import { demoScript } from "./cpu-ab";
import { processCpu } from "./proc-cpu";
import { findWrk, runWrk } from "./wrk";

interface Sample {
  p50: number;
  p99: number;
  rps: number;
  minorPerReq: number;
  minorMsPerReq: number;
  rssMb: number;
  runtimeUs: number;
  signerUs: number;
}

/** Minor GC count and seconds from a Prometheus text exposition. */
export function minorGc(metrics: string): { count: number; seconds: number } {
  const count = /^nodejs_gc_duration_seconds_count\{kind="minor"\} ([0-9.e+-]+)$/m.exec(metrics);
  const sum = /^nodejs_gc_duration_seconds_sum\{kind="minor"\} ([0-9.e+-]+)$/m.exec(metrics);
  return { count: count ? Number(count[1]) : NaN, seconds: sum ? Number(sum[1]) : NaN };
}

const rssMb = (pid: number | undefined): number => (pid === undefined ? NaN : rssKiB(pid) / 1024);

async function main(): Promise<void> {
  const o = new Command("gc-semi-space")
    .addOption(new Option("--rounds <n>").argParser(Number).default(2))
    .addOption(new Option("--duration <s>").argParser(Number).default(6))
    .addOption(new Option("--warmup <s>").argParser(Number).default(2))
    .addOption(new Option("--entities <n>").argParser(Number).default(500))
    .addOption(new Option("--settings <list>", "runtime/signer semi-space MB, '-' = V8 default").default("2/-,16/-,32/-,64/-,16/16,16/64"))
    .parse()
    .opts<{ rounds: number; duration: number; warmup: number; entities: number; settings: string }>();
  const wrk = findWrk();
  if (!wrk) throw new Error("wrk is not installed (apt-get install wrk)");
  await buildBundles(["runtime", "signer", "dev-signer", "local-store"]);
  const settings = o.settings.split(",");
  const samples = new Map<string, Sample[]>();
  process.stdout.write(`bench/gc-semi-space — batch 100 × 10, wrk c=1, ${o.duration} s, load average ${loadavg()[0].toFixed(2)} before\n`);
  for (let round = 0; round < o.rounds; round++) {
    for (const setting of round % 2 ? [...settings].reverse() : settings) {
      const [runtimeMb, signerMb] = setting.split("/");
      const dataDir = mkdtempSync(join(tmpdir(), "gc-semi-"));
      const lane = await startLane({
        dataDir,
        port: 0,
        demoEntities: o.entities,
        storeKind: "memory",
        quiet: true,
        runtimeEnv: { NODE_OPTIONS: runtimeMb === "-" ? "" : `--max-semi-space-size=${runtimeMb}` },
        nodeArgs: { signer: signerMb === "-" ? [] : [`--max-semi-space-size=${signerMb}`] },
      });
      try {
        const lua = demoScript("batch", o.entities);
        await runWrk(wrk, lane.url, lua, 1, { duration: o.warmup }, dataDir);
        const pids = lane.pids();
        const gc0 = minorGc(await (await fetch(`${lane.url}/metrics`)).text());
        const cpu0 = { runtime: processCpu(pids.runtime), signer: processCpu(pids.signer) };
        let peak = 0;
        const rssTimer = setInterval(() => (peak = Math.max(peak, rssMb(pids.runtime))), 200);
        const r = await runWrk(wrk, lane.url, lua, 1, { duration: o.duration }, dataDir);
        clearInterval(rssTimer);
        const gc1 = minorGc(await (await fetch(`${lane.url}/metrics`)).text());
        const s: Sample = {
          p50: r.p50,
          p99: r.p99,
          rps: r.rps,
          minorPerReq: (gc1.count - gc0.count) / r.requests,
          minorMsPerReq: ((gc1.seconds - gc0.seconds) * 1000) / r.requests,
          rssMb: peak,
          runtimeUs: (processCpu(pids.runtime) - cpu0.runtime) / r.requests,
          signerUs: (processCpu(pids.signer) - cpu0.signer) / r.requests,
        };
        samples.set(setting, [...(samples.get(setting) ?? []), s]);
        process.stdout.write(
          `round ${round + 1} ${setting}: P50 ${s.p50.toFixed(2)} P99 ${s.p99.toFixed(2)} ms, ${s.rps.toFixed(0)} req/s, runtime minor GC ${s.minorPerReq.toFixed(2)}/batch (${s.minorMsPerReq.toFixed(3)} ms), RSS ${s.rssMb.toFixed(0)} MB, CPU runtime ${s.runtimeUs.toFixed(0)} / signer ${s.signerUs.toFixed(0)} µs${r.errors ? `, ${r.errors} ERRORS` : ""}\n`,
        );
      } finally {
        await lane.stop();
        rmSync(dataDir, { recursive: true, force: true });
      }
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  process.stdout.write(
    `\nmedians, load average ${loadavg()[0].toFixed(2)} after\n| runtime / signer semi-space MB | P50 ms | P99 ms | P99/P50 | runtime minor GCs per batch | their ms per batch | runtime peak RSS MB | runtime µs | signer µs |\n|---|---|---|---|---|---|---|---|---|\n`,
  );
  for (const setting of settings) {
    const xs = samples.get(setting)!;
    const m = (f: (s: Sample) => number, d = 2) => median(xs.map(f)).toFixed(d);
    process.stdout.write(
      `| ${setting} | ${m((s) => s.p50)} | ${m((s) => s.p99)} | ${(median(xs.map((s) => s.p99)) / median(xs.map((s) => s.p50))).toFixed(1)} | ${m((s) => s.minorPerReq)} | ${m((s) => s.minorMsPerReq, 3)} | ${m((s) => s.rssMb, 0)} | ${m((s) => s.runtimeUs, 0)} | ${m((s) => s.signerUs, 0)} |\n`,
    );
  }
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`gc-semi-space failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}

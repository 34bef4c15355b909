/**
 * Soak: a steady open-loop read load against a fresh lane for a long time, watching for errors and
 * memory growth of the runtime and the signer.
 *
 *   npm run soak                                  # 10 min at half the measured capacity
 *   npm run soak -- --duration 60 --rate 300      # seconds, requests/s
 *   npm run soak -- --json                        # machine-readable summary
 *
 * Growth is measured from the end of the warm-up (default: 20 % of the run, at most 60 s) to the
 * end; the pass criteria are 0 errors and live-heap growth ≤ 10 % for both processes.
 *
 * Live heap, not RSS: under steady load a Node process's RSS is a sawtooth — the old generation
 * fills with promoted garbage until the next mark-compact, which can be minutes apart, and freed
 * pages are not always returned to the OS — so RSS growth over a window says where the sawtooth
 * happened to be (CI runs of a 15 s window read +12 % on a flat heap). The heap that survives a full
 * GC is what a leak grows: each child is started with dev/lane/heap-probe.cjs, and the soak asks
 * for a full GC and the live heap every PROBE_EVERY_S seconds (those pauses show in p99). RSS
 * (VmRSS from /proc/<pid>/status) is still sampled every second and reported.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { buildBundles } from "../dev/build";
import { LANE_BUNDLES, startLane } from "../dev/lane/processes";
import { rssKiB, spawnRuntime, spawnSigner } from "../dev/lane/children";
import { DEMO_VIEW, demoEntityId } from "../dev/lane/demo-data";
import { httpOpenLoop } from "../dev/http-load";
import { percentile } from "../dev/percentile";

/** Half of the saturation throughput measured with scripts/overload.ts --store s3 (docs/operations.md). */
export const DEFAULT_SOAK_RATE = 500;

export interface SoakOptions {
  readonly durationSeconds: number;
  readonly rate: number;
  readonly warmupSeconds?: number;
  readonly entities?: number;
  readonly onSample?: (s: { t: number; runtimeKiB: number; signerKiB: number; done: number; errors: number }) => void;
}

/** Seconds between live-heap probes after the warm-up (a full GC each, so not every second). */
export const PROBE_EVERY_S = 10;

export interface SoakReport {
  readonly seconds: number;
  readonly rate: number;
  readonly requests: number;
  readonly errors: number;
  readonly byStatus: Record<string, number>;
  readonly p50: number;
  readonly p99: number;
  /** Heap in use after a full GC (heapUsed), at the end of the warm-up, at the end, and the largest probe between. */
  readonly liveHeap: Record<"runtime" | "signer", { warmKiB: number; endKiB: number; maxKiB: number; probes: number; growthPct: number }>;
  readonly rss: Record<"runtime" | "signer", { warmKiB: number; endKiB: number; maxKiB: number; growthPct: number }>;
}

const growthPct = (from: number, to: number): number => Number(((100 * (to - from)) / from).toFixed(1));

/** The soak's verdict: no errors, and neither process's live heap grew more than 10 % after the warm-up. */
export function soakPassed(r: SoakReport): boolean {
  return r.errors === 0 && r.liveHeap.runtime.growthPct <= 10 && r.liveHeap.signer.growthPct <= 10;
}

export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const entities = o.entities ?? 1000;
  const warmup = o.warmupSeconds ?? Math.min(60, Math.max(3, o.durationSeconds * 0.2));
  await buildBundles(LANE_BUNDLES);
  const dir = mkdtempSync(join(tmpdir(), "lane-soak-"));
  const lane = await startLane({ dataDir: dir, port: 0, demoEntities: entities, quiet: true });
  const signer = await spawnSigner(join(dir, "soak-signer.sock"), lane.dataDir, [], { heapProbe: true });
  const runtime = await spawnRuntime(lane, { signerSocket: join(dir, "soak-signer.sock"), waitForReady: true, heapProbe: true });
  const samples: Array<{ t: number; runtimeKiB: number; signerKiB: number }> = [];
  const heaps: Array<{ runtimeKiB: number; signerKiB: number }> = [];
  const probe = async (): Promise<void> => {
    const [r, s] = await Promise.all([runtime.liveHeap(), signer.liveHeap()]);
    heaps.push({ runtimeKiB: r.heapUsed / 1024, signerKiB: s.heapUsed / 1024 });
  };
  let probing: Promise<void> = Promise.resolve();
  let probeTimer: NodeJS.Timeout | undefined;
  const warmupTimer = setTimeout(() => {
    probing = probe();
    probeTimer = setInterval(() => (probing = probing.then(probe)), PROBE_EVERY_S * 1000);
  }, warmup * 1000);
  let done = 0;
  let errors = 0;
  const t0 = Date.now();
  const sampler = setInterval(() => {
    const s = { t: (Date.now() - t0) / 1000, runtimeKiB: rssKiB(runtime.pid), signerKiB: rssKiB(signer.pid), done, errors };
    samples.push(s);
    o.onSample?.(s);
  }, 1000);
  try {
    const summary = await httpOpenLoop({
      url: runtime.url,
      rate: o.rate,
      durationMs: (o.durationSeconds + warmup) * 1000,
      connections: 64,
      next: (i) =>
        i % 20 === 0
          ? {
              method: "POST",
              path: `/v1/features/${DEMO_VIEW}/batch`,
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ entities: [demoEntityId(i % entities), demoEntityId((i * 7) % entities), "nobody"], features: ["country", "segment"] }),
            }
          : { path: `/v1/features/${DEMO_VIEW}/${demoEntityId((i * 7919) % entities)}?features=country,risk_score,embedding_0` },
      onResult: (r) => {
        done++;
        if (r.status !== 200) errors++;
      },
    });
    clearInterval(sampler);
    clearInterval(probeTimer);
    await probing;
    if (runtime.alive() && signer.alive()) await probe(); // the end point
    const alive = runtime.alive() && signer.alive();
    const warm = samples.filter((s) => s.t >= warmup);
    const stat = (key: "runtimeKiB" | "signerKiB") => {
      const warmKiB = warm[0]?.[key] ?? NaN;
      const endKiB = warm.at(-1)?.[key] ?? NaN;
      const maxKiB = Math.max(...warm.map((s) => s[key]));
      return { warmKiB, endKiB, maxKiB, growthPct: growthPct(warmKiB, endKiB) };
    };
    const live = (key: "runtimeKiB" | "signerKiB") => {
      const warmKiB = Math.round(heaps[0]?.[key] ?? NaN);
      const endKiB = Math.round(heaps.at(-1)?.[key] ?? NaN);
      return { warmKiB, endKiB, maxKiB: Math.round(Math.max(...heaps.map((h) => h[key]))), probes: heaps.length, growthPct: growthPct(warmKiB, endKiB) };
    };
    const ok = summary.latencies["200"] ?? [];
    return {
      seconds: summary.seconds,
      rate: o.rate,
      requests: summary.sent,
      errors: errors + (alive ? 0 : 1),
      byStatus: summary.byStatus,
      p50: Number(percentile(ok, 50).toFixed(2)),
      p99: Number(percentile(ok, 99).toFixed(2)),
      liveHeap: { runtime: live("runtimeKiB"), signer: live("signerKiB") },
      rss: { runtime: stat("runtimeKiB"), signer: stat("signerKiB") },
    };
  } finally {
    clearInterval(sampler);
    clearTimeout(warmupTimer);
    clearInterval(probeTimer);
    await Promise.all([runtime.stop(), signer.stop()]);
    await lane.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const o = new Command("soak")
    .option("--duration <seconds>", "measured run after warm-up", "600")
    .option("--rate <rps>", "offered load (default: half the measured capacity)", String(DEFAULT_SOAK_RATE))
    .option("--warmup <seconds>", "warm-up before RSS is baselined (default 20 % of --duration, ≤ 60 s)")
    .option("--json", "print the report as JSON")
    .parse()
    .opts<{ duration: string; rate: string; warmup?: string; json?: boolean }>();
  const report = await runSoak({
    durationSeconds: Number(o.duration),
    rate: Number(o.rate),
    warmupSeconds: o.warmup ? Number(o.warmup) : undefined,
    onSample: o.json
      ? undefined
      : (s) => {
          if (Math.round(s.t) % 10 === 0)
            process.stderr.write(
              `t=${Math.round(s.t)}s requests=${s.done} errors=${s.errors} rss runtime=${(s.runtimeKiB / 1024).toFixed(1)}MiB signer=${(s.signerKiB / 1024).toFixed(1)}MiB\n`,
            );
        },
  });
  const pass = soakPassed(report);
  process.stdout.write(
    o.json
      ? `${JSON.stringify({ ...report, pass })}\n`
      : `${JSON.stringify(report, null, 2)}\n${pass ? "PASS" : "FAIL"}: errors=${report.errors}, live-heap growth runtime ${report.liveHeap.runtime.growthPct}% signer ${report.liveHeap.signer.growthPct}% (limit 10%); RSS growth runtime ${report.rss.runtime.growthPct}% signer ${report.rss.signer.growthPct}% (reported, not judged)\n`,
  );
  process.exit(pass ? 0 : 1);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}

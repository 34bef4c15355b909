/** One measured scenario: drive a load pattern (dev load generator), sample runtime RSS and client CPU, attach the stage-trace breakdown. (Split out of bench/main.ts by job, issue #17.) */
import { SingleBar, Presets } from "cli-progress";
import { clockFor, closedLoop, openLoop, type PhaseResult, type Progress, type Send } from "../dev/load";
import { rssKiB } from "../dev/lane/children";
import { LaneTarget } from "./targets";
import { type ScenarioResult } from "./report";
import { phaseBreakdown, traceSince, traceSize } from "./trace-report";
import { BenchOptions, pacingOf } from "./options";

export interface MetricsSnapshot {
  rss?: number;
  hedgesSent: number;
  hedgesWon: number;
  storeGets: number;
  simulation?: string;
}

export async function scrape(url: string): Promise<MetricsSnapshot | undefined> {
  try {
    const res = await fetch(new URL("/metrics", url), { signal: AbortSignal.timeout(2000) });
    if (!res.ok) return undefined;
    const text = await res.text();
    const value = (re: RegExp): number => {
      let sum = 0;
      for (const m of text.matchAll(re)) sum += Number(m[1]);
      return sum;
    };
    const rss = /^(?:lane_)?process_resident_memory_bytes (\S+)$/m.exec(text);
    const sim = /^lane_simulation_store_latency_info\{model="([^"]*)"\} 1$/m.exec(text);
    return {
      rss: rss ? Number(rss[1]) : undefined,
      hedgesSent: value(/^lane_store_hedges_sent_total (\S+)$/gm),
      hedgesWon: value(/^lane_store_hedges_won_total (\S+)$/gm),
      storeGets: value(/^lane_store_duration_seconds_count\{[^}]*\} (\S+)$/gm),
      simulation: sim ? `SIMULATION ${sim[1]}` : undefined,
    };
  } catch {
    return undefined;
  }
}

/**
 * Where the runtime's RSS is read while a scenario runs: /proc/<pid>/status when the lane is local
 * (costs the runtime nothing), else its /metrics. A scrape costs the runtime ≈ 2 ms of CPU in one
 * piece (prom-client renders every series; docs/performance.md "Session 7"), which at two scrapes
 * a second would put the instrument into the tail it measures.
 */
export type RssSource = { readonly pid: () => number | undefined } | { readonly url: string };

/** VmRSS of a local process in bytes (undefined when it is gone): dev/lane/children.ts rssKiB. */
export function procRss(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  const kib = rssKiB(pid);
  return Number.isNaN(kib) ? undefined : kib * 1024;
}

/** Polls the runtime's RSS while a scenario runs (every `everyMs`: 100 from /proc, 500 by scrape); returns the peak in bytes. */
export function rssSampler(source: RssSource | undefined, everyMs = source && "pid" in source ? 100 : 500): { stop(): Promise<number | undefined> } {
  if (!source) return { stop: async () => undefined };
  let peak: number | undefined;
  let running = true;
  const loop = (async () => {
    while (running) {
      const rss = "pid" in source ? procRss(source.pid()) : (await scrape(source.url))?.rss;
      if (rss !== undefined) peak = Math.max(peak ?? 0, rss);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return peak;
    },
  };
}

export interface PhaseSpec {
  readonly name: string;
  readonly label: string;
  readonly target: "lane" | "direct";
  readonly send: Send;
  readonly mode: "closed" | "open";
  readonly concurrency: number;
  readonly rate?: number;
  readonly laneTarget?: LaneTarget;
  readonly simulation?: string;
}

export async function runPhase(spec: PhaseSpec, opts: BenchOptions, rssFrom: RssSource | undefined): Promise<ScenarioResult> {
  const progress: Progress = { completed: 0, errors: 0 };
  const totalMs = (opts.warmup + opts.duration) * 1000;
  const bar = opts.progress
    ? new SingleBar({ format: `${spec.name.padEnd(22)} [{bar}] {percentage}% | {rps} req/s | errors {errors}`, hideCursor: true, clearOnComplete: false }, Presets.shades_classic)
    : undefined;
  const began = performance.now();
  bar?.start(100, 0, { rps: 0, errors: 0 });
  let lastCount = 0;
  let lastT = began;
  const ticker = setInterval(() => {
    const now = performance.now();
    const rps = ((progress.completed - lastCount) * 1000) / Math.max(1, now - lastT);
    lastCount = progress.completed;
    lastT = now;
    bar?.update(Math.min(100, Math.round(((now - began) / totalMs) * 100)), { rps: rps.toFixed(0), errors: progress.errors });
  }, 250);
  const rss = spec.target === "lane" ? rssSampler(rssFrom) : rssSampler(undefined);
  const verifyBefore = spec.laneTarget ? { ...spec.laneTarget.verify, byCode: { ...spec.laneTarget.verify.byCode } } : undefined;
  const traceFrom = opts.traceFile && spec.target === "lane" ? traceSize(opts.traceFile) : undefined;
  // CPU of this process over the measured part only: sample after warm-up.
  let cpuStart: NodeJS.CpuUsage | undefined;
  const cpuTimer = setTimeout(() => (cpuStart = process.cpuUsage()), opts.warmup * 1000);
  let result: PhaseResult;
  try {
    result =
      spec.mode === "closed"
        ? await closedLoop({ concurrency: spec.concurrency, durationMs: opts.duration * 1000, warmupMs: opts.warmup * 1000, send: spec.send, progress })
        : await openLoop({
            rate: spec.rate!,
            durationMs: opts.duration * 1000,
            warmupMs: opts.warmup * 1000,
            maxInFlight: spec.concurrency,
            send: spec.send,
            progress,
            clock: clockFor(pacingOf(opts)),
          });
  } finally {
    clearInterval(ticker);
    clearTimeout(cpuTimer);
  }
  const cpu = cpuStart ? process.cpuUsage(cpuStart) : undefined;
  bar?.update(100, { rps: (result.latency.count / result.seconds).toFixed(0), errors: progress.errors });
  bar?.stop();
  const peak = await rss.stop();
  const l = result.latency;
  let verify: ScenarioResult["verify"];
  if (spec.laneTarget && verifyBefore) {
    const v = spec.laneTarget.verify;
    const byCode: Record<string, number> = {};
    for (const [k, n] of Object.entries(v.byCode)) if (n - (verifyBefore.byCode[k] ?? 0) > 0) byCode[k] = n - (verifyBefore.byCode[k] ?? 0);
    verify = { checked: v.checked - verifyBefore.checked, failed: v.failed - verifyBefore.failed, byCode };
  }
  const scenario: ScenarioResult = {
    name: spec.name,
    label: spec.label,
    target: spec.target,
    mode: spec.mode,
    concurrency: spec.concurrency,
    rate: spec.rate,
    seconds: result.seconds,
    summary: l.summary(result.seconds),
    service: result.service?.summary(result.seconds),
    sendLag: result.sendLag?.summary(result.seconds),
    statuses: Object.fromEntries([...l.statuses].map(([k, v]) => [String(k), v])),
    errorKinds: Object.fromEntries(l.errorKinds),
    verify,
    clientCpuUsPerRequest: cpu && l.count > 0 ? (cpu.user + cpu.system) / l.count : undefined,
    runtimeRssPeakBytes: peak,
    cdf: l.cdf(),
    bins: l.histogramBins(),
    hdr: l.encode(),
    simulation: spec.simulation,
    breakdown: traceFrom !== undefined ? await tracedBreakdown(opts.traceFile!, traceFrom) : undefined,
  };
  l.destroy();
  result.service?.destroy();
  result.sendLag?.destroy();
  return scenario;
}

/** The breakdown of what the runtime traced since `from` (after its 'finish' handlers ran). */
export async function tracedBreakdown(file: string, from: number): Promise<ScenarioResult["breakdown"]> {
  await new Promise((r) => setTimeout(r, 200)); // the runtime's write stream flushes
  return phaseBreakdown(traceSince(file, from).text);
}

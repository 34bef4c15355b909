/** Benchmark results built from known latencies, for the report and remote-result tests. */
import type { BenchResult, ScenarioResult } from "../../bench/report";
import { LatencyRecorder } from "../../dev/stats";

export function scenarioOf(name: string, micros: readonly number[], extra: Partial<ScenarioResult> = {}): ScenarioResult {
  const r = new LatencyRecorder();
  for (const us of micros) r.recordMicros(us);
  return {
    name,
    label: name,
    target: "lane",
    mode: "closed",
    concurrency: 32,
    seconds: 1,
    summary: r.summary(1),
    statuses: { "200": micros.length },
    errorKinds: {},
    cdf: r.cdf(),
    bins: r.histogramBins(),
    ...extra,
  };
}

export function benchResultOf(scenarios: ScenarioResult[], extra: Partial<BenchResult> = {}): BenchResult {
  return {
    tool: "express-lane-bench",
    version: 1,
    startedAt: "2026-01-01T00:00:00.000Z",
    machine: { hostname: "h", cpus: 2, cpuModel: "cpu", memoryBytes: 1, node: "v20", platform: "linux", kernel: "k", loadavg: [0, 0, 0] },
    config: { objectBytes: 4096 },
    lane: { url: "(local)", storeKind: "file" },
    scenarios,
    goals: [],
    ...extra,
  };
}

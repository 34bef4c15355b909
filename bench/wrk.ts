/** wrk (Debian, C): the independent load generator — Lua scripts, runs, output parsing. (Split out of bench/main.ts by job, issue #17.) */
import { spawn } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type LatencySummary } from "../dev/stats";
import { benchEntityId, type Workload } from "./targets";
import { type ScenarioResult } from "./report";
import { BenchOptions } from "./options";

export interface WrkResult {
  rps: number;
  /** Requests completed in the run (wrk's "N requests in"). */
  requests: number;
  p50: number;
  p90: number;
  p99: number;
  errors: number;
  raw: string;
}

/** Parse `wrk --latency` output (latency distribution lines and Requests/sec). */
export function parseWrk(out: string): WrkResult {
  const toMs = (v: string, unit: string) => Number(v) * (unit === "us" ? 0.001 : unit === "s" ? 1000 : 1);
  const pct = (p: string): number => {
    const m = new RegExp(`^\\s*${p.replace(".", "\\.")}%\\s+([0-9.]+)(us|ms|s)\\s*$`, "m").exec(out);
    return m ? toMs(m[1], m[2]) : NaN;
  };
  const rps = /Requests\/sec:\s+([0-9.]+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  const sockErr = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = (non2xx ? Number(non2xx[1]) : 0) + (sockErr ? sockErr.slice(1).reduce((n, x) => n + Number(x), 0) : 0);
  const requests = /(\d+) requests in/.exec(out);
  return { rps: rps ? Number(rps[1]) : NaN, requests: requests ? Number(requests[1]) : NaN, p50: pct("50"), p90: pct("90"), p99: pct("99"), errors, raw: out };
}

export function findWrk(): string | undefined {
  return ["/usr/bin/wrk", "/usr/local/bin/wrk"].find((p) => existsSync(p));
}

/** The wrk Lua script for single reads (all features, or `w.features` when projected): rotate through the seeded entities. */
export function singleScript(w: Workload, projected = false): string {
  const query = projected ? `?features=${w.features.join(",")}` : "";
  return `local n = ${w.entities}\nlocal i = 0\nrequest = function()\n  i = (i + 7919) % n\n  return wrk.format("GET", "/v1/features/${w.view}/" .. string.format("bench_%06d", i) .. "${query}")\nend\n`;
}

/** The wrk Lua script for batch reads: 16 fixed bodies of batchSize distinct entities, in turn. */
export function batchScript(w: Workload): string {
  const bodies = Array.from({ length: 16 }, (_, b) => {
    const entities = Array.from({ length: Math.min(w.batchSize, w.entities) }, (_, k) => benchEntityId((b * 7919 + k * 13) % w.entities));
    return JSON.stringify(JSON.stringify({ entities: [...new Set(entities)], features: w.features }));
  });
  return `local bodies = {${bodies.join(",\n")}}\nlocal i = 0\nlocal headers = { ["Content-Type"] = "application/json" }\nrequest = function()\n  i = i % #bodies + 1\n  return wrk.format("POST", "/v1/features/${w.view}/batch", headers, bodies[i])\nend\n`;
}

export async function runWrk(wrk: string, url: string, lua: string, concurrency: number, opts: Pick<BenchOptions, "duration">, dir: string, cpu?: string): Promise<WrkResult> {
  const script = join(dir, `wrk-${concurrency}-${Date.now()}.lua`);
  writeFileSync(script, lua);
  const args = ["-t1", `-c${concurrency}`, `-d${Math.max(2, Math.round(opts.duration))}s`, "--latency", "-s", script, url];
  const taskset = cpu !== undefined && existsSync("/usr/bin/taskset") ? (["/usr/bin/taskset", ["-c", cpu, wrk, ...args]] as const) : ([wrk, args] as const);
  return new Promise((resolveRun, reject) => {
    const child = spawn(taskset[0], [...taskset[1]], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.once("error", reject);
    child.once("exit", () => resolveRun(parseWrk(out)));
  });
}

export function wrkScenario(r: WrkResult, opts: BenchOptions, name: string, label: string, concurrency: number): ScenarioResult {
  const summary: LatencySummary = {
    count: Math.round(r.rps * opts.duration),
    errors: r.errors,
    rps: r.rps,
    mean: NaN,
    p50: r.p50,
    p90: r.p90,
    p95: NaN,
    p99: r.p99,
    p999: NaN,
    max: NaN,
  };
  return {
    name,
    label,
    target: "wrk",
    mode: "closed",
    concurrency,
    seconds: opts.duration,
    summary,
    statuses: {},
    errorKinds: {},
    cdf: [],
    bins: [],
    notes: ["wrk (closed loop, 1 thread, C): an independent load generator that spends little CPU on the shared cores; its latencies are not CO-corrected"],
  };
}

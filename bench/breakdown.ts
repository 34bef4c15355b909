/**
 * Tail attribution: from the runtime's stage-trace file (runtime/stage-trace.ts, `--trace-stages`)
 * to "where did the P50, P99 and P99.9 read spend its time". Pure arithmetic, tested with known
 * stamps (test/bench/breakdown.test.ts).
 *
 * A read's span is accepted → responseWritten on the runtime (what the runtime can account for;
 * the client's own and the network's time is the bench's latency minus this). The reads are ranked
 * by span with the bench's one percentile definition (nearest rank, dev/percentile.ts); the breakdown
 * at a percentile is the mean stage split of the reads at ranks r−2 … r+2 (five reads, so one odd
 * read does not decide the picture), plus each process's GC pause time overlapping those spans.
 */
import { STAGE_STAMPS } from "../runtime/stage-trace";
import { nearestRankIndex } from "../dev/stats";

/** Stamp order in each trace line's `t`: the runtime's own list (one definition). */
export const TRACE_STAMPS = STAGE_STAMPS;

/** The stages between consecutive stamps. */
export const STAGES = [
  { name: "request", from: "accepted", to: "storeSent", what: "read body, parse" },
  { name: "store", from: "storeSent", to: "storeAnswered", what: "store GETs" },
  { name: "to signer", from: "storeAnswered", to: "frameQueued", what: "build the frame message" },
  { name: "coalesce", from: "frameQueued", to: "frameSent", what: "wait for the coalesced write (setImmediate)" },
  { name: "hop out", from: "frameSent", to: "signerReceived", what: "socket to the signer (half the transit not spent signing)" },
  { name: "signer decode", from: "signerReceived", to: "signerDecoded", what: "frame queueing in the signer + MessagePack decode" },
  { name: "signer sign", from: "signerDecoded", to: "signerSigned", what: "seal checks, render, Ed25519" },
  { name: "hop back", from: "signerSigned", to: "replyReceived", what: "reply encode + socket back (the other half)" },
  { name: "respond", from: "replyReceived", to: "responseWritten", what: "decode reply, check, write the response" },
] as const;
export type StageName = (typeof STAGES)[number]["name"];

export interface TraceRead {
  readonly route: string;
  readonly status: number;
  /** µs, runtime clock, in TRACE_STAMPS order. */
  readonly t: readonly number[];
}

export interface TraceGc {
  readonly gc: "runtime" | "signer";
  readonly start: number;
  readonly duration: number;
}

export interface StageBreakdown {
  readonly percentile: number;
  /** Reads averaged (up to five around the rank). */
  readonly reads: number;
  /** Mean span, µs. */
  readonly totalUs: number;
  /** Mean µs per stage, in STAGES order. */
  readonly stagesUs: Record<StageName, number>;
  /** Mean µs of GC pauses overlapping the span, per process. */
  readonly gcUs: { readonly runtime: number; readonly signer: number };
  readonly dominant: StageName;
}

export interface RouteBreakdown {
  readonly route: string;
  readonly reads: number;
  readonly at: StageBreakdown[];
}

export function parseTrace(text: string): { reads: TraceRead[]; gc: TraceGc[] } {
  const reads: TraceRead[] = [];
  const gc: TraceGc[] = [];
  for (const line of text.split("\n")) {
    if (line.length === 0) continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      continue; // a line cut by a read while the runtime was writing
    }
    const o = v as Partial<TraceRead & TraceGc>;
    if (Array.isArray(o.t) && o.t.length === TRACE_STAMPS.length && typeof o.route === "string") reads.push({ route: o.route, status: Number(o.status), t: o.t });
    else if ((o.gc === "runtime" || o.gc === "signer") && typeof o.start === "number" && typeof o.duration === "number")
      gc.push({ gc: o.gc, start: o.start, duration: o.duration });
  }
  return { reads, gc };
}

const stampIndex = (name: (typeof TRACE_STAMPS)[number]): number => TRACE_STAMPS.indexOf(name);

export function stageDurations(read: TraceRead): Record<StageName, number> {
  const out = {} as Record<StageName, number>;
  for (const s of STAGES) out[s.name] = read.t[stampIndex(s.to)] - read.t[stampIndex(s.from)];
  return out;
}

export const spanUs = (read: TraceRead): number => read.t[TRACE_STAMPS.length - 1] - read.t[0];

/** µs of [start, end] covered by the pauses (pauses of one process never overlap each other). */
export function gcOverlap(start: number, end: number, pauses: readonly TraceGc[]): number {
  let covered = 0;
  for (const p of pauses) {
    const lo = Math.max(start, p.start);
    const hi = Math.min(end, p.start + p.duration);
    if (hi > lo) covered += hi - lo;
  }
  return covered;
}

export function breakdownAt(reads: readonly TraceRead[], gc: readonly TraceGc[], percentile: number): StageBreakdown | undefined {
  if (reads.length === 0) return undefined;
  const sorted = [...reads].sort((a, b) => spanUs(a) - spanUs(b));
  const r = nearestRankIndex(sorted.length, percentile);
  const chosen = sorted.slice(Math.max(0, r - 2), Math.min(sorted.length, r + 3));
  const runtimeGc = gc.filter((g) => g.gc === "runtime");
  const signerGc = gc.filter((g) => g.gc === "signer");
  const stagesUs = Object.fromEntries(STAGES.map((s) => [s.name, 0])) as Record<StageName, number>;
  let total = 0;
  let gcRuntime = 0;
  let gcSigner = 0;
  for (const read of chosen) {
    const d = stageDurations(read);
    for (const s of STAGES) stagesUs[s.name] += d[s.name] / chosen.length;
    total += spanUs(read) / chosen.length;
    gcRuntime += gcOverlap(read.t[0], read.t[TRACE_STAMPS.length - 1], runtimeGc) / chosen.length;
    gcSigner += gcOverlap(read.t[stampIndex("signerReceived")], read.t[stampIndex("signerSigned")], signerGc) / chosen.length;
  }
  let dominant: StageName = STAGES[0].name;
  for (const s of STAGES) if (stagesUs[s.name] > stagesUs[dominant]) dominant = s.name;
  return { percentile, reads: chosen.length, totalUs: total, stagesUs, gcUs: { runtime: gcRuntime, signer: gcSigner }, dominant };
}

export const BREAKDOWN_PERCENTILES = [50, 99, 99.9] as const;

/** Per route (features, batch): the breakdown at P50, P99 and P99.9 of the 2xx reads. */
export function breakdownByRoute(text: string, percentiles: readonly number[] = BREAKDOWN_PERCENTILES): RouteBreakdown[] {
  const { reads, gc } = parseTrace(text);
  const routes = [...new Set(reads.map((r) => r.route))].sort();
  return routes.map((route) => {
    const mine = reads.filter((r) => r.route === route && r.status >= 200 && r.status < 300);
    return { route, reads: mine.length, at: percentiles.map((p) => breakdownAt(mine, gc, p)).filter((b): b is StageBreakdown => b !== undefined) };
  });
}

/** One line per percentile: total and the stages over 5 % of it, the dominant one first. */
export function describeBreakdown(b: RouteBreakdown): string[] {
  return b.at.map((a) => {
    const parts = STAGES.map((s) => [s.name, a.stagesUs[s.name]] as const)
      .filter(([, us]) => us >= 0.05 * a.totalUs)
      .sort((x, y) => y[1] - x[1])
      .map(([name, us]) => `${name} ${(us / 1000).toFixed(2)}`);
    return `${b.route} P${a.percentile}: ${(a.totalUs / 1000).toFixed(2)} ms in the runtime = ${parts.join(" + ")} ms …; GC overlap runtime ${(a.gcUs.runtime / 1000).toFixed(2)} / signer ${(a.gcUs.signer / 1000).toFixed(2)} ms; dominant: ${a.dominant}`;
  });
}

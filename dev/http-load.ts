/**
 * The load generator (dev/load.ts) over HTTP, for the soak, the overload measurement and the e2e
 * load tests: request i is `next(i)`, sent on an undici Pool over keep-alive connections, and the
 * summary keeps each status's raw latencies for the one percentile definition (dev/percentile.ts).
 * Closed and open loop keep their meaning there (open loop: latency from the scheduled start).
 */
import { availableParallelism } from "node:os";
import { Pool } from "undici";
import { autoPacing, clockFor, closedLoop, openLoop, type Outcome } from "./load";

export interface Shot {
  readonly method?: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: string | Buffer;
}

export interface Result {
  readonly shot: Shot;
  readonly status: number; // 0 = transport error
  readonly headers: Record<string, string>;
  readonly body: Buffer;
  readonly ms: number;
  readonly error?: string;
}

export interface HttpLoadOptions {
  readonly url: string;
  readonly next: (i: number) => Shot;
  readonly durationMs: number;
  readonly onResult?: (r: Result) => void;
  /** Keep answers' bodies in results (default: only status/latency are kept). */
  readonly keepBodies?: boolean;
  readonly connections?: number;
}

export interface LoadSummary {
  readonly sent: number;
  readonly byStatus: Record<string, number>;
  /** Latency (ms) per status. */
  readonly latencies: Record<string, number[]>;
  readonly seconds: number;
}

type HttpOutcome = Outcome & { readonly result: Omit<Result, "ms"> };

async function run(
  options: HttpLoadOptions,
  connections: number,
  drive: (send: () => Promise<HttpOutcome>, onOutcome: (o: Outcome, ms: number) => void) => Promise<{ seconds: number }>,
): Promise<LoadSummary> {
  const pool = new Pool(options.url, { connections, pipelining: 1, keepAliveTimeout: 30_000 });
  const byStatus: Record<string, number> = {};
  const latencies: Record<string, number[]> = {};
  let sent = 0;
  let i = 0;
  const send = async (): Promise<HttpOutcome> => {
    const shot = options.next(i++);
    try {
      const res = await pool.request({ method: (shot.method ?? "GET") as "GET", path: shot.path, headers: shot.headers, body: shot.body });
      const body = options.keepBodies ? Buffer.from(await res.body.arrayBuffer()) : (await res.body.dump(), Buffer.alloc(0));
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(res.headers)) headers[k] = Array.isArray(v) ? v.join(", ") : String(v);
      return { ok: res.statusCode < 400, status: res.statusCode, result: { shot, status: res.statusCode, headers, body } };
    } catch (err) {
      const error = (err as Error).message;
      return { ok: false, error, status: 0, result: { shot, status: 0, headers: {}, body: Buffer.alloc(0), error } };
    }
  };
  const onOutcome = (outcome: Outcome, ms: number): void => {
    const status = outcome.status ?? 0;
    sent++;
    byStatus[status] = (byStatus[status] ?? 0) + 1;
    (latencies[status] ??= []).push(ms);
    if ("result" in outcome) options.onResult?.({ ...(outcome as HttpOutcome).result, ms });
  };
  try {
    const { seconds } = await drive(send, onOutcome);
    return { sent, byStatus, latencies, seconds };
  } finally {
    await pool.close();
  }
}

/** Pacing as the benchmark chooses it: never spin on a machine the lane needs every core of. */
const clock = () => clockFor(autoPacing(availableParallelism()));

/** `concurrency` workers, each sending its next request when the previous answered. */
export function httpClosedLoop(options: HttpLoadOptions & { readonly concurrency: number }): Promise<LoadSummary> {
  return run(options, options.connections ?? options.concurrency, (send, onOutcome) =>
    closedLoop({ concurrency: options.concurrency, durationMs: options.durationMs, send, onOutcome, clock: clock() }),
  );
}

/** `rate` requests per second on schedule, at most `connections` (default 256) outstanding. */
export function httpOpenLoop(options: HttpLoadOptions & { readonly rate: number }): Promise<LoadSummary> {
  const connections = options.connections ?? 256;
  return run(options, connections, (send, onOutcome) =>
    openLoop({ rate: options.rate, durationMs: options.durationMs, maxInFlight: connections, send, onOutcome, clock: clock() }),
  );
}

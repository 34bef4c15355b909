/**
 * Small load generators for the hardening tests, the soak and the overload measurement (the full
 * benchmark lives in bench/). undici Pool over keep-alive connections.
 *
 *   closedLoop: N workers, each sends its next request when the previous answer arrived.
 *   openLoop:   requests start on a fixed schedule (rate/s) whatever the answers do; latency is
 *               measured from the scheduled start, so queueing in the client counts (no
 *               coordinated omission).
 */
import { Pool } from "undici";

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

export interface LoadOptions {
  readonly url: string;
  readonly next: (i: number) => Shot;
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

/** The one percentile definition (nearest rank), shared with the benchmark. */
export { percentile } from "../../dev/percentile";

async function send(pool: Pool, shot: Shot, startedAt: number, keepBody: boolean): Promise<Result> {
  try {
    const res = await pool.request({ method: (shot.method ?? "GET") as "GET", path: shot.path, headers: shot.headers, body: shot.body });
    const body = keepBody ? Buffer.from(await res.body.arrayBuffer()) : (await res.body.dump(), Buffer.alloc(0));
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) headers[k] = Array.isArray(v) ? v.join(", ") : String(v);
    return { shot, status: res.statusCode, headers, body, ms: performance.now() - startedAt };
  } catch (err) {
    return { shot, status: 0, headers: {}, body: Buffer.alloc(0), ms: performance.now() - startedAt, error: (err as Error).message };
  }
}

function summarize(results: Array<{ status: number; ms: number }>, seconds: number): LoadSummary {
  const byStatus: Record<string, number> = {};
  const latencies: Record<string, number[]> = {};
  for (const r of results) {
    byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
    (latencies[r.status] ??= []).push(r.ms);
  }
  return { sent: results.length, byStatus, latencies, seconds };
}

export async function closedLoop(options: LoadOptions & { concurrency: number; count?: number; durationMs?: number }): Promise<LoadSummary> {
  const pool = new Pool(options.url, { connections: options.connections ?? options.concurrency, pipelining: 1, keepAliveTimeout: 30_000 });
  const results: Array<{ status: number; ms: number }> = [];
  const t0 = performance.now();
  const until = options.durationMs !== undefined ? t0 + options.durationMs : Infinity;
  let next = 0;
  const worker = async (): Promise<void> => {
    while ((options.count === undefined || next < options.count) && performance.now() < until) {
      const i = next++;
      const r = await send(pool, options.next(i), performance.now(), options.keepBodies ?? false);
      results.push({ status: r.status, ms: r.ms });
      options.onResult?.(r);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  await pool.close();
  return summarize(results, seconds);
}

export async function openLoop(options: LoadOptions & { rate: number; durationMs: number }): Promise<LoadSummary> {
  const pool = new Pool(options.url, { connections: options.connections ?? 256, pipelining: 1, keepAliveTimeout: 30_000 });
  const results: Array<{ status: number; ms: number }> = [];
  const inflight = new Set<Promise<void>>();
  const t0 = performance.now();
  let sent = 0;
  await new Promise<void>((done) => {
    const tick = (): void => {
      const now = performance.now();
      const due = Math.min(Math.floor(((now - t0) / 1000) * options.rate), Math.floor((options.durationMs / 1000) * options.rate));
      while (sent < due) {
        const i = sent++;
        const scheduled = t0 + (i / options.rate) * 1000;
        const p = send(pool, options.next(i), scheduled, options.keepBodies ?? false).then((r) => {
          results.push({ status: r.status, ms: r.ms });
          options.onResult?.(r);
          inflight.delete(p);
        });
        inflight.add(p);
      }
      if (now - t0 >= options.durationMs) {
        clearInterval(timer);
        done();
      }
    };
    const timer = setInterval(tick, 1);
  });
  await Promise.all([...inflight]);
  const seconds = (performance.now() - t0) / 1000;
  await pool.close();
  return summarize(results, seconds);
}

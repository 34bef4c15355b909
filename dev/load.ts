/**
 * Load generation, independent of what is being called (HTTP to the lane, or a direct store GET).
 *
 * - Closed loop: `concurrency` workers, each sends its next request when the previous answered.
 *   Measures throughput; its latencies hide queueing (coordinated omission) by construction.
 * - Open loop: requests are *scheduled* at a fixed rate (request i at start + i/rate) whatever the
 *   server does. Latency is measured from the scheduled time, so a stall that delays the sending of
 *   later requests is charged to them (coordinated-omission correction, as wrk2 does). The time
 *   from the actual send ("service time") is recorded separately, for comparison.
 *
 * The one load generator of the benchmark and the dev tooling (soak, overload, the e2e load tests:
 * dev/http-load.ts drives it over HTTP). The clock is injectable so the statistics can be tested on
 * virtual time.
 */
import { LatencyRecorder } from "./stats";

export interface Outcome {
  readonly ok: boolean;
  /** Short error class for failures (e.g. "http_503", "ECONNRESET", "verify_bad_signature"). */
  readonly error?: string;
  readonly status?: number;
}

export type Send<O extends Outcome = Outcome> = () => Promise<O>;

export interface Clock {
  /** Milliseconds (fractional). */
  now(): number;
  /** Resolve at (or as soon as possible after) time t, ms. */
  sleepUntil(t: number): Promise<void>;
}

/**
 * Real clock. sleepUntil uses a timer for waits over 2 ms and yields with setImmediate below that
 * (Node timers have 1 ms granularity, which would add up to 1 ms of scheduling lag to every open-loop
 * request); the loop still serves I/O between checks.
 */
export const realClock: Clock = {
  now: () => performance.now(),
  sleepUntil(t: number): Promise<void> {
    return new Promise((resolve) => {
      const step = (): void => {
        const gap = t - performance.now();
        if (gap <= 0) resolve();
        else if (gap > 2) setTimeout(step, gap - 1.5);
        else setImmediate(step);
      };
      step();
    });
  },
};

/**
 * Timer-only clock: never spins. Sends due while the generator slept go out together when the
 * timer fires, up to ≈ 1 ms late (Node's timer grain); open-loop latency still counts from the
 * scheduled time, so that lateness is charged to both the direct baseline and the lane. For
 * machines where a spinning generator would take a core from the system under test (2 vCPUs:
 * runtime on one, signer on the other).
 */
export const timerClock: Clock = {
  now: () => performance.now(),
  sleepUntil(t: number): Promise<void> {
    return new Promise((resolve) => {
      const step = (): void => {
        const gap = t - performance.now();
        if (gap <= 0) resolve();
        else setTimeout(step, gap);
      };
      step();
    });
  },
};

export type Pacing = "spin" | "timer";

/** spin needs a core of its own: use it only where the lane still has two others. */
export function autoPacing(cpuCount: number): Pacing {
  return cpuCount >= 4 ? "spin" : "timer";
}

export function clockFor(pacing: Pacing): Clock {
  return pacing === "spin" ? realClock : timerClock;
}

export interface Progress {
  completed: number;
  errors: number;
}

export interface PhaseResult {
  /** Latency (closed loop: from send; open loop: from the scheduled time, CO-corrected). */
  readonly latency: LatencyRecorder;
  /** Open loop only: latency from the actual send (what a naive tool would report). */
  readonly service?: LatencyRecorder;
  /** Open loop only: how late sends were against the schedule (generator lag + queueing). */
  readonly sendLag?: LatencyRecorder;
  /** Measured seconds (warm-up excluded). */
  readonly seconds: number;
  /** Open loop: requests that were scheduled in the measured window. */
  readonly scheduled?: number;
}

function record(rec: LatencyRecorder, outcome: Outcome, ms: number): void {
  rec.recordMicros(ms * 1000);
  if (outcome.status !== undefined) rec.recordStatus(outcome.status);
  if (!outcome.ok) rec.recordError(outcome.error ?? "error");
}

async function safeSend<O extends Outcome>(send: Send<O>): Promise<O | Outcome> {
  try {
    return await send();
  } catch (err) {
    const e = err as { code?: string; name?: string };
    return { ok: false, error: e.code ?? e.name ?? "error" };
  }
}

/** Called for each measured request with its outcome and the latency recorded for it (ms). */
export type OnOutcome<O extends Outcome> = (outcome: O | Outcome, latencyMs: number) => void;

export interface ClosedLoopOptions<O extends Outcome = Outcome> {
  readonly concurrency: number;
  readonly durationMs: number;
  readonly warmupMs?: number;
  readonly send: Send<O>;
  readonly clock?: Clock;
  readonly progress?: Progress;
  readonly onOutcome?: OnOutcome<O>;
}

export async function closedLoop<O extends Outcome>(options: ClosedLoopOptions<O>): Promise<PhaseResult> {
  const clock = options.clock ?? realClock;
  const latency = new LatencyRecorder();
  const start = clock.now();
  const measureFrom = start + (options.warmupMs ?? 0);
  const end = measureFrom + options.durationMs;
  const worker = async (): Promise<void> => {
    for (;;) {
      const t0 = clock.now();
      if (t0 >= end) return;
      const outcome = await safeSend(options.send);
      if (t0 >= measureFrom) {
        const ms = clock.now() - t0;
        record(latency, outcome, ms);
        options.onOutcome?.(outcome, ms);
        if (options.progress) {
          options.progress.completed++;
          if (!outcome.ok) options.progress.errors++;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  // Requests started before `end` may finish after it; the rate is over the measured window.
  return { latency, seconds: (Math.max(clock.now(), end) - measureFrom) / 1000 };
}

export interface OpenLoopOptions<O extends Outcome = Outcome> {
  /** Requests per second. */
  readonly rate: number;
  readonly durationMs: number;
  readonly warmupMs?: number;
  /** Most requests outstanding at once (connections); beyond it sends wait, late against the schedule. */
  readonly maxInFlight: number;
  readonly send: Send<O>;
  readonly clock?: Clock;
  readonly progress?: Progress;
  readonly onOutcome?: OnOutcome<O>;
}

export async function openLoop<O extends Outcome>(options: OpenLoopOptions<O>): Promise<PhaseResult> {
  const clock = options.clock ?? realClock;
  const latency = new LatencyRecorder();
  const service = new LatencyRecorder();
  const sendLag = new LatencyRecorder();
  const interval = 1000 / options.rate;
  const start = clock.now();
  const measureFrom = start + (options.warmupMs ?? 0);
  const end = measureFrom + options.durationMs;
  let inFlight = 0;
  let scheduled = 0;
  const waiters: Array<() => void> = [];
  let drained: (() => void) | null = null;
  const release = (): void => {
    const next = waiters.shift();
    if (next) next();
    else {
      inFlight--;
      if (inFlight === 0 && drained) drained();
    }
  };
  const acquire = (): Promise<void> | undefined => {
    if (inFlight < options.maxInFlight) {
      inFlight++;
      return undefined;
    }
    return new Promise((resolve) => waiters.push(resolve));
  };

  for (let i = 0; ; i++) {
    const intended = start + i * interval;
    if (intended >= end) break;
    if (clock.now() < intended) await clock.sleepUntil(intended);
    const wait = acquire();
    if (wait) await wait;
    const sentAt = clock.now();
    const measured = intended >= measureFrom;
    if (measured) scheduled++;
    void safeSend(options.send).then((outcome) => {
      const done = clock.now();
      if (measured) {
        record(latency, outcome, done - intended);
        options.onOutcome?.(outcome, done - intended);
        service.recordMicros((done - sentAt) * 1000);
        sendLag.recordMicros((sentAt - intended) * 1000);
        if (options.progress) {
          options.progress.completed++;
          if (!outcome.ok) options.progress.errors++;
        }
      }
      release();
    });
  }
  if (inFlight > 0) await new Promise<void>((resolve) => (drained = resolve));
  return { latency, service, sendLag, seconds: options.durationMs / 1000, scheduled };
}

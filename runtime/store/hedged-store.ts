/**
 * Hedged GETs ("The Tail at Scale", Dean & Barroso 2013): when a GET has not answered after an
 * adaptive delay — the recent P95 of this store's GET latency — send a second, identical GET and
 * take whichever answers first; the loser is aborted.
 *
 * - Delay: the `quantile` (default 0.95) of the last `window` primary-GET latencies, recomputed
 *   every `recomputeEvery` samples. A primary that lost to its hedge is recorded at its elapsed
 *   time when it was aborted: a lower bound, but one that is already ≥ the delay (≥ the P95), so
 *   the P95 estimate is not pulled down by hedging itself. No hedging until `minSamples` are in.
 * - Cap: a token bucket. Each primary GET earns `maxRatio` tokens (bucket holds at most `burst`);
 *   a hedge spends one. Starting empty, hedges ≤ maxRatio × GETs at every moment (+ nothing).
 * - Errors: hedging is not retrying. A primary that fails before the hedge fires fails the GET;
 *   once a hedge is out, the GET fails only when both have failed (first error reported).
 * - Metrics (on the runtime's registry): lane_store_hedges_sent_total, lane_store_hedges_won_total,
 *   lane_store_hedges_skipped_total (delay passed but no budget), lane_store_hedge_delay_seconds.
 */
import { Counter, Gauge, type Registry } from "prom-client";
import { StoreError, type ObjectStore, type StoreGetResult } from "./types";

export interface HedgedStoreOptions {
  /** Most extra GETs as a share of all GETs. @default 0.05 */
  readonly maxRatio?: number;
  /** Latency quantile used as the hedge delay. @default 0.95 */
  readonly quantile?: number;
  /** Recent primary latencies kept. @default 1000 */
  readonly window?: number;
  /** No hedging before this many samples. @default 50 */
  readonly minSamples?: number;
  /** Recompute the delay every this many samples. @default 32 */
  readonly recomputeEvery?: number;
  /** Token-bucket capacity (largest burst of hedges). @default 10 */
  readonly burst?: number;
  /** Floor / ceiling on the delay, ms. @default 0 / Infinity */
  readonly minDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Where the counters live (LaneMetrics.registry). */
  readonly registry?: Registry;
  /** Clock (ms) and timer seams for tests. */
  readonly now?: () => number;
  readonly setTimer?: (fn: () => void, ms: number) => unknown;
  readonly clearTimer?: (handle: unknown) => void;
}

function counter(registry: Registry | undefined, name: string, help: string): Counter {
  const existing = registry?.getSingleMetric(name);
  if (existing) return existing as Counter;
  return new Counter({ name, help, registers: registry ? [registry] : [] });
}

export class HedgedStore implements ObjectStore {
  readonly hedgesSent: Counter;
  readonly hedgesWon: Counter;
  readonly hedgesSkipped: Counter;
  private readonly delayGauge: Gauge | undefined;
  private readonly maxRatio: number;
  private readonly quantile: number;
  private readonly minSamples: number;
  private readonly recomputeEvery: number;
  private readonly burst: number;
  private readonly minDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly samples: Float64Array;
  private sampleCount = 0;
  private sinceRecompute = 0;
  private delay: number | undefined;
  private tokens = 0;
  /** Plain counts (the prom counters may be shared between instances). */
  gets = 0;
  sent = 0;
  won = 0;
  private readonly now: () => number;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;

  constructor(
    private readonly inner: ObjectStore,
    options: HedgedStoreOptions = {},
  ) {
    this.maxRatio = options.maxRatio ?? 0.05;
    if (!(this.maxRatio >= 0 && this.maxRatio <= 1)) throw new RangeError("maxRatio must be in 0..1");
    this.quantile = options.quantile ?? 0.95;
    this.samples = new Float64Array(options.window ?? 1000);
    this.minSamples = Math.min(options.minSamples ?? 50, this.samples.length);
    this.recomputeEvery = options.recomputeEvery ?? 32;
    this.burst = options.burst ?? 10;
    this.minDelayMs = options.minDelayMs ?? 0;
    this.maxDelayMs = options.maxDelayMs ?? Infinity;
    this.now = options.now ?? (() => performance.now());
    this.setTimer = options.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimer = options.clearTimer ?? ((h) => clearTimeout(h as NodeJS.Timeout));
    const r = options.registry;
    this.hedgesSent = counter(r, "lane_store_hedges_sent_total", "Hedged (second) store GETs sent because the first had not answered by the adaptive delay");
    this.hedgesWon = counter(r, "lane_store_hedges_won_total", "Hedged store GETs that answered before the first GET");
    this.hedgesSkipped = counter(r, "lane_store_hedges_skipped_total", "GETs that reached the hedge delay but were not hedged: extra-load budget exhausted");
    if (r) {
      this.delayGauge =
        (r.getSingleMetric("lane_store_hedge_delay_seconds") as Gauge | undefined) ??
        new Gauge({ name: "lane_store_hedge_delay_seconds", help: "Current hedge delay (recent store GET latency quantile)", registers: [r] });
    }
  }

  /** The current hedge delay in ms, or undefined while there are too few samples to hedge. */
  get hedgeDelayMs(): number | undefined {
    return this.delay;
  }

  private observe(ms: number): void {
    this.samples[this.sampleCount % this.samples.length] = ms;
    this.sampleCount++;
    if (this.sampleCount < this.minSamples) return;
    if (this.delay !== undefined && ++this.sinceRecompute < this.recomputeEvery) return;
    this.sinceRecompute = 0;
    const n = Math.min(this.sampleCount, this.samples.length);
    const sorted = this.samples.slice(0, n).sort();
    const q = sorted[Math.min(n - 1, Math.ceil(this.quantile * n) - 1)];
    this.delay = Math.min(this.maxDelayMs, Math.max(this.minDelayMs, q));
    this.delayGauge?.set(this.delay / 1000);
  }

  get(key: string, signal?: AbortSignal): Promise<StoreGetResult> {
    this.gets++;
    this.tokens = Math.min(this.burst, this.tokens + this.maxRatio);
    const delay = this.delay;
    if (delay === undefined || this.maxRatio === 0) return this.unhedged(key, signal);
    if (signal?.aborted) return Promise.reject(new StoreError("timeout", `GET ${key}: aborted by the caller`));

    return new Promise<StoreGetResult>((resolve, reject) => {
      const started = this.now();
      const controllers: AbortController[] = [];
      let settled = false;
      let launched = 0;
      let failed = 0;
      let firstError: unknown;
      let timer: unknown;
      let timerPending = true;

      const onCallerAbort = (): void => {
        for (const c of controllers) c.abort(signal?.reason);
      };
      signal?.addEventListener("abort", onCallerAbort, { once: true });
      const finish = (): void => {
        settled = true;
        if (timerPending) this.clearTimer(timer);
        timerPending = false;
        signal?.removeEventListener("abort", onCallerAbort);
      };

      const launch = (index: number): void => {
        const controller = new AbortController();
        controllers.push(controller);
        launched++;
        this.inner.get(key, controller.signal).then(
          (result) => {
            if (settled) return;
            finish();
            // The primary's latency: real if it won, censored at "now" (≥ delay) if it lost.
            this.observe(this.now() - started);
            if (index === 1) {
              this.won++;
              this.hedgesWon.inc();
            }
            controllers.forEach((other, i) => {
              if (i !== index) other.abort();
            });
            resolve(result);
          },
          (err: unknown) => {
            if (settled) return;
            failed++;
            firstError ??= err;
            // Before the hedge fires, a failure is final (hedging is not retrying).
            if (failed === launched) {
              finish();
              reject(firstError);
            }
          },
        );
      };

      launch(0);
      if (settled) return;
      timer = this.setTimer(() => {
        timerPending = false;
        if (settled) return;
        if (this.tokens < 1) {
          this.hedgesSkipped.inc();
          return;
        }
        this.tokens -= 1;
        this.sent++;
        this.hedgesSent.inc();
        launch(1);
      }, delay);
    });
  }

  private async unhedged(key: string, signal?: AbortSignal): Promise<StoreGetResult> {
    const started = this.now();
    const result = await this.inner.get(key, signal);
    this.observe(this.now() - started);
    return result;
  }

  ping(signal?: AbortSignal): Promise<void> {
    return this.inner.ping(signal);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/**
 * Latency statistics for the benchmark: an HDR histogram (hdr-histogram-js) in microseconds plus
 * log-spaced bins for the HTML histogram. Percentiles come from the HDR histogram (3 significant
 * digits: a reported value is within 0.1% of the true one).
 */
import * as hdr from "hdr-histogram-js";

/** 1 µs .. 60 s, 3 significant digits. */
const LOWEST_US = 1;
const HIGHEST_US = 60_000_000;
/** HTML histogram bins: this many per decade from 1 µs. */
export const BINS_PER_DECADE = 20;

export interface LatencySummary {
  /** Requests that completed (any status), errors included. */
  readonly count: number;
  readonly errors: number;
  /** Completed requests per second of measured time. */
  readonly rps: number;
  /** Milliseconds. */
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p95: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

// The one percentile definition (nearest rank) is dev/percentile.ts; the HDR histogram below answers the same.
export { nearestRankIndex, percentile } from "./percentile";

export class LatencyRecorder {
  readonly histogram: hdr.Histogram;
  /** Log-spaced bin counts (index = floor(log10(us) * BINS_PER_DECADE)). */
  readonly bins: number[] = [];
  errors = 0;
  readonly errorKinds = new Map<string, number>();
  readonly statuses = new Map<number, number>();

  constructor() {
    this.histogram = hdr.build({
      lowestDiscernibleValue: LOWEST_US,
      highestTrackableValue: HIGHEST_US,
      numberOfSignificantValueDigits: 3,
      bitBucketSize: 32,
      useWebAssembly: false,
    });
  }

  /** Record one latency in microseconds (clamped to the trackable range). */
  recordMicros(us: number): void {
    const v = Math.min(HIGHEST_US, Math.max(LOWEST_US, Math.round(us)));
    this.histogram.recordValue(v);
    const bin = Math.floor(Math.log10(v) * BINS_PER_DECADE);
    this.bins[bin] = (this.bins[bin] ?? 0) + 1;
  }

  recordNanos(ns: number | bigint): void {
    this.recordMicros(Number(ns) / 1000);
  }

  recordStatus(status: number): void {
    this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
  }

  recordError(kind: string): void {
    this.errors++;
    this.errorKinds.set(kind, (this.errorKinds.get(kind) ?? 0) + 1);
  }

  get count(): number {
    return this.histogram.totalCount;
  }

  /** Value at percentile p (0..100), milliseconds. */
  percentileMs(p: number): number {
    return this.histogram.totalCount === 0 ? NaN : this.histogram.getValueAtPercentile(p) / 1000;
  }

  summary(durationSeconds: number): LatencySummary {
    const h = this.histogram;
    const empty = h.totalCount === 0;
    return {
      count: h.totalCount,
      errors: this.errors,
      rps: durationSeconds > 0 ? h.totalCount / durationSeconds : 0,
      mean: empty ? NaN : h.mean / 1000,
      p50: this.percentileMs(50),
      p90: this.percentileMs(90),
      p95: this.percentileMs(95),
      p99: this.percentileMs(99),
      p999: this.percentileMs(99.9),
      max: empty ? NaN : h.maxValue / 1000,
    };
  }

  /**
   * CDF points for the report: percentiles spaced evenly in "number of nines" (0, 50, 90, 99, …),
   * so the tail gets as many points as the body. Values in milliseconds.
   */
  cdf(points = 120): Array<{ p: number; ms: number }> {
    if (this.histogram.totalCount === 0) return [];
    const out: Array<{ p: number; ms: number }> = [];
    const maxNines = 5; // up to 99.999
    for (let i = 0; i <= points; i++) {
      const nines = (i / points) * maxNines;
      const p = 100 * (1 - Math.pow(10, -nines));
      // HDR answers with the highest value equivalent to the bucket; never above the true max.
      out.push({ p, ms: Math.min(this.histogram.getValueAtPercentile(p), this.histogram.maxValue) / 1000 });
    }
    out.push({ p: 100, ms: this.histogram.maxValue / 1000 });
    return out;
  }

  /** Non-empty histogram bins: [lower ms, upper ms, count]. */
  histogramBins(): Array<{ lo: number; hi: number; count: number }> {
    const out: Array<{ lo: number; hi: number; count: number }> = [];
    this.bins.forEach((count, i) => {
      if (!count) return;
      out.push({ lo: Math.pow(10, i / BINS_PER_DECADE) / 1000, hi: Math.pow(10, (i + 1) / BINS_PER_DECADE) / 1000, count });
    });
    return out;
  }

  /** Merge another recorder into this one. */
  add(other: LatencyRecorder): void {
    this.histogram.add(other.histogram);
    other.bins.forEach((c, i) => {
      if (c) this.bins[i] = (this.bins[i] ?? 0) + c;
    });
    this.errors += other.errors;
    for (const [k, v] of other.errorKinds) this.errorKinds.set(k, (this.errorKinds.get(k) ?? 0) + v);
    for (const [k, v] of other.statuses) this.statuses.set(k, (this.statuses.get(k) ?? 0) + v);
  }

  /** Compressed HDR encoding (base64), so a result file can be re-analysed with any HDR tool. */
  encode(): string {
    return hdr.encodeIntoCompressedBase64(this.histogram);
  }

  destroy(): void {
    this.histogram.destroy();
  }
}

/** Lane minus baseline at each percentile (ms): the latency the lane adds over a direct store GET. */
export function addedLatency(lane: LatencySummary, direct: LatencySummary): Record<"p50" | "p90" | "p95" | "p99" | "p999", number> {
  return {
    p50: lane.p50 - direct.p50,
    p90: lane.p90 - direct.p90,
    p95: lane.p95 - direct.p95,
    p99: lane.p99 - direct.p99,
    p999: lane.p999 - direct.p999,
  };
}

/**
 * The one percentile definition of the benchmark and the dev tooling (soak, overload, the e2e
 * load tests): nearest rank. The value at percentile p of n values is the ⌈p/100 · n⌉-th
 * smallest — the smallest value with at least p % of the values at or below it — which is what an
 * HDR histogram answers (dev/stats.ts), to within its precision.
 */

/** 0-based index of percentile p (0..100) among n sorted values. */
export function nearestRankIndex(n: number, p: number): number {
  return Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1));
}

/** Nearest-rank percentile of raw values; NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[nearestRankIndex(sorted.length, p)];
}

/**
 * Per-key rate limits: one token bucket per API key id. A bucket holds up to `burst` tokens and
 * refills at `rps` tokens per second; a request takes one token or is refused with the number of
 * seconds until one is available (the Retry-After value, rounded up, at least 1).
 */
import type { RateLimitSpec } from "./auth";

export class TokenBucket {
  private tokens: number;
  private last: number;
  readonly burst: number;

  constructor(
    readonly rps: number,
    burst?: number,
    now = performance.now(),
  ) {
    this.burst = burst ?? Math.max(1, rps);
    this.tokens = this.burst;
    this.last = now;
  }

  /** 0 when a token was taken; otherwise the seconds to wait for one. */
  take(now = performance.now()): number {
    const elapsed = (now - this.last) / 1000;
    this.last = now;
    this.tokens = Math.min(this.burst, this.tokens + elapsed * this.rps);
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return (1 - this.tokens) / this.rps;
  }
}

export class RateLimiter {
  private buckets = new Map<string, TokenBucket>();

  /** null when allowed; else Retry-After seconds (integer ≥ 1). */
  check(id: string, spec: RateLimitSpec | undefined, now = performance.now()): number | null {
    if (!spec) return null;
    let bucket = this.buckets.get(id);
    if (!bucket || bucket.rps !== spec.rps || bucket.burst !== (spec.burst ?? Math.max(1, spec.rps))) {
      bucket = new TokenBucket(spec.rps, spec.burst, now);
      this.buckets.set(id, bucket);
    }
    const wait = bucket.take(now);
    return wait === 0 ? null : Math.max(1, Math.ceil(wait));
  }

  /** Keep the buckets of keys that still exist (their state survives a reload); drop the rest. */
  retain(ids: Iterable<string>): void {
    const keep = new Set(ids);
    for (const id of this.buckets.keys()) if (!keep.has(id)) this.buckets.delete(id);
  }

  get size(): number {
    return this.buckets.size;
  }
}

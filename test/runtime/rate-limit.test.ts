import { RateLimiter, TokenBucket } from "../../runtime/rate-limit";

describe("TokenBucket", () => {
  it("starts full at burst, then refuses with the seconds until the next token", () => {
    const b = new TokenBucket(4, 2, 0);
    expect(b.take(0)).toBe(0);
    expect(b.take(0)).toBe(0);
    expect(b.take(0)).toBeCloseTo(0.25); // one token at 4/s
  });

  it("defaults burst to rps (at least one token)", () => {
    expect(new TokenBucket(5, undefined, 0).burst).toBe(5);
    expect(new TokenBucket(0.5, undefined, 0).burst).toBe(1);
  });

  it("refills with elapsed time but never beyond burst", () => {
    const b = new TokenBucket(1, 2, 0);
    b.take(0);
    b.take(0);
    // A long idle period refills to burst (2), not to 100 tokens.
    expect([b.take(100_000), b.take(100_000), b.take(100_000)]).toEqual([0, 0, expect.any(Number)]);
  });

  it("a refused take does not consume a token", () => {
    const b = new TokenBucket(1, 1, 0);
    expect(b.take(0)).toBe(0);
    expect(b.take(0)).toBeCloseTo(1);
    expect(b.take(1000)).toBe(0); // refused attempts did not push the next token further out
  });
});

describe("RateLimiter", () => {
  it("lets keys without a limit through", () => {
    const l = new RateLimiter();
    for (let i = 0; i < 100; i++) expect(l.check("k", undefined, 0)).toBeNull();
    expect(l.size).toBe(0); // no bucket kept for unlimited keys
  });

  it("keeps one bucket per key: one key's burst does not limit another", () => {
    const l = new RateLimiter();
    const spec = { rps: 1, burst: 1 };
    expect(l.check("a", spec, 0)).toBeNull();
    expect(l.check("a", spec, 0)).not.toBeNull();
    expect(l.check("b", spec, 0)).toBeNull();
  });

  it("answers Retry-After as whole seconds, rounded up, at least 1", () => {
    const l = new RateLimiter();
    expect(l.check("fast", { rps: 10, burst: 1 }, 0)).toBeNull();
    expect(l.check("fast", { rps: 10, burst: 1 }, 0)).toBe(1); // 0.1 s → 1
    expect(l.check("slow", { rps: 0.25, burst: 1 }, 0)).toBeNull();
    expect(l.check("slow", { rps: 0.25, burst: 1 }, 0)).toBe(4); // 4 s
  });

  it("starts a fresh bucket when the key's limit changes (rps or burst)", () => {
    const l = new RateLimiter();
    expect(l.check("a", { rps: 1, burst: 1 }, 0)).toBeNull();
    expect(l.check("a", { rps: 1, burst: 1 }, 0)).toBe(1);
    expect(l.check("a", { rps: 1, burst: 2 }, 0)).toBeNull();
    expect(l.check("a", { rps: 1, burst: 2 }, 0)).toBeNull();
    expect(l.check("a", { rps: 1, burst: 2 }, 0)).toBe(1);
  });

  it("an unchanged spec object with an implicit burst keeps its bucket", () => {
    const l = new RateLimiter();
    expect(l.check("a", { rps: 1 }, 0)).toBeNull();
    expect(l.check("a", { rps: 1 }, 0)).toBe(1); // not reset: burst defaulted the same way both times
  });

  it("retain() drops the buckets of keys no longer configured and keeps the rest", () => {
    const l = new RateLimiter();
    const spec = { rps: 1, burst: 1 };
    l.check("a", spec, 0);
    l.check("b", spec, 0);
    l.retain(["b"]);
    expect(l.size).toBe(1);
    expect(l.check("b", spec, 0)).toBe(1); // state survived
    expect(l.check("a", spec, 0)).toBeNull(); // a new bucket
  });
});

import { entityHash, HighWaterMarks, NonceCache } from "../../enclave/high-water";

describe("enclave/high-water HighWaterMarks (P2)", () => {
  it("refuses an older version once a newer one was admitted; equal and newer pass", () => {
    const marks = new HighWaterMarks();
    expect(marks.admit("v", "e", 200)).toBe("ok");
    expect(marks.admit("v", "e", 100)).toBe("rolled_back");
    expect(marks.admit("v", "e", 200)).toBe("ok");
    expect(marks.admit("v", "e", 300)).toBe("ok");
    expect(marks.admit("v", "e", 250)).toBe("rolled_back");
    // Another entity, or the same id in another view, has its own mark.
    expect(marks.admit("v", "f", 1)).toBe("ok");
    expect(marks.admit("w", "e", 1)).toBe("ok");
  });

  it("keeps every mark across table growth", () => {
    const marks = new HighWaterMarks(100_000);
    for (let i = 0; i < 50_000; i++) marks.admit("view", `entity-${i}`, 1000 + i);
    expect(marks.size).toBe(50_000);
    for (let i = 0; i < 50_000; i += 997) {
      expect(marks.admit("view", `entity-${i}`, 999 + i)).toBe("rolled_back");
      expect(marks.admit("view", `entity-${i}`, 1000 + i)).toBe("ok");
    }
  });

  it("at its bound it refuses new entities rather than forgetting old ones", () => {
    const marks = new HighWaterMarks(3);
    for (const e of ["a", "b", "c"]) expect(marks.admit("v", e, 10)).toBe("ok");
    expect(marks.admit("v", "d", 10)).toBe("high_water_full");
    expect(marks.admit("v", "a", 5)).toBe("rolled_back");
  });

  it("hashes view and entity apart (no concatenation ambiguity) into safe integers", () => {
    expect(entityHash("ab", "c")).not.toBe(entityHash("a", "bc"));
    for (const [v, e] of [
      ["user_profile", "user_1"],
      ["x", ""],
      ["", "y"],
    ])
      expect(Number.isSafeInteger(entityHash(v!, e!))).toBe(true);
  });
});

describe("enclave/high-water NonceCache", () => {
  it("remembers a nonce for the window, then forgets it; refuses when full", () => {
    const cache = new NonceCache(1000, 2);
    expect(cache.check("k", "n1", 0)).toBe("fresh");
    expect(cache.check("k", "n1", 500)).toBe("replayed");
    expect(cache.check("other", "n1", 500)).toBe("fresh");
    expect(cache.check("k", "n2", 600)).toBe("full");
    expect(cache.check("k", "n1", 1001)).toBe("fresh"); // expired entries make room
  });
});

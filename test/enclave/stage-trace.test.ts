import { GcPauses, nowUs } from "../../enclave/stage-trace";

describe("enclave/stage-trace", () => {
  it("nowUs is a monotonic microsecond clock", () => {
    const a = nowUs();
    const b = nowUs();
    expect(b).toBeGreaterThanOrEqual(a);
    expect(a).toBeGreaterThan(0);
  });

  it("GcPauses collects this process's GC pauses once each, bounded", async () => {
    const pauses = new GcPauses(4);
    try {
      // Garbage until a GC runs (young-generation collections come quickly).
      for (let round = 0; round < 50; round++) {
        const junk: unknown[] = [];
        for (let i = 0; i < 200_000; i++) junk.push({ i, s: String(i) });
        await new Promise((r) => setTimeout(r, 5));
        const taken = pauses.take();
        if (taken.length > 0) {
          expect(taken.length).toBeLessThanOrEqual(4);
          for (const [start, duration] of taken) {
            expect(start).toBeGreaterThan(0);
            expect(duration).toBeGreaterThanOrEqual(0);
          }
          expect(pauses.take()).toEqual([]); // taken once
          return;
        }
      }
      throw new Error("no GC pause observed");
    } finally {
      pauses.stop();
    }
  });
});

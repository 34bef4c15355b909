import { breakdownAt, breakdownByRoute, describeBreakdown, gcOverlap, parseTrace, stageDurations, STAGES, TRACE_STAMPS, type TraceRead } from "../../bench/breakdown";
import { nearestRankIndex, percentile } from "../../dev/stats";

/** A read whose stages last exactly `us` (in STAGES order), starting at `start`. */
function read(start: number, us: readonly number[], route = "batch", status = 200): TraceRead {
  const t = [start];
  for (const d of us) t.push(t[t.length - 1] + d);
  return { route, status, t };
}

const FAST = [10, 100, 5, 20, 15, 30, 200, 15, 40]; // 435 µs, signer sign dominates
const SLOW_STORE = [10, 5000, 5, 20, 15, 30, 200, 15, 40]; // 5335 µs, store dominates

describe("stage breakdown (known stage times → known breakdown)", () => {
  it("has one stage between each pair of consecutive stamps", () => {
    expect(STAGES).toHaveLength(TRACE_STAMPS.length - 1);
    expect(STAGES.map((s) => s.from).slice(1)).toEqual(STAGES.map((s) => s.to).slice(0, -1));
  });

  it("turns stamps into stage durations", () => {
    const d = stageDurations(read(1000, FAST));
    expect(Object.values(d)).toEqual(FAST);
    expect(d["signer sign"]).toBe(200);
    expect(d.store).toBe(100);
  });

  it("counts GC pause time inside a span only", () => {
    const pauses = [
      { gc: "runtime" as const, start: 0, duration: 50 }, // ends before the span
      { gc: "runtime" as const, start: 90, duration: 20 }, // 10 µs inside
      { gc: "runtime" as const, start: 150, duration: 30 }, // all inside
      { gc: "runtime" as const, start: 190, duration: 100 }, // 10 µs inside
    ];
    expect(gcOverlap(100, 200, pauses)).toBe(10 + 30 + 10);
    expect(gcOverlap(300, 400, pauses)).toBe(0);
  });

  it("picks the reads at the percentile's rank and names the dominant stage", () => {
    // 98 fast reads, 2 with a slow store: P50 is a fast read, P99 a slow one.
    const reads = [...Array.from({ length: 98 }, (_, i) => read(i * 10_000, FAST)), read(2_000_000, SLOW_STORE), read(3_000_000, SLOW_STORE)];
    const p50 = breakdownAt(reads, [], 50)!;
    expect(p50.totalUs).toBeCloseTo(435);
    expect(p50.dominant).toBe("signer sign");
    expect(p50.stagesUs["signer sign"]).toBeCloseTo(200);
    const p999 = breakdownAt(reads, [], 99.9)!;
    expect(p999.dominant).toBe("store");
    // Rank 100 of 100 and its neighbours r−2..r: two slow reads and one fast one.
    expect(p999.reads).toBe(3);
    expect(p999.stagesUs.store).toBeCloseTo((5000 + 5000 + 100) / 3);
  });

  it("charges runtime GC to the whole span and signer GC to the signer's span", () => {
    const r = read(0, FAST); // signerReceived at 10+100+5+20+15 = 150, signerSigned at 150+30+200 = 380
    const gc = [
      { gc: "runtime" as const, start: 400, duration: 20 },
      { gc: "signer" as const, start: 100, duration: 100 }, // 50 µs inside the signer span
    ];
    const b = breakdownAt([r], gc, 99)!;
    expect(b.gcUs).toEqual({ runtime: 20, signer: 50 });
  });

  it("reads the trace file, skipping cut lines, per route, 2xx only", () => {
    const lines = [
      JSON.stringify(read(0, FAST, "features")),
      JSON.stringify(read(0, SLOW_STORE, "features", 503)),
      JSON.stringify(read(0, SLOW_STORE, "batch")),
      JSON.stringify({ gc: "signer", start: 1, duration: 2 }),
      '{"route":"batch","t":[1,2', // cut
    ].join("\n");
    expect(parseTrace(lines).reads).toHaveLength(3);
    expect(parseTrace(lines).gc).toHaveLength(1);
    const byRoute = breakdownByRoute(lines);
    expect(byRoute.map((r) => [r.route, r.reads])).toEqual([
      ["batch", 1],
      ["features", 1],
    ]);
    expect(byRoute[1].at[0].dominant).toBe("signer sign"); // the 503 is not in it
    expect(describeBreakdown(byRoute[0])[0]).toContain("dominant: store");
  });

  it("has one percentile definition (nearest rank)", () => {
    expect(nearestRankIndex(100, 99)).toBe(98);
    expect(nearestRankIndex(100, 99.9)).toBe(99);
    expect(nearestRankIndex(1, 50)).toBe(0);
    expect(percentile([5, 1, 4, 2, 3], 50)).toBe(3);
    expect(percentile([5, 1, 4, 2, 3], 100)).toBe(5);
  });
});

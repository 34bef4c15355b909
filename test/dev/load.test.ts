import { autoPacing, clockFor, openLoop, realClock, timerClock } from "../../dev/load";

describe("dev/load pacing", () => {
  it("spins only where the lane keeps two cores of its own", () => {
    expect(autoPacing(2)).toBe("timer");
    expect(autoPacing(3)).toBe("timer");
    expect(autoPacing(4)).toBe("spin");
    expect(clockFor("timer")).toBe(timerClock);
    expect(clockFor("spin")).toBe(realClock);
  });

  it("timer pacing never yields through setImmediate, and never wakes early", async () => {
    const immediate = jest.spyOn(global, "setImmediate");
    try {
      const target = timerClock.now() + 4;
      await timerClock.sleepUntil(target);
      expect(timerClock.now()).toBeGreaterThanOrEqual(target);
      expect(immediate).not.toHaveBeenCalled();
    } finally {
      immediate.mockRestore();
    }
  });

  it("timer pacing still counts open-loop latency from the schedule (late sends are charged)", async () => {
    // 2000 req/s = one every 0.5 ms: with a 1 ms timer grain most sends go out late, in pairs.
    const result = await openLoop({ rate: 2000, durationMs: 100, maxInFlight: 8, clock: timerClock, send: async () => ({ ok: true, status: 200 }) });
    const lag = result.sendLag!.summary(result.seconds);
    const latency = result.latency.summary(result.seconds);
    const service = result.service!.summary(result.seconds);
    expect(result.scheduled).toBe(200);
    expect(lag.max).toBeGreaterThan(0);
    // Every request's latency includes its send lag: from the schedule, not from the send.
    expect(latency.p99).toBeGreaterThanOrEqual(service.p99);
    expect(latency.max).toBeGreaterThanOrEqual(lag.max);
  });
});

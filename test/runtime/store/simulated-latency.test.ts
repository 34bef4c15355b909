import { Registry } from "prom-client";
import { latencySampler, parseLatencyModel, SimulatedLatencyStore } from "../../../runtime/store/simulated-latency";
import { seededRandom } from "../../../dev/random";
import { MemoryStore } from "../../../runtime/store/memory-store";
import { parseRuntimeConfig } from "../../../runtime/config";

describe("store latency model (SIMULATION)", () => {
  test("parses lognormal and fixed models with units", () => {
    expect(parseLatencyModel("lognormal:p50=2ms,p99=12ms")).toEqual({ kind: "lognormal", p50Ms: 2, p99Ms: 12 });
    expect(parseLatencyModel("lognormal:p50=800us,p99=0.004s")).toEqual({ kind: "lognormal", p50Ms: 0.8, p99Ms: 4 });
    expect(parseLatencyModel("fixed:3")).toEqual({ kind: "fixed", ms: 3 });
    expect(() => parseLatencyModel("lognormal:p50=5ms,p99=1ms")).toThrow(/p50 <= p99/);
    expect(() => parseLatencyModel("pareto:a=1")).toThrow(/unknown latency model/);
  });

  test("lognormal draws have the given P50 and P99", () => {
    const sample = latencySampler({ kind: "lognormal", p50Ms: 2, p99Ms: 12 }, seededRandom(42));
    const draws = Float64Array.from({ length: 200_000 }, sample).sort();
    expect(draws[100_000]).toBeGreaterThan(2 * 0.97);
    expect(draws[100_000]).toBeLessThan(2 * 1.03);
    expect(draws[198_000]).toBeGreaterThan(12 * 0.95);
    expect(draws[198_000]).toBeLessThan(12 * 1.05);
  });

  test("wraps a store, delays by the drawn latency, and labels itself SIMULATION in metrics", async () => {
    const registry = new Registry();
    const delays: number[] = [];
    const inner = new MemoryStore([["k", Buffer.from("v")]]);
    const store = new SimulatedLatencyStore(inner, {
      model: { kind: "fixed", ms: 7 },
      registry,
      setTimer: (fn, ms) => {
        delays.push(ms);
        fn();
        return 0;
      },
      clearTimer: () => undefined,
    });
    const r = await store.get("k");
    expect(r.found && r.body.toString()).toBe("v");
    expect(delays).toEqual([7]);
    expect(store.description).toMatch(/^SIMULATION/);
    expect(await registry.metrics()).toContain('lane_simulation_store_latency_info{model="fixed:7ms"} 1');
  });

  test("an aborted GET rejects as a timeout without reading the store", async () => {
    const inner = new MemoryStore([["k", Buffer.from("v")]]);
    const get = jest.spyOn(inner, "get");
    const store = new SimulatedLatencyStore(inner, { model: { kind: "fixed", ms: 10_000 } });
    const c = new AbortController();
    const p = store.get("k", c.signal);
    c.abort();
    await expect(p).rejects.toMatchObject({ code: "timeout" });
    expect(get).not.toHaveBeenCalled();
  });

  test("runtime flags: --hedge, --hedge-max-ratio, --store-latency", () => {
    const c = parseRuntimeConfig(["--hedge", "on", "--hedge-max-ratio", "0.03", "--store-latency", "lognormal:p50=1ms,p99=9ms"], {});
    expect(c.hedge).toBe(true);
    expect(c.hedgeMaxRatio).toBe(0.03);
    expect(c.storeLatency).toEqual({ kind: "lognormal", p50Ms: 1, p99Ms: 9 });
    const d = parseRuntimeConfig([], {});
    expect(d.hedge).toBe(false);
    expect(d.storeLatency).toBeUndefined();
    expect(() => parseRuntimeConfig(["--store-latency", "lognormal:p50=2"], {})).toThrow();
  });
});

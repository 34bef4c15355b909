import { Registry } from "prom-client";
import { HedgedStore } from "../../../runtime/store/hedged-store";
import { StoreError, type ObjectStore, type StoreGetResult } from "../../../runtime/store/types";

interface PendingGet {
  readonly key: string;
  readonly signal?: AbortSignal;
  resolve(r: StoreGetResult): void;
  reject(e: unknown): void;
}

/** A store whose GETs stay pending until the test answers them. */
class ControlledStore implements ObjectStore {
  readonly calls: PendingGet[] = [];
  get(key: string, signal?: AbortSignal): Promise<StoreGetResult> {
    return new Promise((resolve, reject) => this.calls.push({ key, signal, resolve, reject }));
  }
  async ping(): Promise<void> {}
  async close(): Promise<void> {}
}

/** Manual timers and clock: the test decides when time passes and which timer fires. */
class ManualTime {
  t = 0;
  timers = new Map<number, { fn: () => void; ms: number }>();
  cleared = 0;
  private id = 0;
  now = (): number => this.t;
  setTimer = (fn: () => void, ms: number): unknown => {
    const id = ++this.id;
    this.timers.set(id, { fn, ms });
    return id;
  };
  clearTimer = (h: unknown): void => {
    if (this.timers.delete(h as number)) this.cleared++;
  };
  /** Fire the only pending timer. */
  fire(): void {
    expect(this.timers.size).toBe(1);
    const [id, timer] = [...this.timers][0];
    this.timers.delete(id);
    timer.fn();
  }
}

const found = (body: string): StoreGetResult => ({ found: true, body: Buffer.from(body) });
const tick = () => new Promise((r) => setImmediate(r));

async function metric(registry: Registry, name: string): Promise<number> {
  const m = registry.getSingleMetric(name);
  const data = await m!.get();
  return data.values[0]?.value ?? 0;
}

/** Warm the delay estimator with latencies 1..n ms (answered in order, no hedging yet). */
async function warm(store: HedgedStore, inner: ControlledStore, time: ManualTime, n: number): Promise<void> {
  for (let ms = 1; ms <= n; ms++) {
    const p = store.get(`warm-${ms}`);
    time.t += ms;
    inner.calls[inner.calls.length - 1].resolve(found("w"));
    await p;
  }
}

function setup(options: { maxRatio?: number; burst?: number } = {}) {
  const inner = new ControlledStore();
  const time = new ManualTime();
  const registry = new Registry();
  const store = new HedgedStore(inner, {
    maxRatio: options.maxRatio ?? 0.5,
    burst: options.burst ?? 10,
    minSamples: 20,
    quantile: 0.95,
    registry,
    now: time.now,
    setTimer: time.setTimer,
    clearTimer: time.clearTimer,
  });
  return { inner, time, registry, store };
}

describe("HedgedStore", () => {
  test("no hedging before enough samples; the delay is then the recent P95", async () => {
    const { inner, time, store } = setup();
    await warm(store, inner, time, 19);
    expect(store.hedgeDelayMs).toBeUndefined();
    expect(time.timers.size).toBe(0);
    const p = store.get("twentieth");
    time.t += 20;
    inner.calls[inner.calls.length - 1].resolve(found("w"));
    await p;
    // 20 samples {1..20 ms}: P95 = rank ceil(0.95 × 20) = 19 → 19 ms.
    expect(store.hedgeDelayMs).toBe(19);
  });

  test("a slow first GET is overtaken by the hedge, which wins; the loser is aborted", async () => {
    const { inner, time, registry, store } = setup();
    await warm(store, inner, time, 20);
    const callsBefore = inner.calls.length;
    const result = store.get("k");
    expect(inner.calls.length).toBe(callsBefore + 1);
    const primary = inner.calls[callsBefore];
    expect(time.timers.size).toBe(1);
    expect([...time.timers.values()][0].ms).toBe(store.hedgeDelayMs);
    time.t += store.hedgeDelayMs!;
    time.fire(); // the delay passed with no answer: hedge
    expect(inner.calls.length).toBe(callsBefore + 2);
    const hedge = inner.calls[callsBefore + 1];
    expect(hedge.key).toBe("k");
    time.t += 1;
    hedge.resolve(found("from-hedge"));
    const r = await result;
    expect(r.found && r.body.toString()).toBe("from-hedge");
    expect(primary.signal!.aborted).toBe(true);
    expect(hedge.signal!.aborted).toBe(false);
    // The primary answering late changes nothing.
    primary.resolve(found("late"));
    await tick();
    expect(await metric(registry, "lane_store_hedges_sent_total")).toBe(1);
    expect(await metric(registry, "lane_store_hedges_won_total")).toBe(1);
  });

  test("the first GET answering after the hedge was sent still wins, and the hedge is aborted", async () => {
    const { inner, time, registry, store } = setup();
    await warm(store, inner, time, 20);
    const n = inner.calls.length;
    const result = store.get("k");
    time.fire();
    inner.calls[n].resolve(found("primary"));
    const r = await result;
    expect(r.found && r.body.toString()).toBe("primary");
    expect(inner.calls[n + 1].signal!.aborted).toBe(true);
    expect(await metric(registry, "lane_store_hedges_sent_total")).toBe(1);
    expect(await metric(registry, "lane_store_hedges_won_total")).toBe(0);
  });

  test("no hedge when the GET answers before the delay", async () => {
    const { inner, time, registry, store } = setup();
    await warm(store, inner, time, 20);
    const n = inner.calls.length;
    const cleared = time.cleared;
    const result = store.get("fast");
    time.t += 1;
    inner.calls[n].resolve(found("fast"));
    await result;
    expect(time.timers.size).toBe(0); // the hedge timer was cancelled
    expect(time.cleared).toBe(cleared + 1);
    expect(inner.calls.length).toBe(n + 1);
    expect(await metric(registry, "lane_store_hedges_sent_total")).toBe(0);
  });

  test("the cap holds: with every GET slow, hedges ≤ 5% of GETs (and the budget is used)", async () => {
    const { inner, time, registry, store } = setup({ maxRatio: 0.05, burst: 10 });
    await warm(store, inner, time, 20);
    for (let i = 0; i < 2000; i++) {
      const n = inner.calls.length;
      const result = store.get(`slow-${i}`);
      time.t += 1000; // far beyond any delay
      time.fire();
      inner.calls[n].resolve(found("slow")); // the primary answers eventually
      await result;
      if (inner.calls.length > n + 1) inner.calls[n + 1].resolve(found("hedge")); // settle the loser
      expect(store.sent).toBeLessThanOrEqual(0.05 * store.gets);
    }
    const sent = await metric(registry, "lane_store_hedges_sent_total");
    const skipped = await metric(registry, "lane_store_hedges_skipped_total");
    expect(sent).toBe(store.sent);
    expect(sent).toBeLessThanOrEqual(0.05 * store.gets);
    expect(sent).toBeGreaterThanOrEqual(0.05 * store.gets - 1); // not starved: all of the budget is spent
    expect(sent + skipped).toBe(2000);
  });

  test("a primary failing before the delay fails the GET (hedging is not retrying)", async () => {
    const { inner, time, store } = setup();
    await warm(store, inner, time, 20);
    const n = inner.calls.length;
    const result = store.get("k");
    inner.calls[n].reject(new StoreError("unavailable", "boom", 503));
    await expect(result).rejects.toMatchObject({ code: "unavailable" });
    expect(time.timers.size).toBe(0);
    expect(inner.calls.length).toBe(n + 1);
  });

  test("after a hedge is out, one failure is not enough: the other answer is used", async () => {
    const { inner, time, store } = setup();
    await warm(store, inner, time, 20);
    const n = inner.calls.length;
    const result = store.get("k");
    time.fire();
    inner.calls[n].reject(new StoreError("unavailable", "primary failed", 503));
    await tick();
    inner.calls[n + 1].resolve(found("hedge"));
    const r = await result;
    expect(r.found && r.body.toString()).toBe("hedge");
  });

  test("both failing rejects with the first error", async () => {
    const { inner, time, store } = setup();
    await warm(store, inner, time, 20);
    const n = inner.calls.length;
    const result = store.get("k");
    time.fire();
    inner.calls[n + 1].reject(new StoreError("timeout", "hedge timed out"));
    inner.calls[n].reject(new StoreError("unavailable", "primary failed", 503));
    await expect(result).rejects.toMatchObject({ code: "timeout" });
  });

  test("the caller's abort reaches both GETs", async () => {
    const { inner, time, store } = setup();
    await warm(store, inner, time, 20);
    const n = inner.calls.length;
    const caller = new AbortController();
    const result = store.get("k", caller.signal);
    time.fire();
    caller.abort();
    expect(inner.calls[n].signal!.aborted).toBe(true);
    expect(inner.calls[n + 1].signal!.aborted).toBe(true);
    inner.calls[n].reject(new StoreError("timeout", "aborted"));
    inner.calls[n + 1].reject(new StoreError("timeout", "aborted"));
    await expect(result).rejects.toMatchObject({ code: "timeout" });
  });

  test("counters are registered on the registry passed in (the runtime's)", async () => {
    const { registry } = setup();
    const text = await registry.metrics();
    expect(text).toContain("lane_store_hedges_sent_total");
    expect(text).toContain("lane_store_hedges_won_total");
  });
});

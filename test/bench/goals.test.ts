import { issue15Goals } from "../../bench/goals";
import { renderHtml, renderTable } from "../../bench/report";
import { benchResultOf, scenarioOf } from "./fixtures";

const ms = (n: number, v: number) => Array.from({ length: n }, () => v * 1000);
/** `rps` req/s over one second. */
const rpsOf = (name: string, rps: number) => scenarioOf(name, ms(rps, 1), { target: "wrk" });

describe("issue #15 goals from one run", () => {
  it("judges the batch tail on P99 ≤ 6 ms and P99 ≤ 2 × P50", () => {
    const tight = issue15Goals({ scenarios: [scenarioOf("batch (wrk)", [...ms(99, 3), 5000])] });
    expect(tight[0]).toMatchObject({ goal: expect.stringContaining("Batch tail"), met: true });
    const long = issue15Goals({ scenarios: [scenarioOf("batch (wrk)", [...ms(98, 3), 15000, 15000])] });
    expect(long[0].met).toBe(false); // P99 15 ms = 5 × P50
  });

  it("judges throughput against the Redis peer, or says there was none", () => {
    const peer = rpsOf("peer redis (wrk)", 1000);
    const met = issue15Goals({ scenarios: [rpsOf("single (wrk)", 300), rpsOf("projected (wrk)", 400), peer] });
    expect(met.find((g) => g.goal.includes("Throughput"))).toMatchObject({ met: true, measured: expect.stringContaining("10 features 0.40×, full 0.30×") });
    const notMet = issue15Goals({ scenarios: [rpsOf("single (wrk)", 100), rpsOf("projected (wrk)", 400), peer] });
    expect(notMet.find((g) => g.goal.includes("Throughput"))?.met).toBe(false);
    const none = issue15Goals({
      scenarios: [rpsOf("single (wrk)", 100), rpsOf("projected (wrk)", 400), rpsOf("peer floor (wrk)", 2000)],
      cpuPerRead: { runtimeUs: NaN, signerUs: NaN, requests: 0, tracing: false, peerSkipped: "redis-server not installed" },
    });
    expect(none.find((g) => g.goal.includes("Throughput"))).toMatchObject({ met: null, note: "redis-server not installed" });
  });

  it("judges added latency at 2 ms and CPU per read at 40 / 70 µs", () => {
    const goals = issue15Goals({
      scenarios: [],
      added: { rate: 100, p50: 0.5, p90: 1, p95: 1, p99: 1.9, p999: 3 },
      cpuPerRead: { runtimeUs: 39, signerUs: 71, requests: 1000, tracing: true },
    });
    expect(goals.find((g) => g.goal.includes("Added latency"))?.met).toBe(true);
    expect(goals.find((g) => g.goal.includes("CPU per"))).toMatchObject({ met: false, measured: expect.stringContaining("runtime 39 µs, signer 71 µs") });
  });

  it("draws a stacked bar per percentile when a scenario has a breakdown", () => {
    const at = [50, 99, 99.9].map((p) => ({
      percentile: p,
      reads: 5,
      totalUs: 1000 * p,
      stagesUs: { request: 0, store: 100, "to signer": 0, coalesce: 0, "hop out": 0, "signer decode": 0, "signer sign": 1000 * p - 100, "hop back": 0, respond: 0 },
      gcUs: { runtime: 10, signer: 0 },
      dominant: "signer sign" as const,
    }));
    const result = benchResultOf([scenarioOf("batch", ms(10, 3), { breakdown: { route: "batch", reads: 10, at } })]);
    const html = renderHtml(result);
    expect(html).toContain("Tail breakdown (stage tracing)");
    expect((html.match(/<text x="4" y="\d+" font-size="12">P/g) ?? []).length).toBe(3);
    expect(renderTable(result)).toContain("dominant: signer sign");
  });
});

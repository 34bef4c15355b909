import { HISTOGRAM_EXPORTER_PATH, HISTOGRAM_EXPORTER_SOURCE } from "../../constructs/histogram-exporter";

type Buckets = Map<string, Map<number, number>>;
interface Exporter {
  parseBuckets(text: string): Buckets;
  distributions(previous: Buckets, current: Buckets): Array<{ name: string; values: number[]; counts: number[] }>;
  toMetricData(d: Array<{ name: string; values: number[]; counts: number[] }>): unknown[];
}

/** Loads the embedded program as a module (not as main: nothing is scraped or sent). */
function load(): Exporter {
  const module = { exports: {} as Exporter };
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the embedded program require()s node: modules
  const requireAsLibrary = Object.assign((id: string): unknown => require(id), { main: undefined });
  new Function("module", "exports", "require", "process", HISTOGRAM_EXPORTER_SOURCE)(module, module.exports, requireAsLibrary, { env: {} });
  return module.exports;
}

const scrape = (n: Record<string, number>, name = "lane_request_duration_seconds") =>
  Object.entries(n)
    .map(([le, v]) => `${name}_bucket{route="read",le="${le}"} ${v}`)
    .join("\n");

describe("histogram exporter", () => {
  const x = load();

  it("can be embedded in Terraform strings (no ${ or %{ interpolation sequences)", () => {
    expect(HISTOGRAM_EXPORTER_SOURCE).not.toMatch(/\$\{|%\{/);
    expect(HISTOGRAM_EXPORTER_PATH).toMatch(/^\/opt\/express-lane\//);
  });

  it("parses the lane's duration histograms, summing label sets, and ignores other series and comments", () => {
    const text = [
      "# HELP lane_request_duration_seconds x",
      'lane_request_duration_seconds_bucket{route="read",le="0.005"} 3',
      'lane_request_duration_seconds_bucket{route="push",le="0.005"} 2',
      'lane_request_duration_seconds_bucket{route="read",le="+Inf"} 10',
      'other_duration_seconds_bucket{le="0.005"} 99',
      'lane_request_duration_seconds_count{route="read"} 10',
    ].join("\n");
    const parsed = x.parseBuckets(text);
    expect([...parsed.keys()]).toEqual(["lane_request_duration_seconds"]);
    expect([...parsed.get("lane_request_duration_seconds")!]).toEqual([
      [0.005, 5],
      [Infinity, 10],
    ]);
  });

  it("publishes per-bucket deltas since the previous scrape at each bucket's upper bound", () => {
    const before = x.parseBuckets(scrape({ "0.001": 1, "0.005": 4, "+Inf": 5 }));
    const after = x.parseBuckets(scrape({ "0.001": 3, "0.005": 9, "+Inf": 11 }));
    // Deltas: ≤1 ms +2, (1,5] ms +3, >5 ms +1 (reported at twice the last finite bound).
    expect(x.distributions(before, after)).toEqual([{ name: "lane_request_duration_seconds", values: [0.001, 0.005, 0.01], counts: [2, 3, 1] }]);
  });

  it("publishes nothing for an idle minute", () => {
    const same = x.parseBuckets(scrape({ "0.001": 1, "+Inf": 1 }));
    expect(x.distributions(same, same)).toEqual([]);
  });

  it("after a counter reset (runtime restart) counts from zero instead of going negative", () => {
    const before = x.parseBuckets(scrape({ "0.001": 100, "+Inf": 100 }));
    const after = x.parseBuckets(scrape({ "0.001": 2, "+Inf": 3 }));
    expect(x.distributions(before, after)).toEqual([{ name: "lane_request_duration_seconds", values: [0.001, 0.002], counts: [2, 1] }]);
  });

  it("shapes PutMetricData entries: Values/Counts in seconds under the job dimension", () => {
    expect(x.toMetricData([{ name: "lane_signer_duration_seconds", values: [0.001], counts: [4] }])).toEqual([
      { MetricName: "lane_signer_duration_seconds", Dimensions: [{ Name: "job", Value: "express-lane" }], Unit: "Seconds", Values: [0.001], Counts: [4] },
    ]);
  });
});

import { Counter, Histogram, Registry } from "prom-client";
import { FastHistogram, SeriesCounter, LaneMetrics, buildInfoFromEnv, OTHER_VIEW, FRESHNESS_BUCKETS } from "../../runtime/metrics";

async function text(m: LaneMetrics): Promise<string> {
  return m.registry.metrics();
}

describe("runtime/metrics", () => {
  it("labels only views the registry knows; anything else is 'other' (bounded cardinality)", async () => {
    const m = new LaneMetrics({ isKnownView: (v) => v === "user_profile" });
    expect(m.viewLabel("user_profile")).toBe("user_profile");
    expect(m.viewLabel("made_up_1")).toBe(OTHER_VIEW);
    expect(m.viewLabel(undefined)).toBe("");
    for (let i = 0; i < 50; i++) m.observeServed([`made_up_${i}`], [{ status: "not_found" }]);
    m.observeServed(["user_profile"], [{ status: "found", ageSeconds: 12 }]);
    const out = await text(m);
    expect(out).toMatch(/lane_entity_status_total\{view="other",status="not_found"\} 50/);
    expect(out).toMatch(/lane_entity_status_total\{view="user_profile",status="found"\} 1/);
    expect(out).not.toMatch(/made_up/);
  });

  it("records freshness per view in buckets from 1 s to 30 d, and statuses per entity (Feast: one view per entity)", async () => {
    const m = new LaneMetrics({ isKnownView: () => true });
    m.observeServed(["a", "b", "b"], [{ status: "found", ageSeconds: 0.5 }, { status: "outside_max_age", ageSeconds: 40 * 86_400 }, { status: "refused" }]);
    const out = await text(m);
    expect(out).toMatch(/lane_feature_freshness_seconds_bucket\{le="1",view="a"\} 1/);
    expect(out).toMatch(/lane_feature_freshness_seconds_bucket\{le="2592000",view="b"\} 0/);
    expect(out).toMatch(/lane_feature_freshness_seconds_bucket\{le="\+Inf",view="b"\} 1/);
    expect(out).toMatch(/lane_entity_status_total\{view="b",status="outside_max_age"\} 1/);
    expect(out).toMatch(/lane_entity_status_total\{view="b",status="refused"\} 1/);
    expect(out).not.toMatch(/lane_feature_freshness_seconds_count\{view="b"\} 2/);
  });

  it("counts a batch's statuses exactly when they are added once per (view, status): interleaved statuses and views", async () => {
    const m = new LaneMetrics({ isKnownView: (v) => v !== "made_up" });
    const statuses = ["found", "not_found", "found", "refused", "outside_max_age"] as const;
    const served = Array.from({ length: 100 }, (_, i) => ({ status: statuses[i % 5], ...(i % 5 === 1 || i % 5 === 3 ? {} : { ageSeconds: i }) }));
    // Feast-style: one view per entity, changing along the batch (made_up → "other").
    const views = served.map((_, i) => (i < 50 ? "a" : i < 80 ? "b" : "made_up"));
    m.observeServed(views, served);
    m.observeServed(["a"], [{ status: "found", ageSeconds: 1 }]);
    const out = await text(m);
    const count = (view: string, status: string) => Number(new RegExp(`lane_entity_status_total\\{view="${view}",status="${status}"\\} (\\d+)`).exec(out)?.[1] ?? 0);
    expect([count("a", "found"), count("a", "not_found"), count("a", "refused"), count("a", "outside_max_age")]).toEqual([21, 10, 10, 10]);
    expect([count("b", "found"), count("b", "not_found"), count("b", "refused"), count("b", "outside_max_age")]).toEqual([12, 6, 6, 6]);
    expect([count("other", "found"), count("other", "not_found"), count("other", "refused"), count("other", "outside_max_age")]).toEqual([8, 4, 4, 4]);
    // Freshness: one observation per entity that had an age (3 of every 5), per view.
    expect(out).toMatch(/lane_feature_freshness_seconds_count\{view="a"\} 31/);
    expect(out).toMatch(/lane_feature_freshness_seconds_count\{view="b"\} 18/);
    expect(out).toMatch(/lane_feature_freshness_seconds_count\{view="other"\} 12/);
  });

  it("FastHistogram exports exactly what prom-client's Histogram exports for the same observations (text and JSON)", async () => {
    const [a, b] = [new Registry(), new Registry()];
    const fast = new FastHistogram("x_seconds", "help text", "view", FRESHNESS_BUCKETS, a);
    const slow = new Histogram({ name: "x_seconds", help: "help text", labelNames: ["view"] as const, buckets: FRESHNESS_BUCKETS, registers: [b] });
    // On bounds, between them, below the first, above the last (+Inf only), several label values in first-use order.
    const values = [0, 0.5, 1, 1.0001, 5, 60, 3600, 86_400, 30 * 86_400, 30 * 86_400 + 1, 1e9, 7.25];
    values.forEach((v, i) => {
      const view = ["b", "a", 'quo"te'][i % 3];
      fast.observe({ view }, v);
      slow.observe({ view }, v);
    });
    expect(await a.metrics()).toBe(await b.metrics());
    expect(await a.getMetricsAsJSON()).toEqual(await b.getMetricsAsJSON());
    expect(() => fast.observe({ view: "a" }, Number.NaN)).toThrow(TypeError);
    fast.reset();
    slow.reset();
    expect(await a.metrics()).toBe(await b.metrics());
  });

  it("a three-label FastHistogram and its SeriesCounter export exactly what prom-client's Histogram and Counter export (lane_request_duration_seconds, lane_requests_total)", async () => {
    const [a, b] = [new Registry(), new Registry()];
    const fast = new FastHistogram<"route" | "status" | "view">("r_seconds", "latency", ["route", "status", "view"], [0.001, 0.01, 0.1], a);
    new SeriesCounter("r_total", "requests", fast as unknown as FastHistogram<string>, a);
    const slow = new Histogram({ name: "r_seconds", help: "latency", labelNames: ["route", "status", "view"] as const, buckets: [0.001, 0.01, 0.1], registers: [b] });
    const slowCount = new Counter({ name: "r_total", help: "requests", labelNames: ["route", "status", "view"] as const, registers: [b] });
    const calls = [
      ["features", "200", "user_profile", 0.0005],
      ["features", "404", "other", 0.02],
      ["live", "200", "", 0.00001],
      ["features", "200", "user_profile", 0.5],
      ["batch", "200", 'quo"te', 0.01],
      ["live", "200", "", 0.2],
    ] as const;
    for (const [route, status, view, seconds] of calls) {
      fast.seriesOf(`${route}\u0000${status}\u0000${view}`, () => ({ route, status, view })).observe(seconds);
      slow.observe({ route, status, view }, seconds);
      slowCount.inc({ route, status, view });
    }
    expect(await a.metrics()).toBe(await b.metrics());
    expect(await a.getMetricsAsJSON()).toEqual(await b.getMetricsAsJSON());
    const lane = new LaneMetrics();
    lane.observeRequest("features", "200", "user_profile", 0.0005);
    lane.observeRequest("features", "200", "user_profile", 0.002);
    const text = await lane.registry.metrics();
    expect(text).toContain('lane_requests_total{route="features",status="200",view="user_profile"} 2');
    expect(text).toContain('lane_request_duration_seconds_bucket{le="0.0005",route="features",status="200",view="user_profile"} 1');
    expect(text).toContain('lane_request_duration_seconds_count{route="features",status="200",view="user_profile"} 2');
  });

  it("exports Node and process metrics under their standard names (no lane_ prefix)", async () => {
    const out = await text(new LaneMetrics());
    for (const name of ["process_cpu_seconds_total", "process_resident_memory_bytes", "nodejs_eventloop_lag_seconds", "nodejs_heap_size_used_bytes"]) {
      expect(out).toMatch(new RegExp(`^${name} `, "m"));
    }
    expect(out).not.toMatch(/^lane_process_|^lane_nodejs_/m);
  });

  it("exports lane_build_info from the environment, and updates it as one series", async () => {
    const info = buildInfoFromEnv({ EXPRESS_LANE_VERSION: "1.2.3", EXPRESS_LANE_COMMIT: "abc123", EXPRESS_LANE_PCR0: "00ff", EXPRESS_LANE_REGISTRY_VERSION: "7" });
    expect(info).toEqual({ version: "1.2.3", commit: "abc123", pcr0: "00ff", image_digest: "", registry_version: "7" });
    const m = new LaneMetrics({ buildInfo: info });
    expect(await text(m)).toMatch(/lane_build_info\{version="1.2.3",commit="abc123",pcr0="00ff",image_digest="",registry_version="7"\} 1/);
    m.updateBuildInfo({ registry_version: "8" });
    const out = await text(m);
    expect(out.match(/^lane_build_info\{/gm)).toHaveLength(1);
    expect(out).toMatch(/registry_version="8"\} 1/);
  });

  it("exports the keys the signer holds and the key directory's expiry from the provisioning answer", async () => {
    const m = new LaneMetrics();
    m.observeProvisioned({ kids: ["w1", "w2"], missing: ["w3"], laneKeys: [{}], expires_at: 1_900_000_000_500 });
    const out = await text(m);
    expect(out).toMatch(/lane_signer_keys\{kind="writer"\} 2/);
    expect(out).toMatch(/lane_signer_keys\{kind="lane"\} 1/);
    expect(out).toMatch(/lane_signer_keys\{kind="missing"\} 1/);
    expect(out).toMatch(/lane_key_directory_expires_timestamp_seconds 1900000000/);
  });
});

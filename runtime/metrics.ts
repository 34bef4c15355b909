/**
 * Prometheus metrics (prom-client). Names are a contract with the CloudWatch agent config and the
 * dashboard in constructs/, and with ops/ (Grafana dashboard, Prometheus rules): change them
 * together (test/ops/ops.test.ts checks that every name ops/ uses is exported here).
 *
 * Default Node/process metrics keep prom-client's standard names (`process_cpu_seconds_total`,
 * `nodejs_eventloop_lag_seconds`, …, no `lane_` prefix) so stock Node.js dashboards work.
 *
 * Cardinality: the `view` label only takes names of views the registry knows (anything else is
 * "other"), so a client asking for made-up views cannot grow the series count.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type Metric } from "prom-client";
import { DEFAULT_REGISTRY } from "../registry/views";
import type { ServedEntity } from "../wire/frames";

// Sub-millisecond buckets: the whole budget is 5 ms, so resolution matters below 1 ms.
const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
/** Freshness (`created − event_time`): 1 s … 30 d. */
export const FRESHNESS_BUCKETS = [1, 5, 15, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86_400, 2 * 86_400, 7 * 86_400, 14 * 86_400, 30 * 86_400];
/** The `view` label of a request, entity or push whose view the registry does not know. */
export const OTHER_VIEW = "other";

/** One label set's buckets of a FastHistogram. */
class HistogramSeries {
  /** Per upper bound, observations ≤ it and > the one before (cumulated when exported). */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly upperBounds: readonly number[],
  ) {
    this.counts = new Float64Array(upperBounds.length);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    const bounds = this.upperBounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]) {
        this.counts[i]++;
        break;
      }
    }
    this.sum += value;
    this.count++;
  }
}

/**
 * A labelled histogram for what the runtime observes per entity (store GETs, freshness: 100 of each
 * per batch). prom-client's Histogram converts, validates and hashes the labels and searches the
 * buckets on every observe (≈ 1.5 µs each on this VM, bench/micro/request-metrics.ts); here a label
 * set's series is found by one Map lookup on its value (one label) and kept. The exposition is
 * prom-client's own (same lines, same order: test/runtime/metrics.test.ts compares them), because
 * it is registered as a custom metric on the same Registry and formatted by it.
 */
export class FastHistogram<L extends string> {
  readonly type = "histogram";
  readonly aggregator = "sum";
  private readonly series = new Map<string, HistogramSeries>();
  private readonly labelNames: readonly L[];

  constructor(
    readonly name: string,
    readonly help: string,
    labelNames: L | readonly L[],
    private readonly upperBounds: readonly number[],
    registry: Registry,
  ) {
    this.labelNames = typeof labelNames === "string" ? [labelNames] : labelNames;
    registry.registerMetric(this as unknown as Metric);
  }

  /** The series of one label value (one-label histograms; made on first use, then reused: keep it for a hot path). */
  child(value: string): HistogramSeries {
    let series = this.series.get(value);
    if (series === undefined) {
      series = new HistogramSeries({ [this.labelNames[0]!]: value }, this.upperBounds);
      this.series.set(value, series);
    }
    return series;
  }

  /**
   * The series of a label set, found by `key` (any string that is one-to-one with the label
   * values, e.g. them joined by NUL); `labels` is only read when the series is new.
   */
  seriesOf(key: string, labels: () => Readonly<Record<L, string>>): HistogramSeries {
    let series = this.series.get(key);
    if (series === undefined) {
      const given = labels();
      const own: Record<string, string> = {};
      for (const n of this.labelNames) own[n] = given[n];
      series = new HistogramSeries(own, this.upperBounds);
      this.series.set(key, series);
    }
    return series;
  }

  observe(labels: Readonly<Record<L, string>>, value: number): void {
    if (this.labelNames.length === 1) this.child(labels[this.labelNames[0]!]).observe(value);
    else this.seriesOf(this.labelNames.map((n) => labels[n]).join("\u0000"), () => labels).observe(value);
  }

  /** Each series' labels and observation count, in first-use order (SeriesCounter exports them). */
  counts(): IterableIterator<HistogramSeries> {
    return this.series.values();
  }

  reset(): void {
    this.series.clear();
  }

  /** prom-client's histogram export shape (labels = le, sharedLabels = the series' labels), which Registry formats. */
  getForPromString(): { name: string; help: string; type: string; aggregator: string; values: object[] } {
    const values: object[] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.series.values()) {
      let acc = 0;
      for (let i = 0; i < this.upperBounds.length; i++) {
        acc += s.counts[i];
        values.push({ labels: { le: this.upperBounds[i] }, sharedLabels: s.labels, value: acc, metricName: bucket, exemplar: null });
      }
      values.push({ labels: { le: "+Inf" }, sharedLabels: s.labels, value: s.count, metricName: bucket, exemplar: null });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** JSON form (Registry.getMetricsAsJSON): labels and series labels in one object, as prom-client gives. */
  get(): { name: string; help: string; type: string; aggregator: string; values: object[] } {
    const data = this.getForPromString();
    data.values = data.values.map((v) => {
      const { labels, sharedLabels, ...rest } = v as { labels: Record<string, unknown>; sharedLabels: Record<string, unknown> };
      return { ...rest, labels: { ...labels, ...sharedLabels } };
    });
    return data;
  }
}

/**
 * A counter that is, by definition, a FastHistogram's per-series observation count
 * (lane_requests_total is lane_request_duration_seconds_count under another name): one
 * observation updates both, and the exposition is prom-client's counter format (same lines: test/runtime/metrics.test.ts).
 */
export class SeriesCounter {
  readonly type = "counter";
  readonly aggregator = "sum";
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly of: FastHistogram<string>,
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Metric);
  }

  get(): { name: string; help: string; type: string; aggregator: string; values: object[] } {
    const values: object[] = [];
    for (const s of this.of.counts()) values.push({ value: s.count, labels: s.labels });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.of.reset();
  }
}

/** Label values of lane_build_info. Empty = unknown (e.g. no attestation yet, local lane). */
export interface BuildInfo {
  readonly version: string;
  readonly commit: string;
  /** PCR0 (hex) of the signer's enclave image, from its attestation document. */
  readonly pcr0: string;
  /** The image digest the host was deployed with (e.g. the EIF's SHA-384). */
  readonly image_digest: string;
  /** Version (or digest) of the registry the signer serves. */
  readonly registry_version: string;
}

// Set by dev/build.ts (esbuild `define`): package.json's version and the git commit it was built from.
declare const __EXPRESS_LANE_BUILD__: { version: string; commit: string } | undefined;

/** What the bundle was built as, then the environment (the host unit can name the image). */
export function buildInfoFromEnv(env: NodeJS.ProcessEnv = process.env): BuildInfo {
  const built = typeof __EXPRESS_LANE_BUILD__ === "undefined" ? undefined : __EXPRESS_LANE_BUILD__;
  return {
    version: env.EXPRESS_LANE_VERSION ?? built?.version ?? "dev",
    commit: env.EXPRESS_LANE_COMMIT ?? built?.commit ?? "",
    pcr0: env.EXPRESS_LANE_PCR0 ?? "",
    image_digest: env.EXPRESS_LANE_IMAGE_DIGEST ?? "",
    registry_version: env.EXPRESS_LANE_REGISTRY_VERSION ?? "bundled",
  };
}

export interface LaneMetricsOptions {
  /** Whether a view name is one the registry knows (its own label value); else "other". @default the bundled registry */
  readonly isKnownView?: (view: string) => boolean;
  readonly buildInfo?: BuildInfo;
}

export class LaneMetrics {
  readonly registry = new Registry();
  /**
   * One observation per request: a FastHistogram (prom-client hashes the three labels on every
   * observe and again on the counter's inc: ≈ 3 µs a read; docs/performance.md "Session 7").
   * Record requests with observeRequest(), which updates lane_requests_total with it.
   */
  readonly requestDuration = new FastHistogram<"route" | "status" | "view">(
    "lane_request_duration_seconds",
    "Reader request latency, from request start to response end",
    ["route", "status", "view"],
    LATENCY_BUCKETS,
    this.registry,
  );
  /** lane_requests_total: requestDuration's per-series count. */
  readonly requests = new SeriesCounter("lane_requests_total", "Reader requests by route, status and view (empty for routes without one)", this.requestDuration, this.registry);
  readonly signerDuration = new Histogram({
    name: "lane_signer_duration_seconds",
    help: "Round trip to the signer (enclave) per signed answer",
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  /** One observation per store GET (100 per batch): a FastHistogram. */
  readonly storeDuration = new FastHistogram("lane_store_duration_seconds", "Object store GET latency", "result", LATENCY_BUCKETS, this.registry);
  readonly signerUp = new Gauge({
    name: "lane_signer_up",
    help: "1 when the signer is connected and its key is known",
    registers: [this.registry],
  });
  readonly entityErrors = new Counter({
    name: "lane_entity_errors_total",
    help: "Entities refused by the signer (corrupt object, identity mismatch, failed seal)",
    labelNames: ["code"] as const,
    registers: [this.registry],
  });
  readonly entityStatus = new Counter({
    name: "lane_entity_status_total",
    help: "Entities answered, by view and status: found, outside_max_age (values withheld), not_found, refused",
    labelNames: ["view", "status"] as const,
    registers: [this.registry],
  });
  /** One observation per entity served (100 per batch): a FastHistogram. */
  readonly freshness = new FastHistogram(
    "lane_feature_freshness_seconds",
    "Age of each entity's features when served: signed read time (created) minus the object's event_time",
    "view",
    FRESHNESS_BUCKETS,
    this.registry,
  );
  readonly pushRows = new Counter({
    name: "lane_push_rows_total",
    help: "Push API rows by view and result (written, unchanged, skipped_older, rejected)",
    labelNames: ["view", "result"] as const,
    registers: [this.registry],
  });
  readonly selfVerifyFailures = new Counter({
    name: "lane_self_verify_failures_total",
    help: "Signed answers whose signature did not verify in the runtime's sampled self-check",
    registers: [this.registry],
  });
  readonly signerKeys = new Gauge({
    name: "lane_signer_keys",
    help: "Keys the signer holds, from the last provisioning: writer (seal keys it verifies with), lane (answer signing keys), missing (writer kids the directory lists that it holds no key for)",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });
  readonly keyDirectoryExpiry = new Gauge({
    name: "lane_key_directory_expires_timestamp_seconds",
    help: "When the key directory the signer holds expires (Unix seconds); after it, reads are refused",
    registers: [this.registry],
  });
  readonly buildInfo = new Gauge({
    name: "lane_build_info",
    help: "Always 1; labels name the build: version, commit, the signer image's PCR0 and digest, the registry version",
    labelNames: ["version", "commit", "pcr0", "image_digest", "registry_version"] as const,
    registers: [this.registry],
  });
  private readonly isKnownView: (view: string) => boolean;
  private build: BuildInfo;

  constructor(options: LaneMetricsOptions = {}) {
    this.isKnownView = options.isKnownView ?? ((view) => DEFAULT_REGISTRY.get(view) !== undefined);
    collectDefaultMetrics({ register: this.registry });
    this.build = options.buildInfo ?? buildInfoFromEnv();
    this.buildInfo.set({ ...this.build }, 1);
  }

  /** One request answered: lane_request_duration_seconds and lane_requests_total. */
  observeRequest(route: string, status: string, view: string, seconds: number): void {
    this.requestDuration.seriesOf(`${route}\u0000${status}\u0000${view}`, () => ({ route, status, view })).observe(seconds);
  }

  /** The label value for a view name: itself when the registry knows it, else "other". */
  viewLabel(view: string | undefined): string {
    if (view === undefined) return "";
    return this.isKnownView(view) ? view : OTHER_VIEW;
  }

  /** Replace some lane_build_info labels (e.g. PCR0 once the signer attested); one series stays. */
  updateBuildInfo(update: Partial<BuildInfo>): void {
    this.buildInfo.reset();
    this.build = { ...this.build, ...update };
    this.buildInfo.set({ ...this.build }, 1);
  }

  /**
   * What the signer said about each entity it answered (`views[i]` is the view of entity i). A
   * batch's statuses are counted here first and added once per (view, status): prom-client hashes
   * the labels on every call, which made 100 increments a large part of a batch's metrics cost
   * (bench/micro/request-metrics.ts). Freshness stays one observation per entity, on the view's series (FastHistogram).
   */
  observeServed(views: readonly string[], served: readonly ServedEntity[] | undefined): void {
    if (!Array.isArray(served)) return;
    let lastView: string | undefined;
    let view = OTHER_VIEW;
    let fresh: HistogramSeries | undefined; // set with the first entity's view
    let counts: Map<string, { view: string; status: string; n: number }> | undefined;
    let first: { view: string; status: string; n: number } | undefined;
    for (let i = 0; i < served.length; i++) {
      const entity = served[i];
      const name = views[i] ?? views[0] ?? OTHER_VIEW;
      if (name !== lastView) {
        lastView = name;
        view = this.viewLabel(name);
        fresh = this.freshness.child(view);
      }
      if (first !== undefined && first.view === view && first.status === entity.status) first.n++;
      else if (first === undefined) first = { view, status: entity.status, n: 1 };
      else {
        counts ??= new Map();
        const key = `${view}\u0000${entity.status}`;
        const c = counts.get(key);
        if (c) c.n++;
        else counts.set(key, { view, status: entity.status, n: 1 });
      }
      if (typeof entity.ageSeconds === "number") fresh!.observe(entity.ageSeconds);
    }
    if (first !== undefined) this.entityStatus.inc({ view: first.view, status: first.status }, first.n);
    if (counts !== undefined) for (const c of counts.values()) this.entityStatus.inc({ view: c.view, status: c.status }, c.n);
  }

  /** From the signer's provisioning answer. */
  observeProvisioned(reply: { readonly kids: readonly string[]; readonly missing: readonly string[]; readonly laneKeys: readonly unknown[]; readonly expires_at: number }): void {
    this.signerKeys.set({ kind: "writer" }, reply.kids.length);
    this.signerKeys.set({ kind: "lane" }, reply.laneKeys.length);
    this.signerKeys.set({ kind: "missing" }, reply.missing.length);
    this.keyDirectoryExpiry.set(Math.floor(reply.expires_at / 1000));
  }
}

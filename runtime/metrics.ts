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
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { DEFAULT_REGISTRY } from "../registry/views";
import type { ServedEntity } from "../wire/frames";

// Sub-millisecond buckets: the whole budget is 5 ms, so resolution matters below 1 ms.
const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
/** Freshness (`created − event_time`): 1 s … 30 d. */
export const FRESHNESS_BUCKETS = [1, 5, 15, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86_400, 2 * 86_400, 7 * 86_400, 14 * 86_400, 30 * 86_400];
/** The `view` label of a request, entity or push whose view the registry does not know. */
export const OTHER_VIEW = "other";

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

// Set by scripts/build.ts (esbuild `define`): package.json's version and the git commit it was built from.
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
  readonly requestDuration = new Histogram({
    name: "lane_request_duration_seconds",
    help: "Reader request latency, from request start to response end",
    labelNames: ["route", "status", "view"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly requests = new Counter({
    name: "lane_requests_total",
    help: "Reader requests by route, status and view (empty for routes without one)",
    labelNames: ["route", "status", "view"] as const,
    registers: [this.registry],
  });
  readonly signerDuration = new Histogram({
    name: "lane_signer_duration_seconds",
    help: "Round trip to the signer (enclave) per signed answer",
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly storeDuration = new Histogram({
    name: "lane_store_duration_seconds",
    help: "Object store GET latency",
    labelNames: ["result"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
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
  readonly freshness = new Histogram({
    name: "lane_feature_freshness_seconds",
    help: "Age of each entity's features when served: signed read time (created) minus the object's event_time",
    labelNames: ["view"] as const,
    buckets: FRESHNESS_BUCKETS,
    registers: [this.registry],
  });
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

  /** What the signer said about each entity it answered (`views[i]` is the view of entity i). */
  observeServed(views: readonly string[], served: readonly ServedEntity[] | undefined): void {
    if (!Array.isArray(served)) return;
    served.forEach((entity, i) => {
      const view = this.viewLabel(views[i] ?? views[0] ?? OTHER_VIEW);
      this.entityStatus.inc({ view, status: entity.status });
      if (typeof entity.ageSeconds === "number") this.freshness.observe({ view }, entity.ageSeconds);
    });
  }

  /** From the signer's provisioning answer. */
  observeProvisioned(reply: { readonly kids: readonly string[]; readonly missing: readonly string[]; readonly laneKeys: readonly unknown[]; readonly expires_at: number }): void {
    this.signerKeys.set({ kind: "writer" }, reply.kids.length);
    this.signerKeys.set({ kind: "lane" }, reply.laneKeys.length);
    this.signerKeys.set({ kind: "missing" }, reply.missing.length);
    this.keyDirectoryExpiry.set(Math.floor(reply.expires_at / 1000));
  }
}

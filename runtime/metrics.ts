/**
 * Prometheus metrics (prom-client). Names are a contract with the CloudWatch agent config and the
 * dashboard in constructs/: change them together.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

// Sub-millisecond buckets: the whole budget is 5 ms, so resolution matters below 1 ms.
const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

export class LaneMetrics {
  readonly registry = new Registry();
  readonly requestDuration = new Histogram({
    name: "lane_request_duration_seconds",
    help: "Reader request latency, from request start to response end",
    labelNames: ["route", "status"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly requests = new Counter({
    name: "lane_requests_total",
    help: "Reader requests by route and status",
    labelNames: ["route", "status"] as const,
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
  readonly pushRows = new Counter({
    name: "lane_push_rows_total",
    help: "Push API rows by result (written, unchanged, skipped_older, rejected)",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });
  readonly selfVerifyFailures = new Counter({
    name: "lane_self_verify_failures_total",
    help: "Signed answers whose signature did not verify in the runtime's sampled self-check",
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "lane_" });
  }
}

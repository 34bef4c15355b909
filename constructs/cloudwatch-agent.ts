/**
 * CloudWatch agent configuration for lane hosts (pure functions, no tokens).
 *
 * The agent scrapes the runtime's Prometheus endpoint and turns the selected series into
 * CloudWatch metrics via EMF in namespace `ExpressLane`. Status codes are folded into a
 * `status_class` label (2xx/4xx/5xx) by relabelling so alarms can use fixed dimensions.
 *
 * Note (AWS docs, "Prometheus metric type conversion by the CloudWatch agent"): the agent's
 * Prometheus pipeline supports counters, gauges and summaries and drops histogram families.
 * Latency percentiles therefore come from the host's histogram exporter
 * (constructs/histogram-exporter.ts), which converts per-minute bucket deltas of the
 * `lane_*_duration_seconds` histograms into CloudWatch value/count distributions
 * (PutMetricData `Values`/`Counts`), on which CloudWatch computes p50/p95/p99.
 */

export const METRIC_NAMESPACE = "ExpressLane";
export const PROMETHEUS_SCRAPE_JOB = "express-lane";
export const AGENT_CONFIG_PATH = "/opt/aws/amazon-cloudwatch-agent/etc/express-lane.json";
export const PROMETHEUS_CONFIG_PATH = "/opt/aws/amazon-cloudwatch-agent/etc/express-lane-prometheus.yaml";

export interface AgentLogGroups {
  readonly runtime: string;
  readonly bootstrap: string;
  readonly metrics: string;
}

export interface AgentConfigOptions {
  readonly readerPort: number;
  readonly logGroups: AgentLogGroups;
  readonly logRetentionDays: number;
}

/**
 * The runtime series the agent publishes (runtime/metrics.ts names; test/constructs/
 * host-bootstrap.test.ts checks each is one the runtime exports) and their CloudWatch dimensions.
 * `view` takes only registry view names or "other" (bounded by the runtime).
 */
export const METRIC_DECLARATIONS: readonly { readonly metric: string; readonly dimensions: readonly string[] }[] = [
  { metric: "lane_requests_total", dimensions: ["job", "status_class"] },
  { metric: "lane_signer_up", dimensions: ["job"] },
  { metric: "lane_entity_status_total", dimensions: ["job", "view", "status"] },
  { metric: "lane_push_rows_total", dimensions: ["job", "view", "result"] },
  { metric: "lane_self_verify_failures_total", dimensions: ["job"] },
  { metric: "lane_signer_keys", dimensions: ["job", "kind"] },
  // prom-client's default names (no lane_ prefix), as stock Node dashboards expect.
  { metric: "process_cpu_seconds_total", dimensions: ["job"] },
  { metric: "nodejs_eventloop_lag_p99_seconds", dimensions: ["job"] },
];

/** Prometheus scrape configuration consumed by the agent (YAML; JSON is valid YAML). */
export function renderPrometheusConfig(o: AgentConfigOptions): string {
  const relabel = ["2", "3", "4", "5"].map((c) => ({
    source_labels: ["status"],
    regex: `${c}\\d\\d`,
    target_label: "status_class",
    replacement: `${c}xx`,
    action: "replace",
  }));
  return (
    JSON.stringify(
      {
        global: { scrape_interval: "15s", scrape_timeout: "5s" },
        scrape_configs: [
          {
            job_name: PROMETHEUS_SCRAPE_JOB,
            metrics_path: "/metrics",
            static_configs: [{ targets: [`127.0.0.1:${o.readerPort}`] }],
            metric_relabel_configs: relabel,
          },
        ],
      },
      null,
      2,
    ) + "\n"
  );
}

/** The agent's JSON configuration. */
export function renderAgentConfig(o: AgentConfigOptions): string {
  const cfg = {
    agent: { metrics_collection_interval: 60, run_as_user: "cwagent" },
    logs: {
      logs_collected: {
        files: {
          collect_list: [
            { file_path: "/var/log/express-lane/runtime.log", log_group_name: o.logGroups.runtime, log_stream_name: "{instance_id}", retention_in_days: o.logRetentionDays },
            { file_path: "/var/log/express-lane-bootstrap.log", log_group_name: o.logGroups.bootstrap, log_stream_name: "{instance_id}", retention_in_days: o.logRetentionDays },
          ],
        },
      },
      metrics_collected: {
        prometheus: {
          log_group_name: o.logGroups.metrics,
          prometheus_config_path: PROMETHEUS_CONFIG_PATH,
          emf_processor: {
            metric_declaration_dedup: true,
            metric_namespace: METRIC_NAMESPACE,
            metric_declaration: METRIC_DECLARATIONS.map((d) => ({
              source_labels: ["job"],
              label_matcher: `^${PROMETHEUS_SCRAPE_JOB}$`,
              dimensions: [d.dimensions],
              metric_selectors: [`^${d.metric}$`],
            })),
          },
        },
      },
      force_flush_interval: 15,
    },
  };
  return JSON.stringify(cfg, null, 2) + "\n";
}

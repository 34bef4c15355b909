import { METRIC_DECLARATIONS, METRIC_NAMESPACE, PROMETHEUS_CONFIG_PATH, PROMETHEUS_SCRAPE_JOB, renderAgentConfig, renderPrometheusConfig } from "../../constructs/cloudwatch-agent";

const options = { readerPort: 8080, logGroups: { runtime: "/lane/runtime", bootstrap: "/lane/bootstrap", metrics: "/lane/metrics" }, logRetentionDays: 30 };

describe("Prometheus scrape config", () => {
  const config = JSON.parse(renderPrometheusConfig(options));
  const job = config.scrape_configs[0];

  it("scrapes the runtime on loopback only, under the lane's job name", () => {
    expect(config.scrape_configs).toHaveLength(1);
    expect(job).toMatchObject({ job_name: PROMETHEUS_SCRAPE_JOB, metrics_path: "/metrics", static_configs: [{ targets: ["127.0.0.1:8080"] }] });
  });

  it("folds each status code into a status_class (2xx…5xx) by relabelling", () => {
    const classOf = (status: string) => {
      const rule = job.metric_relabel_configs.find((r: { regex: string }) => new RegExp(`^(?:${r.regex})$`).test(status));
      return rule?.replacement;
    };
    expect(["200", "204", "404", "429", "503", "302"].map(classOf)).toEqual(["2xx", "2xx", "4xx", "4xx", "5xx", "3xx"]);
    expect(classOf("20")).toBeUndefined();
    expect(classOf("2000")).toBeUndefined();
  });
});

describe("agent config", () => {
  const config = JSON.parse(renderAgentConfig(options));

  it("ships the runtime and bootstrap logs to their groups with the retention asked for", () => {
    const files = config.logs.logs_collected.files.collect_list;
    expect(files.map((f: { log_group_name: string }) => f.log_group_name)).toEqual(["/lane/runtime", "/lane/bootstrap"]);
    for (const f of files) expect(f).toMatchObject({ retention_in_days: 30, log_stream_name: "{instance_id}" });
  });

  it("turns exactly the declared series into EMF metrics in the lane namespace, each with its fixed dimensions", () => {
    const prom = config.logs.metrics_collected.prometheus;
    expect(prom).toMatchObject({ log_group_name: "/lane/metrics", prometheus_config_path: PROMETHEUS_CONFIG_PATH });
    expect(prom.emf_processor.metric_namespace).toBe(METRIC_NAMESPACE);
    const declared = prom.emf_processor.metric_declaration;
    expect(declared).toHaveLength(METRIC_DECLARATIONS.length);
    for (const [i, d] of METRIC_DECLARATIONS.entries()) {
      expect(declared[i]).toEqual({ source_labels: ["job"], label_matcher: `^${PROMETHEUS_SCRAPE_JOB}$`, dimensions: [d.dimensions], metric_selectors: [`^${d.metric}$`] });
    }
  });

  it("every declared metric carries the job dimension, and none is a histogram (the agent drops those)", () => {
    for (const d of METRIC_DECLARATIONS) {
      expect(d.dimensions).toContain("job");
      expect(d.metric).not.toMatch(/_duration_seconds$|_bucket$/);
    }
  });
});

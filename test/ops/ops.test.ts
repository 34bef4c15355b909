/**
 * ops/: the Prometheus alert rules are valid and fire on the series in their promtool tests, the
 * scrape example is valid, and every metric the rules and the Grafana dashboard name is one the
 * runtime exports (runtime/metrics.ts), so a rename cannot leave a silent dashboard or a dead alert.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { LaneMetrics } from "../../runtime/metrics";
import { requireTool } from "../helpers/os-tools";

const OPS = join(__dirname, "..", "..", "ops");
const hasPromtool = requireTool("promtool", "ops/prometheus alert rules: promtool check rules / test rules");

function promtool(...args: string[]): { status: number | null; out: string } {
  const r = spawnSync("promtool", args, { cwd: join(OPS, "prometheus"), encoding: "utf8" });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

interface Rule {
  readonly alert: string;
  readonly expr: string;
}
const rules = (parseYaml(readFileSync(join(OPS, "prometheus", "alerts.yml"), "utf8")) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
const dashboard = JSON.parse(readFileSync(join(OPS, "grafana", "express-lane.json"), "utf8")) as {
  uid: string;
  panels: { id: number; title: string; targets: { expr: string }[] }[];
  templating: { list: { name: string; query: string }[] };
};

/** Metric names in a PromQL expression (ours, prom-client's defaults, Prometheus's `up`). */
export function metricNames(expr: string): string[] {
  const names = new Set<string>();
  for (const m of expr.matchAll(/\b((?:lane|process|nodejs)_[a-zA-Z0-9_]+|up)\b(?=\s*[{[)]|\s*$|\s*[-<>=!*/+]|\s+(?:or|and|unless)\b)/g)) names.add(m[1]!);
  return [...names];
}

/** An exported family name for a series name (histograms: _bucket/_sum/_count). */
function family(name: string, exported: ReadonlySet<string>): string {
  if (exported.has(name)) return name;
  const base = name.replace(/_(bucket|sum|count)$/, "");
  return exported.has(base) ? base : name;
}

describe("ops/prometheus", () => {
  (hasPromtool ? it : it.skip)("promtool check rules passes", () => {
    const r = promtool("check", "rules", "alerts.yml");
    expect(r.out).toContain("SUCCESS");
    expect(r.status).toBe(0);
  });

  (hasPromtool ? it : it.skip)("promtool test rules passes: every alert fires on its series, a healthy lane fires none", () => {
    const r = promtool("test", "rules", "alerts.test.yml");
    if (r.status !== 0) process.stderr.write(r.out);
    expect(r.status).toBe(0);
  });

  (hasPromtool ? it : it.skip)("the scrape example is a valid Prometheus configuration", () => {
    const r = promtool("check", "config", "--syntax-only", "scrape.yml");
    expect(r.status).toBe(0);
  });

  it("every alert has a firing test case and one in the healthy case", () => {
    const tests = parseYaml(readFileSync(join(OPS, "prometheus", "alerts.test.yml"), "utf8")) as {
      tests: { name: string; alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
    };
    const cases = tests.tests.flatMap((t) => t.alert_rule_test);
    for (const rule of rules) {
      expect([rule.alert, cases.some((c) => c.alertname === rule.alert && c.exp_alerts.length > 0)]).toEqual([rule.alert, true]);
      expect([rule.alert, cases.some((c) => c.alertname === rule.alert && c.exp_alerts.length === 0)]).toEqual([rule.alert, true]);
    }
  });

  it("the alerts the issue asks for exist", () => {
    const alerts = rules.map((r) => r.alert);
    for (const a of [
      "LaneSignerDown",
      "LaneHighErrorRate",
      "LaneReadLatencyP99High",
      "LaneFreshnessLag",
      "LaneOutsideMaxAgeRatio",
      "LaneSelfVerifyFailures",
      "LaneKeyDirectoryNearExpiry",
    ]) {
      expect(alerts).toContain(a);
    }
  });
});

describe("ops/: every metric named is one the runtime exports", () => {
  let exported: Set<string>;
  beforeAll(async () => {
    const metrics = new LaneMetrics();
    exported = new Set((await metrics.registry.getMetricsAsJSON()).map((m) => m.name));
    exported.add("up"); // Prometheus's own, per scrape target
  });

  it("finds names in PromQL (the extractor itself)", () => {
    expect(metricNames('sum by (le) (rate(lane_request_duration_seconds_bucket{route=~"a"}[5m])) > 0.005')).toEqual(["lane_request_duration_seconds_bucket"]);
    expect(metricNames("lane_key_directory_expires_timestamp_seconds - time() < 3")).toEqual(["lane_key_directory_expires_timestamp_seconds"]);
    expect(metricNames('up{job="x"} == 0')).toEqual(["up"]);
  });

  it("in the alert rules", () => {
    const names = rules.flatMap((r) => metricNames(r.expr));
    expect(names.length).toBeGreaterThan(rules.length - 1);
    const unknown = names.filter((n) => !exported.has(family(n, exported)));
    expect(unknown).toEqual([]);
  });

  it("in the Grafana dashboard (panels and variables)", () => {
    const exprs = [
      ...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)),
      ...dashboard.templating.list.filter((v) => /label_values\(/.test(v.query)).map((v) => v.query.replace(/label_values\((\w+).*/, "$1")),
    ];
    const names = exprs.flatMap((e) => metricNames(e));
    expect(names).toEqual(expect.arrayContaining(["lane_feature_freshness_seconds_bucket", "lane_entity_status_total", "lane_build_info", "process_cpu_seconds_total"]));
    const unknown = names.filter((n) => !exported.has(family(n, exported)));
    expect(unknown).toEqual([]);
  });

  it("the dashboard is well formed: unique panel ids, a Prometheus data source variable, provisioning yaml", () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(dashboard.templating.list.find((v) => v.name === "datasource")?.query).toBe("prometheus");
    const provider = parseYaml(readFileSync(join(OPS, "grafana", "provisioning", "dashboards.yaml"), "utf8")) as {
      apiVersion: number;
      providers: { type: string; options: { path: string } }[];
    };
    expect(provider.apiVersion).toBe(1);
    expect(provider.providers[0]!.type).toBe("file");
  });
});

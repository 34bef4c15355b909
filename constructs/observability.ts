/**
 * Logs, metrics dashboard and alarms for the lane.
 *
 * Metrics (namespace `ExpressLane`, dimension `job=express-lane`):
 *  - lane_request_duration_seconds / lane_signer_duration_seconds / lane_store_duration_seconds:
 *    distributions published by the histogram exporter (p50/p95/p99 available)
 *  - lane_requests_total by status_class (2xx/4xx/5xx), from the agent's Prometheus scrape
 *  - lane_signer_up (0/1), from the agent's Prometheus scrape
 */
import { Construct } from "constructs";
import { CloudwatchDashboard, CloudwatchLogGroup, CloudwatchMetricAlarm, SnsTopic } from "./aws";
import { AgentConfigOptions, METRIC_NAMESPACE, PROMETHEUS_SCRAPE_JOB } from "./cloudwatch-agent";
import { IGrantable } from "./iam";

export interface ObservabilityProps {
  readonly namePrefix: string;
  readonly region: string;
  readonly readerPort: number;
  /** @default 30 */
  readonly logRetentionDays?: number;
  /** Read latency P99 alarm threshold in seconds. @default 0.005 */
  readonly p99ThresholdSeconds?: number;
  /** 5xx share (percent of requests) that alarms. @default 1 */
  readonly errorRatePercent?: number;
}

const DIMS = { job: PROMETHEUS_SCRAPE_JOB };

export class Observability extends Construct {
  readonly runtimeLogGroup: CloudwatchLogGroup;
  readonly bootstrapLogGroup: CloudwatchLogGroup;
  readonly metricsLogGroup: CloudwatchLogGroup;
  readonly alarmTopic: SnsTopic;
  readonly dashboard: CloudwatchDashboard;
  readonly p99Alarm: CloudwatchMetricAlarm;
  readonly errorRateAlarm: CloudwatchMetricAlarm;
  readonly signerAlarm: CloudwatchMetricAlarm;
  /** Options for the host's CloudWatch agent configuration. */
  readonly agentOptions: AgentConfigOptions;
  readonly namespace = METRIC_NAMESPACE;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    const retention = props.logRetentionDays ?? 30;
    const group = (gid: string, name: string) =>
      new CloudwatchLogGroup(this, gid, { name: `/${props.namePrefix}/${name}`, retentionInDays: retention });
    this.runtimeLogGroup = group("RuntimeLogs", "runtime");
    this.bootstrapLogGroup = group("BootstrapLogs", "bootstrap");
    this.metricsLogGroup = group("MetricsLogs", "prometheus");
    this.agentOptions = {
      readerPort: props.readerPort,
      logRetentionDays: retention,
      // Plain names (not tokens): they are embedded in user data.
      logGroups: { runtime: `/${props.namePrefix}/runtime`, bootstrap: `/${props.namePrefix}/bootstrap`, metrics: `/${props.namePrefix}/prometheus` },
    };

    this.alarmTopic = new SnsTopic(this, "Alarms", { name: `${props.namePrefix}-alarms`, kmsMasterKeyId: "alias/aws/sns" });
    const actions = [this.alarmTopic.arn];

    this.p99Alarm = new CloudwatchMetricAlarm(this, "ReadLatencyP99", {
      alarmName: `${props.namePrefix}-read-latency-p99`,
      alarmDescription: "Read latency P99 above target (single-digit milliseconds)",
      namespace: METRIC_NAMESPACE,
      metricName: "lane_request_duration_seconds",
      dimensions: DIMS,
      extendedStatistic: "p99",
      period: 60,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      threshold: props.p99ThresholdSeconds ?? 0.005,
      comparisonOperator: "GreaterThanThreshold",
      treatMissingData: "notBreaching",
      alarmActions: actions,
      okActions: actions,
    });

    const requests = (mid: string, cls: string) => ({
      id: mid,
      returnData: false,
      metric: { namespace: METRIC_NAMESPACE, metricName: "lane_requests_total", dimensions: { ...DIMS, status_class: cls }, period: 60, stat: "Sum" },
    });
    this.errorRateAlarm = new CloudwatchMetricAlarm(this, "ErrorRate", {
      alarmName: `${props.namePrefix}-5xx-rate`,
      alarmDescription: "Share of 5xx responses above threshold",
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      threshold: props.errorRatePercent ?? 1,
      comparisonOperator: "GreaterThanThreshold",
      treatMissingData: "notBreaching",
      alarmActions: actions,
      okActions: actions,
      metricQuery: [
        requests("r2", "2xx"),
        requests("r4", "4xx"),
        requests("r5", "5xx"),
        { id: "rate", expression: "100 * FILL(r5, 0) / (FILL(r2, 0) + FILL(r4, 0) + FILL(r5, 0) + 0.000001)", label: "5xx %", returnData: true },
      ],
    });

    this.signerAlarm = new CloudwatchMetricAlarm(this, "SignerUnavailable", {
      alarmName: `${props.namePrefix}-signer-unavailable`,
      alarmDescription: "Enclave signer unreachable from a runtime (lane_signer_up < 1) or metrics missing",
      namespace: METRIC_NAMESPACE,
      metricName: "lane_signer_up",
      dimensions: DIMS,
      statistic: "Minimum",
      period: 60,
      evaluationPeriods: 2,
      threshold: 1,
      comparisonOperator: "LessThanThreshold",
      treatMissingData: "breaching",
      alarmActions: actions,
      okActions: actions,
    });

    const m = (name: string, stat: string, label: string, extra: Record<string, string> = {}) => [
      METRIC_NAMESPACE,
      name,
      "job",
      PROMETHEUS_SCRAPE_JOB,
      ...Object.entries(extra).flat(),
      { stat, label, region: props.region },
    ];
    const widget = (title: string, metrics: unknown[][], x: number, y: number, extra: Record<string, unknown> = {}) => ({
      type: "metric",
      x,
      y,
      width: 12,
      height: 6,
      properties: { title, region: props.region, view: "timeSeries", period: 60, metrics, ...extra },
    });
    const pct = (name: string) => ["p50", "p95", "p99"].map((p) => m(name, p, p.toUpperCase()));
    this.dashboard = new CloudwatchDashboard(this, "Dashboard", {
      dashboardName: `${props.namePrefix}`,
      dashboardBody: JSON.stringify({
        widgets: [
          widget("Read latency (s) P50/P95/P99", pct("lane_request_duration_seconds"), 0, 0, {
            annotations: { horizontal: [{ label: "P99 target", value: props.p99ThresholdSeconds ?? 0.005 }] },
          }),
          widget(
            "Requests/s by status class",
            [
              ...["2xx", "4xx", "5xx"].map((c): unknown[] => [METRIC_NAMESPACE, "lane_requests_total", "job", PROMETHEUS_SCRAPE_JOB, "status_class", c, { stat: "Sum", id: `r${c[0]}`, visible: false }]),
              [{ expression: "(FILL(r2,0)+FILL(r4,0)+FILL(r5,0))/PERIOD(r2)", label: "req/s", id: "rps" }],
            ],
            12,
            0,
          ),
          widget("Errors (5xx and 4xx per minute)", [m("lane_requests_total", "Sum", "5xx", { status_class: "5xx" }), m("lane_requests_total", "Sum", "4xx", { status_class: "4xx" })], 0, 6),
          widget("Signer up (min over hosts)", [m("lane_signer_up", "Minimum", "signer up")], 12, 6),
          widget("Signer latency (s) P50/P95/P99", pct("lane_signer_duration_seconds"), 0, 12),
          widget("Store (S3 Express) latency (s) P50/P95/P99", pct("lane_store_duration_seconds"), 12, 12),
        ],
      }),
    });
  }

  /** Lets hosts write their log groups and publish metrics in the lane namespace only. */
  grantPublish(grantee: IGrantable): void {
    const groups = [this.runtimeLogGroup, this.bootstrapLogGroup, this.metricsLogGroup];
    grantee.grantPrincipal.addToPrincipalPolicy({
      sid: "WriteLaneLogs",
      actions: ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams", "logs:PutRetentionPolicy"],
      resources: groups.flatMap((g) => [g.arn, `${g.arn}:*`]),
    });
    grantee.grantPrincipal.addToPrincipalPolicy({
      // PutMetricData supports no resource-level permissions; scoped by namespace instead.
      sid: "PutLaneMetrics",
      actions: ["cloudwatch:PutMetricData"],
      resources: ["*"],
      conditions: { StringEquals: { "cloudwatch:namespace": METRIC_NAMESPACE } },
    });
  }
}

/**
 * Logs, metrics dashboard and alarms for the lane.
 *
 * Metrics (namespace `ExpressLane`, dimension `job=express-lane`):
 *  - lane_request_duration_seconds / lane_signer_duration_seconds / lane_store_duration_seconds:
 *    distributions published by the histogram exporter (p50/p95/p99 available)
 *  - lane_requests_total by status_class (2xx/4xx/5xx), from the agent's Prometheus scrape
 *  - lane_signer_up (0/1), from the agent's Prometheus scrape
 *  - lane_entity_status_total by view and status (found, outside_max_age, not_found, refused),
 *    lane_push_rows_total by view and result, lane_self_verify_failures_total, lane_signer_keys by
 *    kind, process_cpu_seconds_total and nodejs_eventloop_lag_p99_seconds (prom-client's standard
 *    names): the agent's Prometheus scrape (cloudwatch-agent.ts METRIC_DECLARATIONS)
 *  - lane_canary_success (0/1), from the hosts' canary timer (constructs/host-units.ts)
 *  - lane_kms_errors, lane_create_session_errors: CloudWatch Logs metric filters on the runtime log
 *
 * Paging: one SNS topic encrypted with a customer managed key whose policy lets CloudWatch alarms
 * and EventBridge use it, and configurable subscriptions (email / https).
 */
import { Construct } from "constructs";
import {
  CloudwatchDashboard,
  CloudwatchEventRule,
  CloudwatchEventTarget,
  CloudwatchLogGroup,
  CloudwatchLogMetricFilter,
  CloudwatchMetricAlarm,
  SnsTopic,
  SnsTopicPolicy,
  SnsTopicSubscription,
} from "./aws";
import { AgentConfigOptions, METRIC_NAMESPACE, PROMETHEUS_SCRAPE_JOB } from "./cloudwatch-agent";
import { combineGrants, Grant, grantOnPrincipal, IGrantable, renderPolicyDocument } from "./iam";
import { METRIC_NAMESPACE_CONDITION_KEY } from "./perms";
import { Key } from "./key";

/** Where alarm notifications go. SNS asks an email endpoint to confirm the subscription. */
export interface AlarmSubscription {
  readonly protocol: "email" | "https";
  readonly endpoint: string;
}

/** The hosts the host alarms watch (constructs/enclave-hosts.ts). */
export interface WatchedHosts {
  readonly loadBalancerArnSuffix: string;
  readonly targetGroupArnSuffix: string;
  readonly autoScalingGroupName: string;
  readonly hostCount: number;
}

/**
 * CloudWatch Logs metric filter patterns on the runtime's log (pino JSON lines).
 *  - KMS: the signer's seal-key provisioning (KMS Decrypt with the enclave's attestation) failed
 *    for any reason but a missing wrapped-keys file (first deploy: no keys published yet).
 *  - CreateSession: runtime/store/express-session.ts's failure line.
 */
export const KMS_ERROR_PATTERN = '{ ($.msg = "signer key provisioning failed*") && ($.err != "ENOENT*") }';
// "create_session_failed": runtime/store/express-session.ts CREATE_SESSION_FAILED_EVENT (constructs/
// may not import runtime/; test/constructs/log-patterns.test.ts checks the two agree).
export const CREATE_SESSION_ERROR_PATTERN = '{ $.event = "create_session_failed" }';

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
  /** Administrators of the alarm topic's key (role ARNs; no cryptographic use). */
  readonly keyAdmins: readonly string[];
  /** Principals that operate the alarm topic's key (the deploy role: lifecycle, no use). @default none */
  readonly keyOperators?: readonly string[];
  /** Principals that may read the alarm topic's key (the plan role refreshes it before an approval). @default none */
  readonly keyReaders?: readonly string[];
  /** The account (for the confused-deputy conditions on service principals). */
  readonly accountId: string;
  /** Who gets paged. @default none (add subscriptions before relying on the alarms) */
  readonly alarmSubscriptions?: readonly AlarmSubscription[];
  /** Name prefix of the hosts' Auto Scaling group (failed launches are matched by it). @default `{namePrefix}-hosts-` */
  readonly autoScalingGroupNamePrefix?: string;
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
  readonly canaryAlarm: CloudwatchMetricAlarm;
  readonly kmsErrorsAlarm: CloudwatchMetricAlarm;
  readonly createSessionErrorsAlarm: CloudwatchMetricAlarm;
  readonly selfVerifyAlarm: CloudwatchMetricAlarm;
  /** Host alarms, once `watchHosts` has run. */
  readonly hostAlarms: CloudwatchMetricAlarm[] = [];
  readonly alarmKey: Key;
  readonly subscriptions: readonly SnsTopicSubscription[];
  /** EventBridge rule: EC2 Auto Scaling launches that failed, straight to the topic. */
  readonly failedLaunchRule: CloudwatchEventRule;
  /** Options for the host's CloudWatch agent configuration. */
  readonly agentOptions: AgentConfigOptions;
  readonly namespace = METRIC_NAMESPACE;
  private readonly namePrefix: string;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    this.namePrefix = props.namePrefix;
    const retention = props.logRetentionDays ?? 30;
    const group = (gid: string, name: string) => new CloudwatchLogGroup(this, gid, { name: `/${props.namePrefix}/${name}`, retentionInDays: retention });
    this.runtimeLogGroup = group("RuntimeLogs", "runtime");
    this.bootstrapLogGroup = group("BootstrapLogs", "bootstrap");
    this.metricsLogGroup = group("MetricsLogs", "prometheus");
    this.agentOptions = {
      readerPort: props.readerPort,
      logRetentionDays: retention,
      // Plain names (not tokens): they are embedded in user data.
      logGroups: { runtime: `/${props.namePrefix}/runtime`, bootstrap: `/${props.namePrefix}/bootstrap`, metrics: `/${props.namePrefix}/prometheus` },
    };

    // A customer managed key, because the AWS managed key's policy (alias/aws/sns) cannot name
    // CloudWatch: "Several AWS services publish events to Amazon SNS topics. To allow these event
    // sources to work with encrypted topics, you must perform the following steps: 1. Create a
    // customer master key (CMK). 2. To allow the AWS service feature to have the
    // kms:GenerateDataKey* and kms:Decrypt permissions, add the following statement to the policy
    // of the CMK using the correct service principal" (SNS Developer Guide, "Enable compatibility
    // between event sources from AWS services and encrypted topics",
    // https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services).
    this.alarmKey = new Key(this, "AlarmTopicKey", {
      description: `Express Lane ${props.namePrefix}: alarm topic encryption`,
      admins: props.keyAdmins,
      operators: props.keyOperators,
      readers: props.keyReaders,
      alias: `${props.namePrefix}-alarms`,
      tags: { ExpressLaneKeyRole: "alarms" },
    });
    const alarmArns = `arn:aws:cloudwatch:${props.region}:${props.accountId}:alarm:${props.namePrefix}-*`;
    this.alarmKey.addToResourcePolicy({
      sid: "CloudWatchAlarmsPublish",
      actions: ["kms:Decrypt", "kms:GenerateDataKey*"],
      principals: { Service: ["cloudwatch.amazonaws.com"] },
      conditions: { StringEquals: { "aws:SourceAccount": props.accountId }, ArnLike: { "aws:SourceArn": alarmArns } },
    });
    // EventBridge (failed launches below) the same way; its KMS requests carry no
    // aws:SourceArn/SourceAccount, so no such conditions here (EventBridge User Guide, resource-based
    // policies for Amazon SNS targets: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sns-permissions).
    this.alarmKey.addToResourcePolicy({
      sid: "EventBridgePublish",
      actions: ["kms:Decrypt", "kms:GenerateDataKey*"],
      principals: { Service: ["events.amazonaws.com"] },
    });
    this.alarmTopic = new SnsTopic(this, "Alarms", { name: `${props.namePrefix}-alarms`, kmsMasterKeyId: this.alarmKey.keyArn });
    const actions = [this.alarmTopic.arn];
    this.subscriptions = (props.alarmSubscriptions ?? []).map(
      (sub, i) => new SnsTopicSubscription(this, `Subscription${i}`, { topicArn: this.alarmTopic.arn, protocol: sub.protocol, endpoint: sub.endpoint }),
    );

    // Failed launches (capacity, a broken launch template, an AMI gone) as they happen.
    const asgPrefix = props.autoScalingGroupNamePrefix ?? `${props.namePrefix}-hosts-`;
    this.failedLaunchRule = new CloudwatchEventRule(this, "FailedLaunches", {
      name: `${props.namePrefix}-failed-launches`,
      description: "EC2 Auto Scaling could not launch a lane host",
      eventPattern: JSON.stringify({
        source: ["aws.autoscaling"],
        "detail-type": ["EC2 Instance Launch Unsuccessful"],
        detail: { AutoScalingGroupName: [{ prefix: asgPrefix }] },
      }),
    });
    new CloudwatchEventTarget(this, "FailedLaunchesToTopic", { rule: this.failedLaunchRule.name, arn: this.alarmTopic.arn, targetId: "alarm-topic" });
    new SnsTopicPolicy(this, "AlarmsPolicy", {
      arn: this.alarmTopic.arn,
      policy: renderPolicyDocument([
        {
          sid: "CloudWatchAlarmsPublish",
          actions: ["sns:Publish"],
          principals: { Service: ["cloudwatch.amazonaws.com"] },
          resources: [this.alarmTopic.arn],
          conditions: { StringEquals: { "aws:SourceAccount": props.accountId }, ArnLike: { "aws:SourceArn": alarmArns } },
        },
        {
          sid: "EventBridgePublish",
          actions: ["sns:Publish"],
          principals: { Service: ["events.amazonaws.com"] },
          resources: [this.alarmTopic.arn],
          conditions: { ArnEquals: { "aws:SourceArn": this.failedLaunchRule.arn } },
        },
      ]),
    });

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

    // The canary publishes 1 per verified signed read per host per minute: any 0, or no data
    // (canary or host down), pages.
    this.canaryAlarm = new CloudwatchMetricAlarm(this, "CanaryFailing", {
      alarmName: `${props.namePrefix}-canary-failing`,
      alarmDescription: "Synthetic signed read did not verify end to end (express-lane attest + verify) on some host, or no canary result",
      namespace: METRIC_NAMESPACE,
      metricName: "lane_canary_success",
      dimensions: DIMS,
      statistic: "Minimum",
      period: 60,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      threshold: 1,
      comparisonOperator: "LessThanThreshold",
      treatMissingData: "breaching",
      alarmActions: actions,
      okActions: actions,
    });

    const logAlarm = (aid: string, metricName: string, pattern: string, alarmName: string, description: string) => {
      new CloudwatchLogMetricFilter(this, `${aid}Filter`, {
        name: `${props.namePrefix}-${metricName}`,
        logGroupName: this.runtimeLogGroup.name,
        pattern,
        metricTransformation: { name: metricName, namespace: METRIC_NAMESPACE, value: "1", defaultValue: "0", unit: "Count" },
      });
      return new CloudwatchMetricAlarm(this, aid, {
        alarmName: `${props.namePrefix}-${alarmName}`,
        alarmDescription: description,
        namespace: METRIC_NAMESPACE,
        metricName,
        statistic: "Sum",
        period: 60,
        evaluationPeriods: 5,
        datapointsToAlarm: 2,
        threshold: 0,
        comparisonOperator: "GreaterThanThreshold",
        treatMissingData: "notBreaching",
        alarmActions: actions,
        okActions: actions,
      });
    };
    this.kmsErrorsAlarm = logAlarm("KmsErrors", "lane_kms_errors", KMS_ERROR_PATTERN, "kms-errors", "Signer seal-key provisioning (KMS Decrypt with attestation) failing");
    this.createSessionErrorsAlarm = logAlarm(
      "CreateSessionErrors",
      "lane_create_session_errors",
      CREATE_SESSION_ERROR_PATTERN,
      "create-session-errors",
      "S3 Express CreateSession failing on a host (reads fail once the current session expires)",
    );

    // A signed answer that failed the runtime's own verification (withheld as 503): never expected.
    this.selfVerifyAlarm = new CloudwatchMetricAlarm(this, "SelfVerifyFailures", {
      alarmName: `${props.namePrefix}-self-verify-failures`,
      alarmDescription: "A signed answer did not verify with the signer's key in the runtime's sampled self-check (lane_self_verify_failures_total)",
      namespace: METRIC_NAMESPACE,
      metricName: "lane_self_verify_failures_total",
      dimensions: DIMS,
      statistic: "Sum",
      period: 60,
      evaluationPeriods: 1,
      threshold: 0,
      comparisonOperator: "GreaterThanThreshold",
      treatMissingData: "notBreaching",
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
              ...["2xx", "4xx", "5xx"].map((c): unknown[] => [
                METRIC_NAMESPACE,
                "lane_requests_total",
                "job",
                PROMETHEUS_SCRAPE_JOB,
                "status_class",
                c,
                { stat: "Sum", id: `r${c[0]}`, visible: false },
              ]),
              [{ expression: "(FILL(r2,0)+FILL(r4,0)+FILL(r5,0))/PERIOD(r2)", label: "req/s", id: "rps" }],
            ],
            12,
            0,
          ),
          widget(
            "Errors (5xx and 4xx per minute)",
            [m("lane_requests_total", "Sum", "5xx", { status_class: "5xx" }), m("lane_requests_total", "Sum", "4xx", { status_class: "4xx" })],
            0,
            6,
          ),
          widget("Signer up (min over hosts)", [m("lane_signer_up", "Minimum", "signer up")], 12, 6),
          widget("Signer latency (s) P50/P95/P99", pct("lane_signer_duration_seconds"), 0, 12),
          widget("Store (S3 Express) latency (s) P50/P95/P99", pct("lane_store_duration_seconds"), 12, 12),
          widget("Canary: signed read verified (min over hosts)", [m("lane_canary_success", "Minimum", "canary ok")], 0, 18),
          widget(
            "KMS / CreateSession errors (per minute)",
            [
              [METRIC_NAMESPACE, "lane_kms_errors", { stat: "Sum", label: "KMS (seal-key provisioning)", region: props.region }],
              [METRIC_NAMESPACE, "lane_create_session_errors", { stat: "Sum", label: "CreateSession", region: props.region }],
            ],
            12,
            18,
          ),
          // Per view: one line per view the registry knows (the runtime folds others into "other").
          widget(
            "Entities OUTSIDE_MAX_AGE / NOT_FOUND by view (per minute)",
            ["outside_max_age", "not_found"].map((status) => [
              {
                expression: `SEARCH('{${METRIC_NAMESPACE},job,status,view} MetricName="lane_entity_status_total" status="${status}"', 'Sum', 60)`,
                label: status,
                id: status === "not_found" ? "nf" : "oma",
              },
            ]),
            0,
            24,
          ),
          widget(
            "Push rows by view and result (per minute)",
            [[{ expression: `SEARCH('{${METRIC_NAMESPACE},job,result,view} MetricName="lane_push_rows_total"', 'Sum', 60)`, label: "push rows", id: "push" }]],
            12,
            24,
          ),
          widget(
            "Self-verify failures; signer keys held",
            [
              m("lane_self_verify_failures_total", "Sum", "self-verify failures"),
              m("lane_signer_keys", "Minimum", "writer keys", { kind: "writer" }),
              m("lane_signer_keys", "Minimum", "lane keys", { kind: "lane" }),
            ],
            0,
            30,
          ),
          widget(
            "Runtime CPU (s/s) and event loop lag p99 (s)",
            [m("process_cpu_seconds_total", "Sum", "CPU seconds"), m("nodejs_eventloop_lag_p99_seconds", "Maximum", "event loop lag p99")],
            12,
            30,
          ),
        ],
      }),
    });
  }

  /**
   * Host alarms: targets unhealthy, fewer healthy targets than hosts, fewer in-service instances
   * than desired (launches failing or hosts replaced in a loop).
   */
  watchHosts(hosts: WatchedHosts): void {
    const actions = [this.alarmTopic.arn];
    const nlb = { TargetGroup: hosts.targetGroupArnSuffix, LoadBalancer: hosts.loadBalancerArnSuffix };
    const alarm = (
      aid: string,
      o: {
        name: string;
        description: string;
        namespace: string;
        metricName: string;
        dimensions: Record<string, string>;
        statistic: string;
        threshold: number;
        comparisonOperator: string;
      },
    ) =>
      this.hostAlarms.push(
        new CloudwatchMetricAlarm(this, aid, {
          alarmName: o.name,
          alarmDescription: o.description,
          namespace: o.namespace,
          metricName: o.metricName,
          dimensions: o.dimensions,
          statistic: o.statistic,
          period: 60,
          evaluationPeriods: 5,
          datapointsToAlarm: 3,
          threshold: o.threshold,
          comparisonOperator: o.comparisonOperator,
          treatMissingData: "breaching",
          alarmActions: actions,
          okActions: actions,
        }),
      );
    alarm("UnhealthyHosts", {
      name: `${this.namePrefix}-unhealthy-hosts`,
      description: "NLB health check (/health/ready) failing on some host: signer dead or without keys, store unreachable, or runtime down",
      namespace: "AWS/NetworkELB",
      metricName: "UnHealthyHostCount",
      dimensions: nlb,
      statistic: "Maximum",
      threshold: 0,
      comparisonOperator: "GreaterThanThreshold",
    });
    alarm("HealthyHostsBelowCount", {
      name: `${this.namePrefix}-healthy-hosts-low`,
      description: `Fewer than ${hosts.hostCount} healthy targets behind the NLB`,
      namespace: "AWS/NetworkELB",
      metricName: "HealthyHostCount",
      dimensions: nlb,
      statistic: "Minimum",
      threshold: hosts.hostCount,
      comparisonOperator: "LessThanThreshold",
    });
    // Group metrics need enabled_metrics on the group (enclave-hosts.ts sets them).
    alarm("InServiceBelowDesired", {
      name: `${this.namePrefix}-hosts-in-service-low`,
      description: `Fewer than ${hosts.hostCount} in-service hosts: launches failing or hosts being replaced`,
      namespace: "AWS/AutoScaling",
      metricName: "GroupInServiceInstances",
      dimensions: { AutoScalingGroupName: hosts.autoScalingGroupName },
      statistic: "Minimum",
      threshold: hosts.hostCount,
      comparisonOperator: "LessThanThreshold",
    });
  }

  /** Lets hosts write their log groups and publish metrics in the lane namespace only. */
  grantPublish(grantee: IGrantable): Grant {
    const groups = [this.runtimeLogGroup, this.bootstrapLogGroup, this.metricsLogGroup];
    const logs = grantOnPrincipal(grantee, {
      sid: "WriteLaneLogs",
      actions: ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams", "logs:PutRetentionPolicy"],
      resources: groups.flatMap((g) => [g.arn, `${g.arn}:*`]),
    });
    const metrics = grantOnPrincipal(grantee, {
      // PutMetricData supports no resource-level permissions; scoped by namespace instead.
      sid: "PutLaneMetrics",
      actions: ["cloudwatch:PutMetricData"],
      resources: ["*"],
      conditions: { StringEquals: { [METRIC_NAMESPACE_CONDITION_KEY]: METRIC_NAMESPACE } },
    });
    return combineGrants(logs, metrics);
  }
}

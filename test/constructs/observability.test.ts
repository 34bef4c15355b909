import { TerraformStack, Testing } from "cdktf";
import { Role } from "../../constructs/iam";
import { Observability, type ObservabilityProps } from "../../constructs/observability";
import { METRIC_NAMESPACE } from "../../constructs/cloudwatch-agent";

const props: ObservabilityProps = {
  namePrefix: "express-lane",
  region: "ap-south-1",
  readerPort: 8080,
  keyAdmins: ["arn:aws:iam::111122223333:role/admin"],
  accountId: "111122223333",
};

function build(over: Partial<ObservabilityProps> = {}, hosts = true) {
  const s = new TerraformStack(Testing.app(), "s");
  const obs = new Observability(s, "obs", { ...props, ...over });
  if (hosts) obs.watchHosts({ loadBalancerArnSuffix: "net/nlb/1", targetGroupArnSuffix: "targetgroup/tg/2", autoScalingGroupName: "express-lane-hosts-1", hostCount: 2 });
  const tf = JSON.parse(Testing.synth(s)) as { resource: Record<string, Record<string, Record<string, unknown>>> };
  const all = (type: string) => Object.values(tf.resource[type] ?? {});
  return { s, obs, all };
}

describe("Observability", () => {
  const { obs, all } = build();
  const alarms = all("aws_cloudwatch_metric_alarm") as Array<Record<string, unknown>>;
  const alarm = (name: string) => alarms.find((a) => a.alarm_name === `express-lane-${name}`)!;

  it("three log groups under the prefix, each with the retention (what the agent writes to)", () => {
    const groups = all("aws_cloudwatch_log_group") as Array<{ name: string; retention_in_days: number }>;
    expect(groups.map((g) => g.name).sort()).toEqual(["/express-lane/bootstrap", "/express-lane/prometheus", "/express-lane/runtime"]);
    for (const g of groups) expect(g.retention_in_days).toBe(30);
    expect(obs.agentOptions.logGroups).toEqual({ runtime: "/express-lane/runtime", bootstrap: "/express-lane/bootstrap", metrics: "/express-lane/prometheus" });
  });

  it("every alarm notifies the encrypted topic on alarm and on recovery", () => {
    expect(alarms.length).toBeGreaterThanOrEqual(10);
    for (const a of alarms) {
      expect(a.alarm_actions).toEqual([expect.stringMatching(/aws_sns_topic\..*\.arn/)]);
      expect(a.ok_actions).toEqual(a.alarm_actions);
    }
    expect(all("aws_sns_topic")[0]).toMatchObject({ name: "express-lane-alarms", kms_master_key_id: expect.stringMatching(/aws_kms_key\./) });
  });

  it("missing data is an alarm where silence means a dead signer, canary or host; not where it means no traffic", () => {
    expect(alarm("signer-unavailable").treat_missing_data).toBe("breaching");
    expect(alarm("canary-failing").treat_missing_data).toBe("breaching");
    expect(alarm("unhealthy-hosts").treat_missing_data).toBe("breaching");
    expect(alarm("read-latency-p99").treat_missing_data).toBe("notBreaching");
    expect(alarm("5xx-rate").treat_missing_data).toBe("notBreaching");
  });

  it("the P99 alarm watches the read latency histogram at the configured threshold", () => {
    expect(alarm("read-latency-p99")).toMatchObject({ namespace: METRIC_NAMESPACE, metric_name: "lane_request_duration_seconds", extended_statistic: "p99", threshold: 0.005 });
    const custom = build({ p99ThresholdSeconds: 0.008, errorRatePercent: 2 }, false).all("aws_cloudwatch_metric_alarm") as Array<Record<string, unknown>>;
    expect(custom.find((a) => a.alarm_name === "express-lane-read-latency-p99")!.threshold).toBe(0.008);
    expect(custom.find((a) => a.alarm_name === "express-lane-5xx-rate")!.threshold).toBe(2);
  });

  it("host alarms compare against the host count", () => {
    expect(alarm("healthy-hosts-low")).toMatchObject({ threshold: 2, comparison_operator: "LessThanThreshold", namespace: "AWS/NetworkELB" });
    expect(alarm("hosts-in-service-low")).toMatchObject({ threshold: 2, dimensions: { AutoScalingGroupName: "express-lane-hosts-1" } });
    expect(obs.hostAlarms).toHaveLength(3);
  });

  it("only CloudWatch alarms of this account and prefix, and the failed-launch rule, may publish to the topic", () => {
    const policy = JSON.parse(all("aws_sns_topic_policy")[0]!.policy as string).Statement as Array<Record<string, unknown>>;
    expect(policy).toHaveLength(2);
    expect(policy[0]).toMatchObject({
      Principal: { Service: "cloudwatch.amazonaws.com" },
      Condition: { StringEquals: { "aws:SourceAccount": "111122223333" }, ArnLike: { "aws:SourceArn": "arn:aws:cloudwatch:ap-south-1:111122223333:alarm:express-lane-*" } },
    });
    expect(policy[1]).toMatchObject({
      Principal: { Service: "events.amazonaws.com" },
      Condition: { ArnEquals: { "aws:SourceArn": expect.stringMatching(/aws_cloudwatch_event_rule\./) } },
    });
  });

  it("failed launches of the lane's group go straight to the topic", () => {
    const rule = all("aws_cloudwatch_event_rule")[0]!;
    expect(JSON.parse(rule.event_pattern as string)).toEqual({
      source: ["aws.autoscaling"],
      "detail-type": ["EC2 Instance Launch Unsuccessful"],
      detail: { AutoScalingGroupName: [{ prefix: "express-lane-hosts-" }] },
    });
  });

  it("subscriptions are created as given", () => {
    const subs = build({ alarmSubscriptions: [{ protocol: "email", endpoint: "oncall@example.com" }] }, false).all("aws_sns_topic_subscription");
    expect(subs).toEqual([expect.objectContaining({ protocol: "email", endpoint: "oncall@example.com" })]);
  });

  it("grantPublish: hosts write the three log groups and put metrics in the lane namespace only", () => {
    const { s, obs: o } = build({}, false);
    const host = new Role(s, "host", { roleName: "host", assumedBy: [] });
    const grant = o.grantPublish(host);
    expect(grant.resources.filter((r) => r !== "*")).toHaveLength(6);
    const put = host.policyStatements.find((st) => st.sid === "PutLaneMetrics")!;
    expect(put.conditions).toEqual({ StringEquals: { "cloudwatch:namespace": METRIC_NAMESPACE } });
    expect(host.policyStatements.find((st) => st.sid === "WriteLaneLogs")!.actions).not.toContain("logs:CreateLogGroup");
  });
});

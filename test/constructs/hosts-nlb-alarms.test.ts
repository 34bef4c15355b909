/**
 * The synthesized lane: how hosts are health-checked, reached, rolled out and watched.
 */
import { asList, Json, one, resources, statements, synthStacks } from "../stacks/helpers";
import { CREATE_SESSION_ERROR_PATTERN, KMS_ERROR_PATTERN } from "../../constructs/observability";

const s = synthStacks();
const lane = s.laneJson;
const CERT = "arn:aws:acm:ap-south-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b";

describe("NLB", () => {
  test("health check is HTTP GET /health/ready expecting 200, not a TCP connect", () => {
    const hc = one(lane, "aws_lb_target_group").health_check;
    expect(hc).toEqual(expect.objectContaining({ enabled: true, protocol: "HTTP", path: "/health/ready", port: "traffic-port", matcher: "200" }));
  });

  test("with a certificate: a TLS listener on 443 (TLS 1.2/1.3 policy) in front of the reader port", () => {
    const tls = synthStacks({ tlsCertificateArn: CERT });
    const listener = one(tls.laneJson, "aws_lb_listener");
    expect(listener).toEqual(expect.objectContaining({ port: 443, protocol: "TLS", certificate_arn: CERT, ssl_policy: "ELBSecurityPolicy-TLS13-1-2-2021-06" }));
    expect(one(tls.laneJson, "aws_lb_target_group")).toEqual(expect.objectContaining({ port: 8080, protocol: "TCP" }));
    expect(tls.laneJson.output.reader_endpoint.value).toMatch(/^https:\/\/\$\{aws_lb\..*\.dns_name\}:443$/);
  });

  test("PrivateLink endpoint service on the NLB: acceptance required, only configured principals", () => {
    const none = one(lane, "aws_vpc_endpoint_service");
    expect(none.acceptance_required).toBe(true);
    expect(none.allowed_principals).toEqual([]);
    expect(none.network_load_balancer_arns).toEqual([expect.stringMatching(/^\$\{aws_lb\./)]);
    const shared = synthStacks({ endpointServiceAllowedPrincipals: "arn:aws:iam::111122223333:root" });
    expect(one(shared.laneJson, "aws_vpc_endpoint_service").allowed_principals).toEqual(["arn:aws:iam::111122223333:root"]);
    expect(lane.output.reader_endpoint_service.value).toMatch(/aws_vpc_endpoint_service\..*\.service_name/);
  });
});

describe("rollouts", () => {
  const asg = one(lane, "aws_autoscaling_group");

  test("instance refresh keeps 100 % healthy, may go to 200 %, and rolls back on failure", () => {
    expect(asg.instance_refresh).toEqual(
      expect.objectContaining({
        strategy: "Rolling",
        preferences: expect.objectContaining({ min_healthy_percentage: 100, max_healthy_percentage: 200, auto_rollback: true }),
      }),
    );
    expect(asg.max_size).toBe(2 * asg.desired_capacity);
    // rollback needs a concrete launch template version, not $Latest/$Default
    expect(asg.launch_template.version).toMatch(/^\$\{aws_launch_template\..*\.latest_version\}$/);
  });

  test("once wrapped seal keys are published: ELB health and the apply waits for every host to be healthy", () => {
    const objects = Object.values(lane.data.aws_s3_objects as Record<string, Json>);
    expect(objects).toEqual([expect.objectContaining({ bucket: "express-lane-artifacts-ap-south-1", prefix: "seal-keys/wrapped.json" })]);
    expect(asg.health_check_type).toMatch(/^\$\{\(length\(data\.aws_s3_objects\.[^)]*\.keys\) >= 1\) \? "ELB" : "EC2"\}$/);
    expect(asg.wait_for_elb_capacity).toMatch(/^\$\{\(length\(data\.aws_s3_objects\.[^)]*\.keys\) >= 1\) \? 1 : 0\}$/);
    expect(synthStacks({ hostCount: 3 }).laneJson.resource.aws_autoscaling_group).toEqual(
      expect.objectContaining({ [Object.keys(lane.resource.aws_autoscaling_group)[0]]: expect.objectContaining({ wait_for_elb_capacity: expect.stringMatching(/\? 3 : 0\}$/) }) }),
    );
    expect(asg.enabled_metrics).toContain("GroupInServiceInstances");
  });
});

describe("hosts' permissions for API keys", () => {
  test("the host role reads exactly the API keys and canary key parameters", () => {
    const hostPolicy = resources(lane, "aws_iam_role_policy").find((p) => String(p.role).includes("Hosts_Role"))!;
    const st = statements(hostPolicy.policy).find((x) => x.Sid === "ReadApiKeyParameters")!;
    expect(st.Action).toBe("ssm:GetParameter");
    expect(asList(st.Resource)).toEqual([
      expect.stringMatching(/^arn:aws:ssm:ap-south-1:\$\{data\.aws_caller_identity\..*\}:parameter\/express-lane\/api-keys$/),
      expect.stringMatching(/:parameter\/express-lane\/canary-api-key$/),
    ]);
  });
});

describe("paging", () => {
  const topic = one(lane, "aws_sns_topic");
  const alarmKey = resources(lane, "aws_kms_key").find((k) => k.tags?.ExpressLaneKeyRole === "alarms")!;

  test("the alarm topic is encrypted with its own customer managed key, not alias/aws/sns", () => {
    expect(topic.kms_master_key_id).not.toMatch(/alias\/aws\/sns/);
    expect(topic.kms_master_key_id).toMatch(/^\$\{aws_kms_key\.Observability_AlarmTopicKey_.*\.arn\}$/);
    expect(alarmKey.enable_key_rotation).toBe(true);
  });

  test("the key lets CloudWatch (this account's lane alarms) and EventBridge use it for the topic, nothing more", () => {
    const st = statements(alarmKey.policy);
    const cw = st.find((x) => x.Sid === "CloudWatchAlarmsPublish")!;
    expect(cw.Principal).toEqual({ Service: "cloudwatch.amazonaws.com" });
    expect(asList(cw.Action).sort()).toEqual(["kms:Decrypt", "kms:GenerateDataKey*"]);
    expect(cw.Condition.StringEquals["aws:SourceAccount"]).toMatch(/aws_caller_identity/);
    expect(cw.Condition.ArnLike["aws:SourceArn"]).toMatch(/^arn:aws:cloudwatch:ap-south-1:.*:alarm:express-lane-\*$/);
    const eb = st.find((x) => x.Sid === "EventBridgePublish")!;
    expect(eb.Principal).toEqual({ Service: "events.amazonaws.com" });
    expect(st.map((x) => x.Sid).sort()).toEqual(["CloudWatchAlarmsPublish", "EventBridgePublish", "KeyAdministration", "KeyOperation", "KeyRead"]);
  });

  test("the topic policy lets those two publish, scoped to the lane's alarms and its failed-launch rule", () => {
    const st = statements(one(lane, "aws_sns_topic_policy").policy);
    expect(st.map((x) => [x.Principal.Service, x.Action])).toEqual([
      ["cloudwatch.amazonaws.com", "sns:Publish"],
      ["events.amazonaws.com", "sns:Publish"],
    ]);
    expect(st[1].Condition.ArnEquals["aws:SourceArn"]).toMatch(/aws_cloudwatch_event_rule\./);
  });

  test("subscriptions are configurable (email, https); none by default", () => {
    expect(resources(lane, "aws_sns_topic_subscription")).toHaveLength(0);
    const paged = synthStacks({ alarmEmails: "oncall@example.com", alarmHttpsEndpoints: "https://hooks.example.com/sns" });
    expect(resources(paged.laneJson, "aws_sns_topic_subscription").map((x) => [x.protocol, x.endpoint])).toEqual([
      ["email", "oncall@example.com"],
      ["https", "https://hooks.example.com/sns"],
    ]);
  });

  const alarms = Object.fromEntries(resources(lane, "aws_cloudwatch_metric_alarm").map((a) => [a.alarm_name, a])) as Record<string, Json>;

  test("every alarm notifies the topic, on alarm and on recovery", () => {
    expect(Object.keys(alarms).length).toBeGreaterThanOrEqual(9);
    for (const a of Object.values(alarms)) {
      expect(a.alarm_actions).toEqual([expect.stringMatching(/aws_sns_topic\./)]);
      expect(a.ok_actions).toEqual(a.alarm_actions);
    }
  });

  test("unhealthy hosts and fewer healthy/in-service hosts than configured", () => {
    const unhealthy = alarms["express-lane-unhealthy-hosts"];
    expect(unhealthy).toEqual(
      expect.objectContaining({ namespace: "AWS/NetworkELB", metric_name: "UnHealthyHostCount", comparison_operator: "GreaterThanThreshold", threshold: 0 }),
    );
    expect(unhealthy.dimensions).toEqual({
      TargetGroup: expect.stringMatching(/aws_lb_target_group\..*\.arn_suffix/),
      LoadBalancer: expect.stringMatching(/aws_lb\..*\.arn_suffix/),
    });
    expect(alarms["express-lane-healthy-hosts-low"]).toEqual(
      expect.objectContaining({ metric_name: "HealthyHostCount", comparison_operator: "LessThanThreshold", threshold: 1, treat_missing_data: "breaching" }),
    );
    expect(alarms["express-lane-hosts-in-service-low"]).toEqual(
      expect.objectContaining({
        namespace: "AWS/AutoScaling",
        metric_name: "GroupInServiceInstances",
        threshold: 1,
        dimensions: { AutoScalingGroupName: expect.stringMatching(/aws_autoscaling_group\..*\.name/) },
      }),
    );
  });

  test("failed launches go to the topic as they happen (EventBridge)", () => {
    const rule = one(lane, "aws_cloudwatch_event_rule");
    expect(JSON.parse(rule.event_pattern)).toEqual({
      source: ["aws.autoscaling"],
      "detail-type": ["EC2 Instance Launch Unsuccessful"],
      detail: { AutoScalingGroupName: [{ prefix: "express-lane-hosts-" }] },
    });
    expect(one(lane, "aws_autoscaling_group").name_prefix).toBe("express-lane-hosts-");
    expect(one(lane, "aws_cloudwatch_event_target").arn).toMatch(/aws_sns_topic\./);
  });

  test("KMS and CreateSession errors: metric filters on the runtime log, alarms on them", () => {
    const filters = Object.fromEntries(resources(lane, "aws_cloudwatch_log_metric_filter").map((f) => [f.metric_transformation.name, f])) as Record<string, Json>;
    expect(filters.lane_kms_errors.pattern).toBe(KMS_ERROR_PATTERN);
    expect(filters.lane_create_session_errors.pattern).toBe(CREATE_SESSION_ERROR_PATTERN);
    for (const f of Object.values(filters)) {
      expect(f.log_group_name).toMatch(/aws_cloudwatch_log_group\.Observability_RuntimeLogs/);
      expect(f.metric_transformation.namespace).toBe("ExpressLane");
    }
    for (const [name, metric] of [
      ["express-lane-kms-errors", "lane_kms_errors"],
      ["express-lane-create-session-errors", "lane_create_session_errors"],
    ]) {
      expect(alarms[name]).toEqual(
        expect.objectContaining({ metric_name: metric, namespace: "ExpressLane", statistic: "Sum", comparison_operator: "GreaterThanThreshold", threshold: 0 }),
      );
    }
  });

  test("canary: any host's signed read failing to verify, or no result, alarms", () => {
    expect(alarms["express-lane-canary-failing"]).toEqual(
      expect.objectContaining({
        metric_name: "lane_canary_success",
        namespace: "ExpressLane",
        statistic: "Minimum",
        comparison_operator: "LessThanThreshold",
        threshold: 1,
        treat_missing_data: "breaching",
        dimensions: { job: "express-lane" },
      }),
    );
  });
});

test("dashboard shows the canary and the KMS/CreateSession error counts", () => {
  const body = JSON.parse(one(lane, "aws_cloudwatch_dashboard").dashboard_body) as { widgets: Json[] };
  const text = JSON.stringify(body.widgets);
  for (const metric of ["lane_canary_success", "lane_kms_errors", "lane_create_session_errors"]) expect(text).toContain(`"${metric}"`);
});

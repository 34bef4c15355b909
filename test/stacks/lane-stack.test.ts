import "cdktf/lib/testing/adapters/jest";
import { Testing } from "cdktf";
import { asList, Json, one, resources, statements, synthStacks } from "./helpers";
import { LaneMetrics } from "../../runtime/metrics";

const s = synthStacks();
const lane = s.laneJson;
const laneStr = Testing.synth(s.lane);

describe("lane stack: backend", () => {
  test("S3 backend with native lockfile in the state bucket", () => {
    expect(lane.terraform.backend.s3).toEqual(expect.objectContaining({ bucket: "express-lane-tfstate-ap-south-1", use_lockfile: true, encrypt: true, region: "ap-south-1" }));
    expect(lane.terraform.backend.s3.dynamodb_table).toBeUndefined();
  });
});

describe("lane stack: directory bucket", () => {
  test("S3 Express One Zone bucket named {base}--{azid}--x-s3 in the AZ ID, single-AZ", () => {
    expect(laneStr).toHaveResourceWithProperties(
      { tfResourceType: "aws_s3_directory_bucket" },
      {
        bucket: s.config.directoryBucketName,
        data_redundancy: "SingleAvailabilityZone",
        type: "Directory",
        location: [expect.objectContaining({ name: "aps1-az1", type: "AvailabilityZone" })],
      },
    );
  });

  test("SSE-KMS with the lane's own bucket key (not aws/s3)", () => {
    const sse = one(lane, "aws_s3_bucket_server_side_encryption_configuration");
    expect(sse.bucket).toMatch(/aws_s3_directory_bucket\./);
    const rule = asList(sse.rule)[0];
    expect(rule.apply_server_side_encryption_by_default.sse_algorithm).toBe("aws:kms");
    expect(rule.apply_server_side_encryption_by_default.kms_master_key_id).toMatch(/^\$\{aws_kms_key\.Keys_BucketKey_[A-Z0-9]+\.arn\}$/);
    expect(rule.bucket_key_enabled).toBe(true);
  });

  test("bucket policy: hosts ReadOnly sessions, only the writer gets ReadWrite", () => {
    const policy = resources(lane, "aws_s3_bucket_policy").find((p) => String(p.bucket).includes("aws_s3_directory_bucket"));
    expect(policy).toBeDefined();
    const st = statements(policy!.policy);
    const ro = st.find((x) => x.Condition?.StringEquals?.["s3express:SessionMode"] === "ReadOnly" && x.Effect === "Allow");
    expect(ro?.Principal.AWS).toMatch(/aws_iam_role\.Hosts_Role/);
    expect(ro?.Action).toBe("s3express:CreateSession");
    const rw = st.find((x) => x.Condition?.StringEquals?.["s3express:SessionMode"] === "ReadWrite" && x.Effect === "Allow");
    expect(rw?.Principal.AWS).toMatch(/aws_iam_role\.Writer/);
    const deny = st.find((x) => x.Sid === "DenyReadWriteSessionsExceptWriters");
    expect(deny?.Effect).toBe("Deny");
    // Exempt from the deny: the writer, and the deploy role (force_destroy empties the bucket on destroy).
    expect(asList(deny?.Condition.ArnNotEquals["aws:PrincipalArn"])).toEqual([expect.stringMatching(/:role\/express-lane-deploy$/), expect.stringMatching(/aws_iam_role\.Writer/)]);
  });

  test("host identity policy: CreateSession only with s3express:SessionMode = ReadOnly", () => {
    const hostPolicy = resources(lane, "aws_iam_role_policy").find((p) => String(p.role).includes("Hosts_Role"));
    const st = statements(hostPolicy!.policy);
    const cs = st.filter((x) => asList(x.Action).includes("s3express:CreateSession"));
    expect(cs).toHaveLength(1);
    expect(cs[0].Condition).toEqual({ StringEquals: { "s3express:SessionMode": "ReadOnly" } });
    expect(cs[0].Resource).toMatch(/aws_s3_directory_bucket\..*\.arn/);
  });
});

describe("lane stack: keys", () => {
  const keys = resources(lane, "aws_kms_key").filter((k) => k.tags?.ExpressLaneKeyRole !== "alarms"); // alarm topic key: observability
  const bucketKey = keys.find((k) => k.tags?.ExpressLaneKeyRole === "bucket")!;
  // The seal key is created by the bootstrap stack (before the EIF pins its ARN); the lane stack
  // owns its whole policy, with the PCR0 of this release.
  const sealPolicy = one(lane, "aws_kms_key_policy");
  const sealKey = resources(s.bootstrapJson, "aws_kms_key").find((k) => k.tags?.ExpressLaneKeyRole === "seal")!;

  test("the lane creates only the bucket key; the seal key is the bootstrap stack's, found by alias", () => {
    expect(keys).toHaveLength(1);
    expect(bucketKey.enable_key_rotation).toBe(true);
    expect(sealKey.enable_key_rotation).toBe(true);
    expect(sealKey.lifecycle.ignore_changes).toEqual(["policy"]);
    expect(Object.values(lane.data.aws_kms_key)).toEqual([expect.objectContaining({ key_id: "alias/express-lane-seal" })]);
  });

  test("host may Decrypt with the seal key only under the PCR0 attestation condition", () => {
    const st = statements(sealPolicy.policy);
    const decrypts = st.filter((x) => x.Effect === "Allow" && asList(x.Action).some((a: string) => a === "kms:Decrypt" || a === "kms:*"));
    const host = decrypts.filter((x) => /aws_iam_role\.Hosts_Role/.test(JSON.stringify(x.Principal)));
    expect(host).toHaveLength(1);
    expect(host[0].Condition).toEqual({
      StringEqualsIgnoreCase: { "kms:RecipientAttestation:ImageSha384": s.config.measurements.pcr0 },
      StringEquals: { "kms:EncryptionContext:purpose": ["express-lane-seal", "express-lane-lane-key"] },
    });
    expect(sealPolicy.key_id).toMatch(/data\.aws_kms_key\.SealKey\.arn/);
  });

  test("writer may publish and read the wrapped seal keys, nothing else in the artifact bucket", () => {
    const writerPolicy = resources(lane, "aws_iam_role_policy").find((p) => String(p.role).includes("Writer"))!;
    const artifact = statements(writerPolicy.policy).filter((x) => asList(x.Resource).some((r: string) => /express-lane-artifacts/.test(r)));
    const objects = artifact.filter((x) => !asList(x.Action).includes("s3:ListBucket"));
    expect(objects.flatMap((x) => asList(x.Resource))).toEqual([
      "arn:aws:s3:::express-lane-artifacts-ap-south-1/seal-keys/*",
      "arn:aws:s3:::express-lane-artifacts-ap-south-1/seal-keys/*",
    ]);
    expect(objects.flatMap((x) => asList(x.Action)).sort()).toEqual(["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"]);
  });

  test("writer may generate and unwrap only its own writer keys (purpose and writer id in the encryption context)", () => {
    const own = { StringEquals: { "kms:EncryptionContext:purpose": "express-lane-seal", "kms:EncryptionContext:writer": "loader" } };
    const generate = statements(sealPolicy.policy).find((x) => x.Sid === "WriterSealLoader")!;
    expect(generate.Principal.AWS).toMatch(/aws_iam_role\.Writer/);
    expect(generate.Action).toBe("kms:GenerateDataKey");
    expect(generate.Condition).toEqual(own);
    const unwrap = statements(sealPolicy.policy).find((x) => x.Sid === "WriterUnwrapSealKeysLoader")!;
    expect(unwrap.Principal.AWS).toMatch(/aws_iam_role\.Writer/);
    expect(unwrap.Action).toBe("kms:Decrypt");
    expect(unwrap.Condition).toEqual(own);
  });

  test("destroying the lane leaves the seal key's policy in place (bypass_policy_lockout_safety_check), not the default policy", () => {
    expect(sealPolicy.bypass_policy_lockout_safety_check).toBe(true);
    const sids = statements(sealPolicy.policy).map((x) => x.Sid);
    expect(sids).toEqual(expect.arrayContaining(["DenyGrants", "DenyUnattestedDecrypt"]));
  });

  test("the bucket key is destroyed only after the (force-destroyed) bucket: depends_on", () => {
    expect(bucketKey.depends_on).toEqual([expect.stringMatching(/^aws_s3_directory_bucket\.Bucket_/)]);
    expect(one(lane, "aws_s3_directory_bucket").force_destroy).toBe(true);
  });

  test("key admins (break-glass) and operators (deploy role) are separated from key use and grants", () => {
    for (const policy of [sealPolicy.policy, bucketKey.policy, sealKey.policy]) {
      const admin = statements(policy).find((x) => x.Sid === "KeyAdministration")!;
      // Lane keys: the break-glass admin the bootstrap recorded in SSM; bootstrap keys: the caller (and EXPRESS_LANE_BREAK_GLASS_ADMIN_ARN).
      expect(JSON.stringify(admin.Principal.AWS)).toMatch(/data\.aws_ssm_parameter\.BreakGlassAdmin\.value|aws_iam_session_context\.CallerSession\.issuer_arn/);
      const operator = statements(policy).find((x) => x.Sid === "KeyOperation")!;
      expect(JSON.stringify(operator.Principal.AWS)).toMatch(/:role\/express-lane-deploy|aws_iam_role\.Github_DeployRole/);
      const actions = [...asList<string>(admin.Action), ...asList<string>(operator.Action)];
      for (const a of ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncrypt*", "kms:*", "kms:CreateGrant", "kms:Create*"]) expect(actions).not.toContain(a);
      expect(
        actions.some((a) => a.includes("*") || a.startsWith("kms:Decrypt") || a.startsWith("kms:Encrypt") || a.startsWith("kms:Generate") || a.startsWith("kms:ReEncrypt")),
      ).toBe(false);
      // nobody else is named as admin, and the account root is not a principal (IAM cannot widen use)
      expect(JSON.stringify(statements(policy))).not.toMatch(/:root"/);
    }
    // Before the lane stack sets it, the seal key's policy grants no use at all.
    expect(statements(sealKey.policy).map((x) => x.Sid)).toEqual(["KeyAdministration", "KeyOperation", "KeyRead"]);
  });
});

describe("lane stack: network", () => {
  test("subnet placed by AZ ID, private", () => {
    const subnets = resources(lane, "aws_subnet");
    expect(subnets.length).toBeGreaterThanOrEqual(1);
    for (const sn of subnets) {
      expect(sn.availability_zone_id).toBe("aps1-az1");
      expect(sn.availability_zone).toBeUndefined();
      expect(sn.map_public_ip_on_launch).toBe(false);
    }
  });

  test("no NAT gateway, no internet gateway, no EIP, no 0.0.0.0/0 route", () => {
    for (const t of ["aws_nat_gateway", "aws_internet_gateway", "aws_egress_only_internet_gateway", "aws_eip", "aws_route"]) {
      expect(resources(lane, t)).toHaveLength(0);
    }
    expect(laneStr).not.toMatch(/0\.0\.0\.0\/0/);
  });

  test("gateway endpoints for S3 Express and S3 on the private route table", () => {
    const eps = resources(lane, "aws_vpc_endpoint");
    const gw = eps
      .filter((e) => e.vpc_endpoint_type === "Gateway")
      .map((e) => e.service_name)
      .sort();
    expect(gw).toEqual(["com.amazonaws.ap-south-1.s3", "com.amazonaws.ap-south-1.s3express"]);
    for (const e of eps.filter((x) => x.vpc_endpoint_type === "Gateway")) expect(e.route_table_ids).toEqual([expect.stringMatching(/aws_route_table\./)]);
  });

  test("interface endpoints for KMS, SSM, CloudWatch, logs, STS with private DNS", () => {
    const iface = resources(lane, "aws_vpc_endpoint").filter((e) => e.vpc_endpoint_type === "Interface");
    const names = iface.map((e) => String(e.service_name).replace("com.amazonaws.ap-south-1.", "")).sort();
    expect(names).toEqual(["ec2messages", "kms", "logs", "monitoring", "ssm", "ssmmessages", "sts"]);
    for (const e of iface) expect(e.private_dns_enabled).toBe(true);
  });

  test("host security group opens only the reader port, to configured clients", () => {
    const ingress = resources(lane, "aws_vpc_security_group_ingress_rule").filter((r) => String(r.security_group_id).includes("HostSg"));
    expect(ingress.length).toBeGreaterThan(0);
    for (const r of ingress) {
      expect(r.from_port).toBe(8080);
      expect(r.to_port).toBe(8080);
      expect(r.ip_protocol).toBe("tcp");
    }
    expect(ingress.map((r) => r.cidr_ipv4)).toEqual(["10.40.0.0/16"]);
  });

  test("configured client CIDRs and security groups become reader-port rules", () => {
    const other = synthStacks({ clientCidrs: "10.1.0.0/16,192.168.4.0/24", clientSecurityGroupIds: "sg-0123456789abcdef0" });
    const ingress = resources(other.laneJson, "aws_vpc_security_group_ingress_rule").filter((r) => String(r.security_group_id).includes("HostSg"));
    expect(ingress.map((r) => r.cidr_ipv4 ?? r.referenced_security_group_id).sort()).toEqual(["10.1.0.0/16", "10.40.0.0/16", "192.168.4.0/24", "sg-0123456789abcdef0"].sort());
    for (const r of ingress) expect([r.from_port, r.to_port]).toEqual([8080, 8080]);
  });
});

describe("lane stack: enclave hosts", () => {
  const lt = one(lane, "aws_launch_template");

  test("launch template: c7g.large, enclave on, IMDSv2, encrypted gp3, no public IP, no key pair", () => {
    expect(lt.instance_type).toBe("c7g.large");
    expect(lt.enclave_options).toEqual({ enabled: true });
    expect(lt.metadata_options).toEqual(expect.objectContaining({ http_tokens: "required", http_put_response_hop_limit: 1 }));
    expect(lt.block_device_mappings).toEqual([expect.objectContaining({ ebs: expect.objectContaining({ volume_type: "gp3", encrypted: "true" }) })]);
    expect(lt.network_interfaces).toEqual([expect.objectContaining({ associate_public_ip_address: "false" })]);
    expect(lt.key_name).toBeUndefined();
    expect(lt.user_data).toMatch(/^\$\{base64gzip\(/);
  });

  test("a bigger host's enclave gets the vCPUs the config names (allocator and run-enclave), one by default", () => {
    expect(lt.user_data).toContain("cpu_count: 1\\n");
    const big = one(synthStacks({ instanceType: "c7g.xlarge", enclaveCpuCount: 2 }).laneJson, "aws_launch_template");
    expect(big.instance_type).toBe("c7g.xlarge");
    expect(big.user_data).toContain("cpu_count: 2\\n");
    expect(big.user_data).toContain("--cpu-count 2 --memory 1536");
  });

  test("AMI from the AL2023 arm64 SSM public parameter", () => {
    const params = Object.values(lane.data.aws_ssm_parameter as Record<string, Json>);
    expect(params.map((p) => p.name)).toEqual(["/express-lane/bootstrap/break-glass-admin-arn", "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"]);
    expect(lt.image_id).toMatch(/^\$\{data\.aws_ssm_parameter\..*\.value\}$/);
  });

  test("instance profile role: EC2 trust, SSM managed policy", () => {
    const role = resources(lane, "aws_iam_role").find((r) => r.name === "express-lane-host")!;
    expect(JSON.parse(role.assume_role_policy).Statement[0].Principal.Service).toBe("ec2.amazonaws.com");
    expect(resources(lane, "aws_iam_role_policy_attachment").map((a) => a.policy_arn)).toContain("arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore");
  });

  test("ASG in the single subnet behind an internal NLB with a TCP listener on the reader port", () => {
    const asg = one(lane, "aws_autoscaling_group");
    expect(asg.vpc_zone_identifier).toHaveLength(1);
    expect(asg.vpc_zone_identifier[0]).toMatch(/aws_subnet\./);
    expect([asg.min_size, asg.desired_capacity, asg.max_size]).toEqual([1, 1, 2]); // max: room for a launch-before-terminate rollout
    expect(asg.target_group_arns).toEqual([expect.stringMatching(/aws_lb_target_group\./)]);
    const nlb = one(lane, "aws_lb");
    expect(nlb).toEqual(expect.objectContaining({ load_balancer_type: "network", internal: true }));
    expect(nlb.subnets).toEqual(asg.vpc_zone_identifier);
    const listener = one(lane, "aws_lb_listener");
    expect(listener).toEqual(expect.objectContaining({ port: 8080, protocol: "TCP" }));
  });

  test("host count scales the ASG", () => {
    const big = synthStacks({ hostCount: 3, instanceType: "c7g.xlarge" });
    const asg = one(big.laneJson, "aws_autoscaling_group");
    expect([asg.min_size, asg.desired_capacity, asg.max_size]).toEqual([3, 3, 6]);
    expect(one(big.laneJson, "aws_launch_template").instance_type).toBe("c7g.xlarge");
  });
});

describe("lane stack: observability", () => {
  test("log groups have retention", () => {
    const groups = resources(lane, "aws_cloudwatch_log_group");
    expect(groups.map((g) => g.name).sort()).toEqual(["/express-lane/bootstrap", "/express-lane/prometheus", "/express-lane/runtime"]);
    for (const g of groups) expect(g.retention_in_days).toBe(30);
  });

  test("alarms: P99 > 5 ms, 5xx rate, signer unavailable, all to the SNS topic", () => {
    const alarms = resources(lane, "aws_cloudwatch_metric_alarm");
    const byName = Object.fromEntries(alarms.map((a) => [a.alarm_name, a])) as Record<string, Json>;
    const p99 = byName["express-lane-read-latency-p99"];
    expect(p99).toEqual(
      expect.objectContaining({ metric_name: "lane_request_duration_seconds", extended_statistic: "p99", threshold: 0.005, comparison_operator: "GreaterThanThreshold" }),
    );
    const err = byName["express-lane-5xx-rate"];
    expect(JSON.stringify(err.metric_query)).toMatch(/"status_class":"5xx"/);
    expect(err.metric_query.find((q: Json) => q.return_data === true).expression).toMatch(/r5/);
    const signer = byName["express-lane-signer-unavailable"];
    expect(signer).toEqual(expect.objectContaining({ metric_name: "lane_signer_up", comparison_operator: "LessThanThreshold", threshold: 1, treat_missing_data: "breaching" }));
    for (const a of alarms) expect(a.alarm_actions).toEqual([expect.stringMatching(/aws_sns_topic\./)]);
  });

  test("dashboard: read latency P50/P95/P99, req/s, errors, signer and store latency", () => {
    const body = JSON.parse(one(lane, "aws_cloudwatch_dashboard").dashboard_body) as { widgets: Json[] };
    const titles = body.widgets.map((w) => String(w.properties.title));
    for (const t of [/Read latency/, /Requests\/s/, /Errors/, /Signer latency/, /Store .*latency/, /Signer up/]) expect(titles.some((x) => t.test(x))).toBe(true);
    const latency = body.widgets.find((w) => /Read latency/.test(w.properties.title))!;
    const stats = (latency.properties.metrics as Json[][]).map((m) => m[m.length - 1].stat);
    expect(stats).toEqual(["p50", "p95", "p99"]);
    const store = body.widgets.find((w) => /Store/.test(w.properties.title))!;
    expect(JSON.stringify(store)).toMatch(/lane_store_duration_seconds/);
    const signer = body.widgets.find((w) => /Signer latency/.test(w.properties.title))!;
    expect(JSON.stringify(signer)).toMatch(/lane_signer_duration_seconds/);
  });

  test("every runtime metric the dashboard and the alarms name is one the runtime exports (names are a contract)", async () => {
    const exported = new Set((await new LaneMetrics().registry.getMetricsAsJSON()).map((m) => m.name));
    const body = one(lane, "aws_cloudwatch_dashboard").dashboard_body as string;
    const names = new Set<string>();
    for (const m of body.matchAll(/"ExpressLane","([a-z_]+)"/g)) names.add(m[1]!);
    for (const m of body.matchAll(/MetricName=\\"([a-z_]+)\\"/g)) names.add(m[1]!);
    const alarms = resources(lane, "aws_cloudwatch_metric_alarm");
    for (const a of alarms) {
      if (a.namespace === "ExpressLane") names.add(String(a.metric_name));
      for (const q of (a.metric_query as Json[] | undefined) ?? [])
        if (q.metric?.[0]?.namespace === "ExpressLane" || q.metric?.namespace === "ExpressLane") names.add(String(q.metric?.[0]?.metric_name ?? q.metric?.metric_name));
    }
    expect([...names]).toEqual(expect.arrayContaining(["lane_entity_status_total", "lane_requests_total", "process_cpu_seconds_total", "lane_self_verify_failures_total"]));
    // Published by the host (canary timer, log metric filters), not scraped from the runtime.
    const fromHost = new Set(["lane_canary_success", "lane_kms_errors", "lane_create_session_errors"]);
    expect([...names].filter((n) => !exported.has(n) && !fromHost.has(n))).toEqual([]);
  });

  test("hosts may publish metrics only in the ExpressLane namespace", () => {
    const hostPolicy = resources(lane, "aws_iam_role_policy").find((p) => String(p.role).includes("Hosts_Role"))!;
    const put = statements(hostPolicy.policy).find((x) => x.Action === "cloudwatch:PutMetricData")!;
    expect(put.Condition).toEqual({ StringEquals: { "cloudwatch:namespace": "ExpressLane" } });
  });
});

describe("more than one lane", () => {
  test("a lane name flows into every IAM role, alias, log group, alarm and the state key", () => {
    const eu = synthStacks({ laneName: "eu1" });
    const names = [
      ...resources(eu.laneJson, "aws_iam_role").map((r) => r.name),
      ...resources(eu.bootstrapJson, "aws_iam_role").map((r) => r.name),
      ...resources(eu.laneJson, "aws_kms_alias").map((a) => String(a.name).replace(/^alias\//, "")),
      ...resources(eu.bootstrapJson, "aws_kms_alias").map((a) => String(a.name).replace(/^alias\//, "")),
      ...resources(eu.laneJson, "aws_cloudwatch_log_group").map((g) => String(g.name).replace(/^\//, "")),
      ...resources(eu.laneJson, "aws_cloudwatch_metric_alarm").map((a) => a.alarm_name),
      ...resources(eu.bootstrapJson, "aws_iam_policy").map((p) => p.name),
      ...resources(eu.laneJson, "aws_s3_directory_bucket").map((b) => b.bucket),
    ];
    expect(names.length).toBeGreaterThan(10);
    for (const n of names) expect(n).toMatch(/^express-lane-eu1[-/]/);
    expect(eu.laneJson.terraform.backend.s3.key).toBe("lanes/eu1/express-lane.tfstate");
    expect(eu.laneJson.data.aws_kms_key.SealKey.key_id).toBe("alias/express-lane-eu1-seal");
    const main = synthStacks();
    const mainNames = new Set([...resources(main.laneJson, "aws_iam_role"), ...resources(main.bootstrapJson, "aws_iam_role")].map((r) => r.name));
    for (const r of [...resources(eu.laneJson, "aws_iam_role"), ...resources(eu.bootstrapJson, "aws_iam_role")]) expect(mainNames.has(r.name)).toBe(false);
  });
});

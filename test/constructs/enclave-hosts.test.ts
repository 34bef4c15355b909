import { TerraformStack, Testing } from "cdktf";
import { EnclaveHosts, grantRunCommandOnHosts, HEALTH_CHECK_PATH, TLS_POLICY, type EnclaveHostsProps } from "../../constructs/enclave-hosts";
import { Role } from "../../constructs/iam";
import { SAMPLE } from "./sandbox/sample";

const props: EnclaveHostsProps = {
  namePrefix: "express-lane",
  region: "ap-south-1",
  vpcId: "vpc-1",
  subnetIds: ["subnet-1"],
  securityGroupIds: ["sg-1"],
  readerPort: 8080,
  bucketName: SAMPLE.bucketName,
  artifactBucketName: SAMPLE.artifactBucket,
  releaseId: SAMPLE.releaseId,
  expectedPcr0: SAMPLE.expectedPcr0,
  agent: SAMPLE.agent,
};

function synth(over: Partial<EnclaveHostsProps> = {}) {
  const s = new TerraformStack(Testing.app(), "s");
  const hosts = new EnclaveHosts(s, "hosts", { ...props, ...over });
  const tf = JSON.parse(Testing.synth(s)) as { resource: Record<string, Record<string, Record<string, unknown>>> };
  const one = (type: string) => Object.values(tf.resource[type] ?? {})[0]!;
  return { hosts, one, tf };
}

describe("EnclaveHosts", () => {
  it("launches enclave-enabled Graviton hosts with IMDSv2 only, no public IP, an encrypted root volume", () => {
    const lt = synth().one("aws_launch_template") as Record<string, never>;
    expect(lt).toMatchObject({
      instance_type: "c7g.large",
      enclave_options: { enabled: true },
      metadata_options: { http_tokens: "required", http_put_response_hop_limit: 1 },
      network_interfaces: [{ associate_public_ip_address: "false", security_groups: ["sg-1"] }],
      block_device_mappings: [{ ebs: { encrypted: "true", volume_type: "gp3", volume_size: 16 } }],
    });
  });

  it("embeds the user data for this release and PCR0, pointing the runtime at the lane's API keys parameter", () => {
    const { hosts } = synth({ apiKeysParameter: "/lane/keys" });
    expect(hosts.userData).toContain(`RELEASE='${SAMPLE.releaseId}'`);
    expect(hosts.userData).toContain(`EXPECTED_PCR0='${SAMPLE.expectedPcr0}'`);
    expect(hosts.userData).toContain("EXPRESS_LANE_API_KEYS=ssm:/lane/keys");
  });

  it("the host role is assumable by EC2 only, and may read exactly its two API key parameters", () => {
    const { hosts } = synth();
    const read = hosts.role.policyStatements.find((st) => st.sid === "ReadApiKeyParameters")!;
    expect(read.actions).toEqual(["ssm:GetParameter"]);
    expect(read.resources).toHaveLength(2);
    expect(read.resources!.every((r) => /^arn:aws:ssm:ap-south-1:.*:parameter\/express-lane\/(api-keys|canary-api-key)$/.test(r))).toBe(true);
  });

  it("an internal NLB health-checks the readiness endpoint; without a certificate the listener is plain TCP on the reader port", () => {
    const { one, hosts } = synth();
    expect(one("aws_lb")).toMatchObject({ internal: true, load_balancer_type: "network" });
    expect(one("aws_lb_target_group")).toMatchObject({ port: 8080, protocol: "TCP", health_check: { protocol: "HTTP", path: HEALTH_CHECK_PATH, matcher: "200" } });
    expect(one("aws_lb_listener")).toMatchObject({ port: 8080, protocol: "TCP" });
    expect(hosts.tls).toBe(false);
  });

  it("with a certificate the listener is TLS 1.3/1.2 on 443", () => {
    const { one, hosts } = synth({ tlsCertificateArn: "arn:aws:acm:ap-south-1:1:certificate/x" });
    expect(one("aws_lb_listener")).toMatchObject({ port: 443, protocol: "TLS", ssl_policy: TLS_POLICY, certificate_arn: "arn:aws:acm:ap-south-1:1:certificate/x" });
    expect(hosts.listenerPort).toBe(443);
  });

  it("rolls hosts with capacity to spare (max = 2 × count, 100 % healthy during a refresh, auto rollback)", () => {
    const asg = synth({ hostCount: 3 }).one("aws_autoscaling_group");
    expect(asg).toMatchObject({
      min_size: 3,
      max_size: 6,
      desired_capacity: 3,
      instance_refresh: { strategy: "Rolling", preferences: { min_healthy_percentage: 100, auto_rollback: true } },
    });
  });

  it("the PrivateLink endpoint service requires acceptance by default and admits only the principals named", () => {
    expect(synth().one("aws_vpc_endpoint_service")).toMatchObject({ acceptance_required: true, allowed_principals: [] });
    expect(synth({ endpointServiceAllowedPrincipals: ["arn:aws:iam::2:root"] }).one("aws_vpc_endpoint_service")).toMatchObject({ allowed_principals: ["arn:aws:iam::2:root"] });
  });
});

describe("grantRunCommandOnHosts", () => {
  it("runs AWS-RunShellScript only on instances named as the lane's hosts, and reads the results", () => {
    const s = new TerraformStack(Testing.app(), "s");
    const role = new Role(s, "bench", { roleName: "bench", assumedBy: [] });
    const grant = grantRunCommandOnHosts(role, { region: "ap-south-1", namePrefix: "express-lane" });
    expect(grant.actions).toEqual(["ssm:SendCommand", "ec2:DescribeInstances", "ssm:GetCommandInvocation"]);
    const onHosts = role.policyStatements.find((st) => st.sid === "RunCommandOnLaneHosts")!;
    expect(onHosts.conditions).toEqual({ StringEquals: { "ssm:resourceTag/Name": "express-lane-host" } });
    expect(role.policyStatements.find((st) => st.sid === "RunShellScriptDocument")!.resources).toEqual(["arn:aws:ssm:ap-south-1::document/AWS-RunShellScript"]);
  });
});

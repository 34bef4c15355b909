/**
 * Graviton hosts with a Nitro Enclave: launch template, Auto Scaling group in the single
 * subnet, and an internal NLB in the same AZ. Scale out by changing the host count.
 */
import { Fn } from "cdktf";
import { Construct } from "constructs";
import { AutoscalingGroup, DataAwsSsmParameter, IamInstanceProfile, LaunchTemplate, Lb, LbListener, LbTargetGroup } from "./aws";
import { AgentConfigOptions } from "./cloudwatch-agent";
import { IGrantable, IPrincipal, Role } from "./iam";
import { renderUserData } from "./user-data";

export const AL2023_ARM64_AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64";
export const SSM_MANAGED_INSTANCE_POLICY = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore";

export interface EnclaveHostsProps {
  readonly namePrefix: string;
  readonly region: string;
  readonly vpcId: string;
  /** Subnets in the lane's single AZ. */
  readonly subnetIds: readonly string[];
  readonly securityGroupIds: readonly string[];
  /** @default "c7g.large" */
  readonly instanceType?: string;
  /** Number of hosts (min = desired = max). @default 1 */
  readonly hostCount?: number;
  readonly readerPort: number;
  /** Directory bucket the runtime reads (plain name, embedded in user data). */
  readonly bucketName: string;
  /** Versioned artifact bucket (plain name). */
  readonly artifactBucketName: string;
  readonly releaseId: string;
  /** PCR0 the host verifies on the downloaded EIF. */
  readonly expectedPcr0: string;
  /** Enclave memory (allocator `memory_mib`). @default 1536 */
  readonly enclaveMemoryMib?: number;
  /** Root volume size in GiB. @default 16 */
  readonly rootVolumeGib?: number;
  readonly agent: AgentConfigOptions;
}

export class EnclaveHosts extends Construct implements IGrantable {
  /** The L1 launch template. */
  readonly resource: LaunchTemplate;
  readonly role: Role;
  readonly grantPrincipal: IPrincipal;
  readonly instanceProfile: IamInstanceProfile;
  readonly autoScalingGroup: AutoscalingGroup;
  readonly loadBalancer: Lb;
  readonly targetGroup: LbTargetGroup;
  readonly listener: LbListener;
  /** The user data script (plain text, before gzip+base64). */
  readonly userData: string;

  constructor(scope: Construct, id: string, props: EnclaveHostsProps) {
    super(scope, id);
    const hostCount = props.hostCount ?? 1;
    this.role = new Role(this, "Role", {
      roleName: `${props.namePrefix}-host`,
      description: "Express Lane enclave host (parent instance)",
      assumedBy: [{ actions: ["sts:AssumeRole"], principals: { Service: ["ec2.amazonaws.com"] } }],
      managedPolicyArns: [SSM_MANAGED_INSTANCE_POLICY],
    });
    this.grantPrincipal = this.role;
    this.instanceProfile = new IamInstanceProfile(this, "Profile", { name: `${props.namePrefix}-host`, role: this.role.resource.name });

    const ami = new DataAwsSsmParameter(this, "Ami", { name: AL2023_ARM64_AMI_PARAMETER });
    this.userData = renderUserData({
      region: props.region,
      bucketName: props.bucketName,
      readerPort: props.readerPort,
      enclaveMemoryMib: props.enclaveMemoryMib ?? 1536,
      artifactBucket: props.artifactBucketName,
      releaseId: props.releaseId,
      expectedPcr0: props.expectedPcr0,
      agent: props.agent,
    });

    this.resource = new LaunchTemplate(this, "Resource", {
      namePrefix: `${props.namePrefix}-host-`,
      imageId: ami.value,
      instanceType: props.instanceType ?? "c7g.large",
      enclaveOptions: { enabled: true },
      metadataOptions: { httpTokens: "required", httpEndpoint: "enabled", httpPutResponseHopLimit: 1, instanceMetadataTags: "disabled" },
      iamInstanceProfile: { arn: this.instanceProfile.arn },
      networkInterfaces: [{ deviceIndex: 0, associatePublicIpAddress: "false", securityGroups: [...props.securityGroupIds], deleteOnTermination: "true" }],
      blockDeviceMappings: [
        { deviceName: "/dev/xvda", ebs: { volumeType: "gp3", volumeSize: props.rootVolumeGib ?? 16, encrypted: "true", deleteOnTermination: "true" } },
      ],
      userData: Fn.base64gzip(Fn.rawString(this.userData)),
      updateDefaultVersion: true,
      tagSpecifications: [
        { resourceType: "instance", tags: { Name: `${props.namePrefix}-host` } },
        { resourceType: "volume", tags: { Name: `${props.namePrefix}-host` } },
      ],
    });

    this.loadBalancer = new Lb(this, "Nlb", {
      name: `${props.namePrefix}-nlb`.slice(0, 32),
      loadBalancerType: "network",
      internal: true,
      subnets: [...props.subnetIds],
      enableCrossZoneLoadBalancing: false,
    });
    this.targetGroup = new LbTargetGroup(this, "Targets", {
      name: `${props.namePrefix}-tg`.slice(0, 32),
      port: props.readerPort,
      protocol: "TCP",
      vpcId: props.vpcId,
      targetType: "instance",
      deregistrationDelay: "30",
      healthCheck: { protocol: "TCP", port: "traffic-port", interval: 10, healthyThreshold: 2, unhealthyThreshold: 2 },
    });
    this.listener = new LbListener(this, "Listener", {
      loadBalancerArn: this.loadBalancer.arn,
      port: props.readerPort,
      protocol: "TCP",
      defaultAction: [{ type: "forward", targetGroupArn: this.targetGroup.arn }],
    });

    this.autoScalingGroup = new AutoscalingGroup(this, "Asg", {
      namePrefix: `${props.namePrefix}-hosts-`,
      minSize: hostCount,
      maxSize: hostCount,
      desiredCapacity: hostCount,
      vpcZoneIdentifier: [...props.subnetIds],
      launchTemplate: { id: this.resource.id, version: this.resource.latestVersion.toString() },
      targetGroupArns: [this.targetGroup.arn],
      healthCheckType: "ELB",
      healthCheckGracePeriod: 600,
      instanceRefresh: { strategy: "Rolling", preferences: { minHealthyPercentage: hostCount > 1 ? 50 : 0 } },
      tag: [{ key: "Name", value: `${props.namePrefix}-host`, propagateAtLaunch: true }],
    });
  }
}

export interface RunCommandGrantProps {
  readonly region: string;
  /** The hosts' name prefix: they carry the tag `Name = {namePrefix}-host`. */
  readonly namePrefix: string;
}

/**
 * Lets `grantee` run `AWS-RunShellScript` on the lane's hosts — only instances tagged
 * `Name = {namePrefix}-host` — and read the results: what scripts/remote-bench.ts (and the bench
 * workflow) needs to run the benchmark on a node. A function, not a method: the deploy role lives
 * in the bootstrap stack, before any host exists.
 */
export function grantRunCommandOnHosts(grantee: IGrantable, props: RunCommandGrantProps): void {
  const principal = grantee.grantPrincipal;
  principal.addToPrincipalPolicy({
    sid: "RunCommandOnLaneHosts",
    actions: ["ssm:SendCommand"],
    resources: [`arn:aws:ec2:${props.region}:*:instance/*`],
    conditions: { StringEquals: { "ssm:resourceTag/Name": `${props.namePrefix}-host` } },
  });
  principal.addToPrincipalPolicy({
    sid: "RunShellScriptDocument",
    actions: ["ssm:SendCommand"],
    resources: [`arn:aws:ssm:${props.region}::document/AWS-RunShellScript`],
  });
  principal.addToPrincipalPolicy({
    sid: "FindHostsAndReadCommandResults",
    actions: ["ec2:DescribeInstances", "ssm:GetCommandInvocation"],
    resources: ["*"],
  });
}


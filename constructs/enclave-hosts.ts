/**
 * Graviton hosts with a Nitro Enclave: launch template, Auto Scaling group in the single
 * subnet, an internal NLB in the same AZ (TLS listener when a certificate is given, HTTP health
 * check on /health/ready), and a PrivateLink endpoint service for consumers in other VPCs.
 * Scale out by changing the host count.
 */
import { Fn, Op, Token } from "cdktf";
import { Construct } from "constructs";
import {
  AutoscalingGroup,
  DataAwsCallerIdentity,
  DataAwsS3Objects,
  DataAwsSsmParameter,
  IamInstanceProfile,
  LaunchTemplate,
  Lb,
  LbListener,
  LbTargetGroup,
  VpcEndpointService,
} from "./aws";
import { AgentConfigOptions } from "./cloudwatch-agent";
import { combineGrants, Grant, grantOnPrincipal, IGrantable, IPrincipal, Role } from "./iam";
import { SSM_RESOURCE_TAG_CONDITION_PREFIX } from "./perms";
import { renderUserData, SEAL_KEYS_OBJECT } from "./user-data";

export const AL2023_ARM64_AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64";
export const SSM_MANAGED_INSTANCE_POLICY = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore";
/** The readiness route the NLB health-checks: 200 only with a live signer (holding keys) and a reachable store. */
export const HEALTH_CHECK_PATH = "/health/ready";
/**
 * TLS 1.3 and 1.2 only (ELB docs, "Security policies for your Network Load Balancer":
 * https://docs.aws.amazon.com/elasticloadbalancing/latest/network/describe-ssl-policies.html).
 */
export const TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06";

export interface EnclaveHostsProps {
  readonly namePrefix: string;
  readonly region: string;
  readonly vpcId: string;
  /** Subnets in the lane's single AZ. */
  readonly subnetIds: readonly string[];
  readonly securityGroupIds: readonly string[];
  /** @default "c7g.large" */
  readonly instanceType?: string;
  /** Number of hosts (min = desired; max = 2× for rollouts that launch before they terminate). @default 1 */
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
  /** Enclave vCPUs (allocator `cpu_count`, `run-enclave --cpu-count`); the signer signs on one thread per vCPU. @default 1 */
  readonly enclaveCpuCount?: number;
  /** Root volume size in GiB. @default 16 */
  readonly rootVolumeGib?: number;
  readonly agent: AgentConfigOptions;
  /**
   * ACM certificate for the NLB's TLS listener. Without one the listener is plain TCP on the
   * reader port (development; release deploys refuse that unless explicitly allowed, see
   * stacks/config.ts). @default none
   */
  readonly tlsCertificateArn?: string;
  /** The TLS listener's port. @default 443 */
  readonly tlsListenerPort?: number;
  /** Principals (ARNs) allowed to create endpoints of the lane's PrivateLink endpoint service. @default none */
  readonly endpointServiceAllowedPrincipals?: readonly string[];
  /** Connection requests to the endpoint service wait for acceptance. @default true */
  readonly endpointServiceAcceptanceRequired?: boolean;
  /** SSM parameter (SecureString) with the runtime's API keys document. @default `/{namePrefix}/api-keys` */
  readonly apiKeysParameter?: string;
  /** SSM parameter (SecureString) with the canary's API key. @default `/{namePrefix}/canary-api-key` */
  readonly canaryApiKeyParameter?: string;
  /** The canary's signed read. @default user-data.ts DEFAULT_CANARY_PATH */
  readonly canaryPath?: string;
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
  /** The port consumers connect to (TLS listener port, or the reader port without TLS). */
  readonly listenerPort: number;
  readonly tls: boolean;
  readonly endpointService: VpcEndpointService;
  readonly hostCount: number;
  /** The user data script (plain text, before gzip+base64). */
  readonly userData: string;

  constructor(scope: Construct, id: string, props: EnclaveHostsProps) {
    super(scope, id);
    const hostCount = props.hostCount ?? 1;
    this.hostCount = hostCount;
    this.role = new Role(this, "Role", {
      roleName: `${props.namePrefix}-host`,
      description: "Express Lane enclave host (parent instance)",
      assumedBy: [{ actions: ["sts:AssumeRole"], principals: { Service: ["ec2.amazonaws.com"] } }],
      managedPolicyArns: [SSM_MANAGED_INSTANCE_POLICY],
    });
    this.grantPrincipal = this.role;
    this.instanceProfile = new IamInstanceProfile(this, "Profile", { name: `${props.namePrefix}-host`, role: this.role.resource.name });

    const apiKeysParameter = props.apiKeysParameter ?? `/${props.namePrefix}/api-keys`;
    const canaryApiKeyParameter = props.canaryApiKeyParameter ?? `/${props.namePrefix}/canary-api-key`;
    const account = new DataAwsCallerIdentity(this, "Account");
    // The runtime reads its keys document and the canary its key, nothing else in Parameter Store.
    // SecureStrings under the AWS managed key aws/ssm need no kms permission in IAM: its key
    // policy lets principals of the account use it through Parameter Store ("kms:ViaService":
    // ssm) (https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-access.html).
    this.role.addToPrincipalPolicy({
      sid: "ReadApiKeyParameters",
      actions: ["ssm:GetParameter"],
      resources: [apiKeysParameter, canaryApiKeyParameter].map((n) => `arn:aws:ssm:${props.region}:${account.accountId}:parameter${n}`),
    });

    const ami = new DataAwsSsmParameter(this, "Ami", { name: AL2023_ARM64_AMI_PARAMETER });
    this.userData = renderUserData({
      region: props.region,
      bucketName: props.bucketName,
      readerPort: props.readerPort,
      enclaveMemoryMib: props.enclaveMemoryMib ?? 1536,
      enclaveCpuCount: props.enclaveCpuCount ?? 1,
      artifactBucket: props.artifactBucketName,
      releaseId: props.releaseId,
      expectedPcr0: props.expectedPcr0,
      agent: props.agent,
      apiKeys: `ssm:${apiKeysParameter}`,
      canaryApiKeyParameter,
      canaryPath: props.canaryPath,
    });

    this.resource = new LaunchTemplate(this, "Resource", {
      namePrefix: `${props.namePrefix}-host-`,
      imageId: ami.value,
      instanceType: props.instanceType ?? "c7g.large",
      enclaveOptions: { enabled: true },
      metadataOptions: { httpTokens: "required", httpEndpoint: "enabled", httpPutResponseHopLimit: 1, instanceMetadataTags: "disabled" },
      iamInstanceProfile: { arn: this.instanceProfile.arn },
      networkInterfaces: [{ deviceIndex: 0, associatePublicIpAddress: "false", securityGroups: [...props.securityGroupIds], deleteOnTermination: "true" }],
      blockDeviceMappings: [{ deviceName: "/dev/xvda", ebs: { volumeType: "gp3", volumeSize: props.rootVolumeGib ?? 16, encrypted: "true", deleteOnTermination: "true" } }],
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
    // HTTP health check on the readiness route, not a TCP connect: a host whose signer died (or
    // holds no seal keys, or cannot reach the store) answers 503 and leaves service; a TCP check
    // passes as long as the runtime's socket is open. Network Load Balancer target groups take
    // HTTP health checks with a path and a success-code matcher (ELB docs, "Health checks for
    // Network Load Balancer target groups": HealthCheckProtocol TCP, HTTP or HTTPS; Matcher
    // applies to HTTP/HTTPS checks),
    // https://docs.aws.amazon.com/elasticloadbalancing/latest/network/target-group-health-checks.html.
    this.targetGroup = new LbTargetGroup(this, "Targets", {
      name: `${props.namePrefix}-tg`.slice(0, 32),
      port: props.readerPort,
      protocol: "TCP",
      vpcId: props.vpcId,
      targetType: "instance",
      deregistrationDelay: "30",
      healthCheck: {
        enabled: true,
        protocol: "HTTP",
        path: HEALTH_CHECK_PATH,
        port: "traffic-port",
        matcher: "200",
        interval: 10,
        timeout: 5,
        healthyThreshold: 2,
        unhealthyThreshold: 2,
      },
    });
    // TLS terminates at the NLB with an ACM certificate: a TLS listener needs a server certificate,
    // with which the load balancer terminates the client's connection before forwarding to the
    // targets (ELB docs, "Create a TLS listener for your Network Load Balancer", server
    // certificates: https://docs.aws.amazon.com/elasticloadbalancing/latest/network/tls-listener-certificates.html).
    // The hop to the host stays inside the VPC; answers are signed end to end anyway.
    this.tls = props.tlsCertificateArn !== undefined;
    this.listenerPort = this.tls ? (props.tlsListenerPort ?? 443) : props.readerPort;
    this.listener = new LbListener(this, "Listener", {
      loadBalancerArn: this.loadBalancer.arn,
      port: this.listenerPort,
      ...(this.tls ? { protocol: "TLS", certificateArn: props.tlsCertificateArn, sslPolicy: TLS_POLICY } : { protocol: "TCP" }),
      defaultAction: [{ type: "forward", targetGroupArn: this.targetGroup.arn }],
    });
    // Consumers in other VPCs/accounts: an interface endpoint to this endpoint service, which
    // fronts the NLB (AWS PrivateLink Guide, "Share your services through AWS PrivateLink":
    // https://docs.aws.amazon.com/vpc/latest/privatelink/privatelink-share-your-services.html).
    // Only the allowed principals may create endpoints, and each connection waits for acceptance.
    this.endpointService = new VpcEndpointService(this, "EndpointService", {
      networkLoadBalancerArns: [this.loadBalancer.arn],
      acceptanceRequired: props.endpointServiceAcceptanceRequired ?? true,
      allowedPrincipals: [...(props.endpointServiceAllowedPrincipals ?? [])],
      tags: { Name: `${props.namePrefix}-reader` },
    });

    // Wrapped seal keys exist only after the first lane deploy (a writer wraps them under the seal
    // key whose policy this stack sets). Until then every host answers /health/ready 503, so the
    // group checks instance health only (EC2) and the apply does not wait for healthy targets;
    // once the keys are published, health type ELB replaces unhealthy hosts and the apply waits
    // for `hostCount` healthy targets ("wait_for_elb_capacity ... wait for exactly this number of
    // healthy instances from this autoscaling group in all attached load balancers on both create
    // and update operations", Terraform AWS provider, aws_autoscaling_group).
    const published = new DataAwsS3Objects(this, "PublishedSealKeys", { bucket: props.artifactBucketName, prefix: SEAL_KEYS_OBJECT, maxKeys: 1 });
    const keysPublished = Op.gte(Fn.lengthOf(published.keys), 1); // (Op.gt with a literal 0 renders "undefined")

    this.autoScalingGroup = new AutoscalingGroup(this, "Asg", {
      namePrefix: `${props.namePrefix}-hosts-`,
      minSize: hostCount,
      // Room for a rollout that launches new hosts before terminating old ones (max healthy 200 %).
      maxSize: hostCount * 2,
      desiredCapacity: hostCount,
      vpcZoneIdentifier: [...props.subnetIds],
      launchTemplate: { id: this.resource.id, version: this.resource.latestVersion.toString() },
      targetGroupArns: [this.targetGroup.arn],
      healthCheckType: Token.asString(Fn.conditional(keysPublished, "ELB", "EC2")),
      healthCheckGracePeriod: 600,
      waitForElbCapacity: Token.asNumber(Fn.conditional(keysPublished, hostCount, 0)),
      waitForCapacityTimeout: "20m",
      enabledMetrics: ["GroupDesiredCapacity", "GroupInServiceInstances", "GroupPendingInstances", "GroupTerminatingInstances", "GroupTotalInstances"],
      // Overlap and a way back: a new launch template version replaces hosts while keeping 100 %
      // of the capacity healthy (up to 200 % during the refresh), and a failed refresh rolls back
      // to the previous version (EC2 Auto Scaling User Guide, "Undo changes with a rollback",
      // automatic rollback: https://docs.aws.amazon.com/autoscaling/ec2/userguide/instance-refresh-rollback.html).
      // Rollback needs an explicit launch template version, not $Latest/$Default: latestVersion is
      // a number.
      instanceRefresh: {
        strategy: "Rolling",
        preferences: { minHealthyPercentage: 100, maxHealthyPercentage: 200, autoRollback: true, instanceWarmup: "300", skipMatching: false },
      },
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
 * `Name = {namePrefix}-host` — and read the results: what bench/remote-bench.ts (and the bench
 * workflow) needs to run the benchmark on a node. A function, not a method: the deploy role lives
 * in the bootstrap stack, before any host exists.
 */
export function grantRunCommandOnHosts(grantee: IGrantable, props: RunCommandGrantProps): Grant {
  const onHosts = grantOnPrincipal(grantee, {
    sid: "RunCommandOnLaneHosts",
    actions: ["ssm:SendCommand"],
    resources: [`arn:aws:ec2:${props.region}:*:instance/*`],
    conditions: { StringEquals: { [`${SSM_RESOURCE_TAG_CONDITION_PREFIX}Name`]: `${props.namePrefix}-host` } },
  });
  const document = grantOnPrincipal(grantee, {
    sid: "RunShellScriptDocument",
    actions: ["ssm:SendCommand"],
    resources: [`arn:aws:ssm:${props.region}::document/AWS-RunShellScript`],
  });
  const results = grantOnPrincipal(grantee, {
    sid: "FindHostsAndReadCommandResults",
    actions: ["ec2:DescribeInstances", "ssm:GetCommandInvocation"],
    resources: ["*"],
  });
  return combineGrants(onHosts, document, results);
}

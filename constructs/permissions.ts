/**
 * What the deploy role may do, and the permissions boundary of every role it creates.
 *
 * The deploy role (bootstrap stack, assumed by GitHub workflows) creates and destroys the lane
 * stack. It must not be able to make itself, or anything it creates, more powerful than that:
 *  - roles it creates must carry LANE_BOUNDARY (iam:PermissionsBoundary condition on CreateRole and
 *    on every call that changes a role's policies: IAM User Guide, "Permissions boundaries",
 *    example "Delegating responsibility to others using permissions boundaries": "The
 *    iam:PermissionsBoundary condition key ... allows you to create a user only if the permissions
 *    boundary is attached"), it may not remove boundaries, and it may not touch its own role;
 *  - no region-wide `kms:*`, `logs:*`, `iam:*`: KMS, logs, SNS, CloudWatch, S3 Express and IAM are
 *    granted on the lane's own names (`{prefix}-*`) or tags only; EC2/Auto Scaling/ELB keep service
 *    wildcards (the lane creates too many resource types with unknown ids), region-bound, with the
 *    EC2 actions that would reach other workloads (instance attribute changes, snapshots/images,
 *    internet paths) denied.
 * A suppression (constructs/policies/suppressions.ts) on the deploy role documents each remaining
 * wildcard.
 */
import { combineGrants, Grant, grantOnPrincipal, IGrantable, PolicyStatement } from "./iam";
import { KEY_LIFECYCLE_ACTIONS, KEY_ROLE_TAG, LANE_TAG, SESSION_MODE_CONDITION_KEY } from "./perms";
import { SEAL_KEYS_PREFIX } from "./user-data";

export const boundaryPolicyName = (prefix: string): string => `${prefix}-boundary`;

export interface LaneNames {
  readonly prefix: string;
  readonly laneName: string;
  readonly region: string;
  /** Directory bucket base name (bucket `{base}--{azid}--x-s3`). */
  readonly bucketBaseName: string;
  readonly artifactBucketName: string;
}

const directoryBucketArnPattern = (n: LaneNames) => `arn:aws:s3express:${n.region}:*:bucket/${n.bucketBaseName}--*--x-s3`;
const laneLogGroups = (n: LaneNames) => [`arn:aws:logs:${n.region}:*:log-group:/${n.prefix}/*`, `arn:aws:logs:${n.region}:*:log-group:/${n.prefix}/*:*`];

/**
 * The permissions boundary of every role the lane stack creates (hosts, writers): the union of what
 * those roles are ever granted, on the lane's resources. Key policies still decide who may use
 * which key; the boundary only caps it (no IAM, no key administration, no grants).
 */
export function laneBoundaryStatements(n: LaneNames): PolicyStatement[] {
  return [
    { sid: "DirectoryBucketSessions", actions: ["s3express:CreateSession"], resources: [directoryBucketArnPattern(n)] },
    {
      sid: "UseLaneKeys",
      actions: ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
      resources: [`arn:aws:kms:${n.region}:*:key/*`],
    },
    { sid: "ArtifactList", actions: ["s3:ListBucket"], resources: [`arn:aws:s3:::${n.artifactBucketName}`] },
    { sid: "ArtifactObjects", actions: ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"], resources: [`arn:aws:s3:::${n.artifactBucketName}/*`] },
    // What the CloudWatch agent may call on the lane's log groups (CloudWatchAgentServerPolicy's logs actions).
    {
      sid: "LaneLogs",
      actions: ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams", "logs:PutRetentionPolicy"],
      resources: laneLogGroups(n),
    },
    { sid: "DescribeLogGroups", actions: ["logs:DescribeLogGroups"], resources: ["*"] },
    // PutMetricData, ec2:Describe*, ssm:GetCommandInvocation: no resource-level permissions.
    { sid: "Metrics", actions: ["cloudwatch:PutMetricData"], resources: ["*"] },
    { sid: "DescribeInstances", actions: ["ec2:DescribeTags", "ec2:DescribeInstances"], resources: ["*"] },
    // AmazonSSMManagedInstanceCore (attached to the host role): Session Manager and Run Command.
    {
      sid: "SsmManagedInstance",
      actions: [
        "ssm:DescribeAssociation",
        "ssm:GetDeployablePatchSnapshotForInstance",
        "ssm:GetDocument",
        "ssm:DescribeDocument",
        "ssm:GetManifest",
        "ssm:GetParameter",
        "ssm:GetParameters",
        "ssm:ListAssociations",
        "ssm:ListInstanceAssociations",
        "ssm:PutInventory",
        "ssm:PutComplianceItems",
        "ssm:PutConfigurePackageResult",
        "ssm:UpdateAssociationStatus",
        "ssm:UpdateInstanceAssociationStatus",
        "ssm:UpdateInstanceInformation",
        "ssmmessages:CreateControlChannel",
        "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel",
        "ssmmessages:OpenDataChannel",
        "ec2messages:AcknowledgeMessage",
        "ec2messages:DeleteMessage",
        "ec2messages:FailMessage",
        "ec2messages:GetEndpoint",
        "ec2messages:GetMessages",
        "ec2messages:SendReply",
      ],
      resources: ["*"],
    },
  ];
}

export interface PlanPermissionsProps extends LaneNames {
  readonly stateBucketArn: string;
  /** Key of the lane stack's state in the state bucket. */
  readonly laneStateKey: string;
}

/**
 * The plan role's permissions: what `terraform plan -lock=false` of the lane stack reads, and
 * nothing it could write with. Terraform refreshes every resource (Describe/Get/List calls), reads
 * the state object (S3 backend: s3:ListBucket, s3:GetObject), and reads the directory bucket with
 * HeadBucket, which for directory buckets needs s3express:CreateSession ("If no session mode is
 * specified, the session will be created with the maximum allowable privilege, attempting
 * ReadWrite first, then ReadOnly", S3 API reference, HeadBucket): granted with SessionMode
 * ReadOnly only. Key metadata is readable because the key policies name the plan role (KeyRead).
 */
export function grantLanePlanning(plan: IGrantable, p: PlanPermissionsProps): Grant {
  const grants: Grant[] = [];
  const add = (s: PolicyStatement) => grants.push(grantOnPrincipal(plan, s));
  const inRegion = { StringEquals: { "aws:RequestedRegion": p.region } };
  add({ sid: "ListStateBucket", actions: ["s3:ListBucket"], resources: [p.stateBucketArn] });
  add({ sid: "ReadLaneState", actions: ["s3:GetObject"], resources: [`${p.stateBucketArn}/${p.laneStateKey}`] });
  add({ sid: "DescribeNetworkAndCompute", actions: ["ec2:Describe*", "elasticloadbalancing:Describe*", "autoscaling:Describe*"], resources: ["*"], conditions: inRegion });
  add({
    sid: "ReadLaneIam",
    actions: ["iam:GetRole", "iam:GetRolePolicy", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole", "iam:GetInstanceProfile"],
    resources: [`arn:aws:iam::*:role/${p.prefix}-*`, `arn:aws:iam::*:instance-profile/${p.prefix}-*`],
  });
  add({ sid: "ReadManagedPolicies", actions: ["iam:GetPolicy", "iam:GetPolicyVersion"], resources: ["arn:aws:iam::aws:policy/*"] });
  add({ sid: "ListKeysAndAliases", actions: ["kms:ListAliases", "kms:ListKeys"], resources: ["*"] });
  add({
    sid: "ReadLaneDirectoryBucket",
    actions: ["s3express:GetBucketPolicy", "s3express:GetEncryptionConfiguration", "s3express:GetLifecycleConfiguration"],
    resources: [directoryBucketArnPattern(p)],
  });
  add({
    sid: "HeadLaneDirectoryBucket",
    actions: ["s3express:CreateSession"],
    resources: [directoryBucketArnPattern(p)],
    conditions: { StringEquals: { [SESSION_MODE_CONDITION_KEY]: "ReadOnly" } },
  });
  add({ sid: "ListDirectoryBuckets", actions: ["s3express:ListAllMyDirectoryBuckets"], resources: ["*"] });
  add({ sid: "ReadLaneLogs", actions: ["logs:ListTagsForResource", "logs:ListTagsLogGroup", "logs:DescribeMetricFilters"], resources: laneLogGroups(p) });
  add({ sid: "DescribeLogGroups", actions: ["logs:DescribeLogGroups"], resources: ["*"] });
  add({
    sid: "ReadLaneTopics",
    actions: ["sns:GetTopicAttributes", "sns:ListSubscriptionsByTopic", "sns:ListTagsForResource", "sns:GetSubscriptionAttributes"],
    resources: [`arn:aws:sns:${p.region}:*:${p.prefix}-*`],
  });
  add({
    sid: "ReadLaneAlarms",
    actions: ["cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource", "cloudwatch:GetDashboard"],
    resources: [`arn:aws:cloudwatch:${p.region}:*:alarm:${p.prefix}-*`, `arn:aws:cloudwatch::*:dashboard/${p.prefix}*`],
  });
  // The failed-launch rule and its target (DescribeRule, ListTagsForResource, ListTargetsByRule:
  // the provider's rule and target reads).
  add({
    sid: "ReadLaneRules",
    actions: ["events:DescribeRule", "events:ListTagsForResource", "events:ListTargetsByRule"],
    resources: [`arn:aws:events:${p.region}:*:rule/${p.prefix}-*`],
  });
  // data.aws_s3_objects (published wrapped seal keys decide the hosts' health check type) lists the
  // artifact bucket under that prefix only (s3:prefix: "Filters access by key name prefix",
  // Service Authorization Reference, Amazon S3, ListBucket).
  add({
    sid: "ListPublishedSealKeys",
    actions: ["s3:ListBucket"],
    resources: [`arn:aws:s3:::${p.artifactBucketName}`],
    conditions: { StringLike: { "s3:prefix": `${SEAL_KEYS_PREFIX}*` } },
  });
  add({
    sid: "ReadParameters",
    actions: ["ssm:GetParameter", "ssm:GetParameters", "ssm:ListTagsForResource"],
    resources: [`arn:aws:ssm:${p.region}:*:parameter/aws/service/*`, `arn:aws:ssm:${p.region}:*:parameter/${p.prefix}/*`],
  });
  add({ sid: "DescribeParameters", actions: ["ssm:DescribeParameters"], resources: ["*"] });
  return combineGrants(...grants);
}

export interface DeployPermissionsProps extends LaneNames {
  /** ARN of the lane boundary policy (roles created by the deploy role must carry it). */
  readonly boundaryArn: string;
  /** The deploy role's own ARN pattern (`arn:aws:iam::*:role/{name}`): everything IAM on it is denied. */
  readonly selfRoleArn: string;
}

/**
 * The deploy role's lane permissions. Every permission relied on, with the documentation:
 *  - iam:PassRole with iam:PassedToService (IAM User Guide, "Granting a user permissions to pass a
 *    role to an AWS service"): the host role goes only to EC2 (the instance profile);
 *  - kms:CreateKey with aws:RequestTag (KMS Developer Guide, "aws:RequestTag ... CreateKey"), and
 *    crypto on keys by aws:ResourceTag ("ABAC for AWS KMS"); key policies, which name the deploy
 *    role explicitly, remain the authority for every key of the lane;
 *  - s3express:PutEncryptionConfiguration "in an IAM identity-based policy instead of a bucket
 *    policy" (S3 API reference, PutBucketEncryption), with kms:GenerateDataKey + kms:Decrypt.
 */
export function grantLaneDeployment(deploy: IGrantable, p: DeployPermissionsProps): Grant {
  const grants: Grant[] = [];
  const add = (s: PolicyStatement) => grants.push(grantOnPrincipal(deploy, s));
  const inRegion = { StringEquals: { "aws:RequestedRegion": p.region } };
  const laneRoles = [`arn:aws:iam::*:role/${p.prefix}-*`];
  const withBoundary = { StringEquals: { "iam:PermissionsBoundary": p.boundaryArn } };

  add({ sid: "DeployLaneNetworkAndCompute", actions: ["ec2:*", "autoscaling:*", "elasticloadbalancing:*"], resources: ["*"], conditions: inRegion });
  add({
    // Would reach instances, volumes and networks that are not the lane's: changing another
    // instance's user data or profile runs code with its role; snapshots and images copy its disks;
    // internet paths break the lane's no-egress design (EL-NO-PUBLIC-IP checks the stack too).
    sid: "DenyReachingOtherWorkloads",
    effect: "Deny",
    actions: [
      "ec2:CreateSnapshot",
      "ec2:CreateSnapshots",
      "ec2:CopySnapshot",
      "ec2:ModifySnapshotAttribute",
      "ec2:CreateImage",
      "ec2:CopyImage",
      "ec2:ModifyImageAttribute",
      "ec2:ExportImage",
      "ec2:CreateInstanceExportTask",
      "ec2:GetPasswordData",
      "ec2:GetConsoleScreenshot",
      "ec2:CreateInternetGateway",
      "ec2:AttachInternetGateway",
      "ec2:CreateEgressOnlyInternetGateway",
      "ec2:CreateNatGateway",
      "ec2:AllocateAddress",
      "ec2:CreateVpcPeeringConnection",
      "ec2:AcceptVpcPeeringConnection",
    ],
    resources: ["*"],
  });
  add({
    sid: "DenyChangingOtherInstances",
    effect: "Deny",
    actions: [
      "ec2:ModifyInstanceAttribute",
      "ec2:AssociateIamInstanceProfile",
      "ec2:ReplaceIamInstanceProfileAssociation",
      "ec2:StartInstances",
      "ec2:StopInstances",
      "ec2:RebootInstances",
    ],
    resources: ["arn:aws:ec2:*:*:instance/*"],
    conditions: { StringNotEquals: { "aws:ResourceTag/Name": `${p.prefix}-host` } },
  });

  // Other workloads' launch templates and Auto Scaling groups: a new launch template version (user
  // data) or a changed group would run code under *their* instance profiles — an escalation that
  // needs no iam:PassRole. Lane launch templates carry the lane tag (provider default tags); lane
  // groups are named `{prefix}-hosts-*` (aws_autoscaling_group gets no default tags). Security
  // groups of others are not the lane's to open.
  add({
    sid: "DenyOtherLaunchTemplates",
    effect: "Deny",
    actions: ["ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate", "ec2:DeleteLaunchTemplate", "ec2:DeleteLaunchTemplateVersions"],
    resources: ["arn:aws:ec2:*:*:launch-template/*"],
    conditions: { StringNotEquals: { [`aws:ResourceTag/${LANE_TAG}`]: p.laneName } },
  });
  add({
    sid: "DenyOtherAutoScalingGroups",
    effect: "Deny",
    actions: [
      "autoscaling:UpdateAutoScalingGroup",
      "autoscaling:DeleteAutoScalingGroup",
      "autoscaling:SetDesiredCapacity",
      "autoscaling:StartInstanceRefresh",
      "autoscaling:CancelInstanceRefresh",
      "autoscaling:AttachInstances",
      "autoscaling:AttachLoadBalancerTargetGroups",
      "autoscaling:AttachTrafficSources",
      "autoscaling:PutLifecycleHook",
      "autoscaling:PutScalingPolicy",
      "autoscaling:CreateOrUpdateTags",
      "autoscaling:DeleteTags",
      "autoscaling:TerminateInstanceInAutoScalingGroup",
    ],
    notResources: [`arn:aws:autoscaling:${p.region}:*:autoScalingGroup:*:autoScalingGroupName/${p.prefix}-hosts-*`],
  });
  add({
    sid: "DenyOtherSecurityGroups",
    effect: "Deny",
    actions: [
      "ec2:AuthorizeSecurityGroupIngress",
      "ec2:AuthorizeSecurityGroupEgress",
      "ec2:RevokeSecurityGroupIngress",
      "ec2:RevokeSecurityGroupEgress",
      "ec2:ModifySecurityGroupRules",
      "ec2:DeleteSecurityGroup",
    ],
    resources: ["arn:aws:ec2:*:*:security-group/*"],
    conditions: { StringNotEquals: { [`aws:ResourceTag/${LANE_TAG}`]: p.laneName } },
  });

  // IAM: lane roles only, always with the boundary; never the deploy role itself.
  add({
    sid: "CreateBoundedLaneRoles",
    actions: ["iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:AttachRolePolicy", "iam:DetachRolePolicy", "iam:PutRolePermissionsBoundary"],
    resources: laneRoles,
    conditions: withBoundary,
  });
  add({
    sid: "ManageLaneRoles",
    actions: [
      "iam:GetRole",
      "iam:GetRolePolicy",
      "iam:ListRolePolicies",
      "iam:ListAttachedRolePolicies",
      "iam:ListInstanceProfilesForRole",
      "iam:DeleteRole",
      "iam:TagRole",
      "iam:UntagRole",
      "iam:UpdateRole",
      "iam:UpdateRoleDescription",
      "iam:UpdateAssumeRolePolicy",
    ],
    resources: laneRoles,
  });
  add({
    sid: "ManageLaneInstanceProfiles",
    actions: [
      "iam:CreateInstanceProfile",
      "iam:DeleteInstanceProfile",
      "iam:GetInstanceProfile",
      "iam:AddRoleToInstanceProfile",
      "iam:RemoveRoleFromInstanceProfile",
      "iam:TagInstanceProfile",
      "iam:UntagInstanceProfile",
    ],
    resources: [`arn:aws:iam::*:instance-profile/${p.prefix}-*`],
  });
  add({ sid: "PassLaneRolesToEc2", actions: ["iam:PassRole"], resources: laneRoles, conditions: { StringEquals: { "iam:PassedToService": "ec2.amazonaws.com" } } });
  add({ sid: "ReadManagedPolicies", actions: ["iam:GetPolicy", "iam:GetPolicyVersion"], resources: ["arn:aws:iam::aws:policy/*"] });
  add({
    sid: "ServiceLinkedRoles",
    actions: ["iam:CreateServiceLinkedRole"],
    resources: ["arn:aws:iam::*:role/aws-service-role/*"],
    conditions: { StringEquals: { "iam:AWSServiceName": ["autoscaling.amazonaws.com", "elasticloadbalancing.amazonaws.com"] } },
  });
  add({ sid: "DenyChangingItself", effect: "Deny", actions: ["iam:*"], resources: [p.selfRoleArn] });
  // Lanes share name prefixes (`express-lane-*` also matches `express-lane-eu1-*`), so resources of
  // another lane are told apart by their lane tag (provider default tags): anything tagged with a
  // different lane is off limits, whatever the name patterns above allow. Untagged resources (and
  // actions without resource tags) are unaffected. (aws:ResourceTag/key-name: "Use this key to
  // compare the tag key-value pair that you specify in the policy with the key-value pair attached to
  // the resource", IAM User Guide, global condition keys.)
  add({
    sid: "DenyOtherLanes",
    effect: "Deny",
    actions: ["iam:*", "kms:*", "sns:*", "cloudwatch:*", "logs:*", "events:*", "ec2:*", "autoscaling:*", "elasticloadbalancing:*", "s3express:*", "ssm:*"],
    resources: ["*"],
    conditions: { StringNotEquals: { [`aws:ResourceTag/${LANE_TAG}`]: p.laneName }, Null: { [`aws:ResourceTag/${LANE_TAG}`]: "false" } },
  });
  add({ sid: "DenyRemovingBoundaries", effect: "Deny", actions: ["iam:DeleteRolePermissionsBoundary"], resources: ["*"] });
  add({
    sid: "DenyChangingTheBoundary",
    effect: "Deny",
    actions: ["iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion", "iam:SetDefaultPolicyVersion"],
    resources: [p.boundaryArn],
  });

  // KMS: create keys only tagged as the lane's; lifecycle and use only on the lane's keys.
  add({
    sid: "CreateLaneKeys",
    actions: ["kms:CreateKey"],
    resources: ["*"],
    conditions: { StringEquals: { "aws:RequestedRegion": p.region, [`aws:RequestTag/${LANE_TAG}`]: p.laneName } },
  });
  add({
    sid: "TagNewLaneKeys",
    actions: ["kms:TagResource"],
    resources: [`arn:aws:kms:${p.region}:*:key/*`],
    conditions: { StringEquals: { [`aws:RequestTag/${LANE_TAG}`]: p.laneName } },
  });
  add({ sid: "ListKeysAndAliases", actions: ["kms:ListAliases", "kms:ListKeys"], resources: ["*"] });
  add({
    sid: "ManageLaneKeys",
    actions: [...KEY_LIFECYCLE_ACTIONS],
    resources: [`arn:aws:kms:${p.region}:*:key/*`],
    conditions: { StringEquals: { [`aws:ResourceTag/${LANE_TAG}`]: p.laneName } },
  });
  add({ sid: "ManageLaneAliases", actions: ["kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias"], resources: [`arn:aws:kms:${p.region}:*:alias/${p.prefix}-*`] });
  add({
    sid: "BucketKeyForEncryptionSetup",
    actions: ["kms:GenerateDataKey", "kms:Decrypt"],
    resources: [`arn:aws:kms:${p.region}:*:key/*`],
    conditions: { StringEquals: { [`aws:ResourceTag/${LANE_TAG}`]: p.laneName, [`aws:ResourceTag/${KEY_ROLE_TAG}`]: "bucket" } },
  });

  // S3 Express: the lane's directory bucket (any AZ), and listing.
  add({ sid: "ManageLaneDirectoryBucket", actions: ["s3express:*"], resources: [directoryBucketArnPattern(p)] });
  add({ sid: "ListDirectoryBuckets", actions: ["s3express:ListAllMyDirectoryBuckets"], resources: ["*"] });

  // Observability: the lane's log groups, topics, alarms and dashboard.
  add({ sid: "ManageLaneLogs", actions: ["logs:*"], resources: laneLogGroups(p) });
  add({ sid: "DescribeLogGroups", actions: ["logs:DescribeLogGroups"], resources: ["*"] });
  add({ sid: "ManageLaneTopics", actions: ["sns:*"], resources: [`arn:aws:sns:${p.region}:*:${p.prefix}-*`] });
  add({ sid: "ManageLaneAlarms", actions: ["cloudwatch:*"], resources: [`arn:aws:cloudwatch:${p.region}:*:alarm:${p.prefix}-*`, `arn:aws:cloudwatch::*:dashboard/${p.prefix}*`] });
  add({ sid: "DescribeAlarms", actions: ["cloudwatch:DescribeAlarms", "cloudwatch:GetDashboard"], resources: ["*"] });
  // EventBridge: the lane's rules on the default bus (failed launches → the alarm topic). Rule ARNs
  // are `arn:aws:events:{region}:{account}:rule/{name}` (Service Authorization Reference, Amazon
  // EventBridge, resource type rule-on-default-event-bus:
  // https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoneventbridge.html).
  // events:TagResource because the provider tags the rule with the default tags, in PutRule or,
  // where tag-on-create is unsupported, with TagResource after it (provider rule.go). Targets are limited to the
  // lane's topics with events:TargetArn ("Filters access by the ARN of a target that can be put to
  // a rule", same reference), so a lane rule cannot route events anywhere else; no iam:PassRole
  // to events.amazonaws.com is granted, so no target can run with a role.
  const laneRules = [`arn:aws:events:${p.region}:*:rule/${p.prefix}-*`];
  add({
    sid: "ManageLaneRules",
    actions: [
      "events:PutRule",
      "events:DescribeRule",
      "events:DeleteRule",
      "events:EnableRule",
      "events:DisableRule",
      "events:ListTargetsByRule",
      "events:RemoveTargets",
      "events:TagResource",
      "events:UntagResource",
      "events:ListTagsForResource",
    ],
    resources: laneRules,
  });
  add({
    sid: "TargetLaneTopicsOnly",
    actions: ["events:PutTargets"],
    resources: laneRules,
    conditions: { "ForAllValues:ArnLike": { "events:TargetArn": [`arn:aws:sns:${p.region}:*:${p.prefix}-*`] }, Null: { "events:TargetArn": "false" } },
  });
  add({
    sid: "ReadAmiParameter",
    actions: ["ssm:GetParameter", "ssm:GetParameters"],
    resources: [`arn:aws:ssm:${p.region}:*:parameter/aws/service/*`, `arn:aws:ssm:${p.region}:*:parameter/${p.prefix}/*`],
  });
  // The lane's own parameters (e.g. the API key digests, /{prefix}/api-keys: runtime/auth.ts).
  add({
    sid: "ManageLaneParameters",
    actions: ["ssm:PutParameter", "ssm:DeleteParameter", "ssm:GetParameter", "ssm:GetParameters", "ssm:AddTagsToResource", "ssm:RemoveTagsFromResource", "ssm:ListTagsForResource"],
    resources: [`arn:aws:ssm:${p.region}:*:parameter/${p.prefix}/*`],
  });
  add({ sid: "DescribeParameters", actions: ["ssm:DescribeParameters"], resources: ["*"] });
  return combineGrants(...grants);
}

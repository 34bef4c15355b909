/**
 * The narrowed deploy role can still create and destroy the lane: every AWS call Terraform makes
 * for the lane stack's resource types (create, refresh, destroy), evaluated with the deploy role's
 * identity policy and, where the resource has one, its resource policy. The call list follows the
 * AWS provider's create/read/delete functions and each API's documented permission.
 */
import { ACCOUNT, REGION, Synth, evaluate, kmsKey, kmsKeyArn, principalPolicies, resources, roleArn, synth } from "./simulate";

const s: Synth = synth();
const deploy = { principal: roleArn("express-lane-deploy"), ...principalPolicies(s, "express-lane-deploy") };
const bucket = resources(s.lane, "aws_s3_directory_bucket")[0].bucket as string;
const bucketArn = `arn:aws:s3express:${REGION}:${ACCOUNT}:bucket/${bucket}`;
const bucketPolicy = resources(s.lane, "aws_s3_bucket_policy").find((p) => p.bucket === bucket)!.policy as string;
const bucketKeyArn = kmsKeyArn(s, "Keys_BucketKey");
const bucketKeyPolicy = kmsKey(s, "Keys_BucketKey").policy as string;
const sealKeyArn = kmsKeyArn(s, "SealKey");
const sealInitial = kmsKey(s, "SealKey").policy as string;
const sealLane = resources(s.lane, "aws_kms_key_policy")[0].policy as string;
const laneTag = { "aws:ResourceTag/ExpressLaneLane": "main" };
const bucketKeyTags = { ...laneTag, "aws:ResourceTag/ExpressLaneKeyRole": "bucket" };
const boundary = `arn:aws:iam::${ACCOUNT}:policy/express-lane-boundary`;
const stateBucket = `arn:aws:s3:::${s.config.stateBucketName}`;
const ec2 = (type: string) => `arn:aws:ec2:${REGION}:${ACCOUNT}:${type}/*`;

type Call = [action: string, resource: string, context?: Record<string, string>, resourcePolicy?: string];
const calls: Record<string, Call[]> = {
  "S3 backend (state, lock file)": [
    ["s3:ListBucket", stateBucket],
    ["s3:GetObject", `${stateBucket}/lanes/main/express-lane.tfstate`],
    ["s3:PutObject", `${stateBucket}/lanes/main/express-lane.tfstate`],
    ["s3:PutObject", `${stateBucket}/lanes/main/express-lane.tfstate.tflock`],
    ["s3:DeleteObject", `${stateBucket}/lanes/main/express-lane.tfstate.tflock`],
  ],
  "network (VPC, subnet, route table, endpoints, security groups)": [
    ["ec2:CreateVpc", ec2("vpc")],
    ["ec2:CreateSubnet", ec2("subnet")],
    ["ec2:CreateRouteTable", ec2("route-table")],
    ["ec2:CreateVpcEndpoint", ec2("vpc-endpoint")],
    ["ec2:CreateSecurityGroup", ec2("security-group")],
    ["ec2:AuthorizeSecurityGroupIngress", ec2("security-group-rule")],
    ["ec2:AuthorizeSecurityGroupIngress", ec2("security-group"), laneTag],
    ["ec2:DeleteSecurityGroup", ec2("security-group"), laneTag],
    ["ec2:DescribeVpcs", "*"],
    ["ec2:DeleteVpc", ec2("vpc")],
  ],
  "bucket key and alias": [
    ["kms:CreateKey", "*", { "aws:RequestTag/ExpressLaneLane": "main", "aws:RequestTag/ExpressLaneKeyRole": "bucket" }],
    ["kms:TagResource", bucketKeyArn, { "aws:RequestTag/ExpressLaneLane": "main" }, bucketKeyPolicy],
    ["kms:PutKeyPolicy", bucketKeyArn, bucketKeyTags, bucketKeyPolicy],
    ["kms:EnableKeyRotation", bucketKeyArn, bucketKeyTags, bucketKeyPolicy],
    ["kms:DescribeKey", bucketKeyArn, bucketKeyTags, bucketKeyPolicy],
    ["kms:GetKeyPolicy", bucketKeyArn, bucketKeyTags, bucketKeyPolicy],
    ["kms:GetKeyRotationStatus", bucketKeyArn, bucketKeyTags, bucketKeyPolicy],
    ["kms:ListResourceTags", bucketKeyArn, bucketKeyTags, bucketKeyPolicy],
    ["kms:CreateAlias", `arn:aws:kms:${REGION}:${ACCOUNT}:alias/express-lane-bucket`],
    ["kms:CreateAlias", bucketKeyArn, bucketKeyTags, bucketKeyPolicy],
    ["kms:ListAliases", "*"],
    ["kms:ScheduleKeyDeletion", bucketKeyArn, bucketKeyTags, bucketKeyPolicy],
  ],
  "seal key policy (lane) on the bootstrap's key": [
    ["kms:DescribeKey", sealKeyArn, laneTag, sealInitial],
    ["kms:PutKeyPolicy", sealKeyArn, laneTag, sealInitial],
    ["kms:GetKeyPolicy", sealKeyArn, laneTag, sealLane],
    ["kms:PutKeyPolicy", sealKeyArn, laneTag, sealLane],
  ],
  "directory bucket, encryption, policy, emptying and deletion": [
    ["s3express:CreateBucket", bucketArn],
    ["s3express:PutEncryptionConfiguration", bucketArn],
    ["kms:GenerateDataKey", bucketKeyArn, bucketKeyTags, bucketKeyPolicy],
    ["kms:Decrypt", bucketKeyArn, bucketKeyTags, bucketKeyPolicy],
    ["s3express:PutBucketPolicy", bucketArn],
    ["s3express:GetBucketPolicy", bucketArn],
    ["s3express:CreateSession", bucketArn, { "s3express:SessionMode": "ReadWrite" }, bucketPolicy],
    ["s3express:DeleteBucketPolicy", bucketArn],
    ["s3express:DeleteBucket", bucketArn],
  ],
  "IAM roles, policies, instance profile": [
    ["iam:CreateRole", roleArn("express-lane-host"), { "iam:PermissionsBoundary": boundary }],
    ["iam:TagRole", roleArn("express-lane-host"), laneTag],
    ["iam:PutRolePolicy", roleArn("express-lane-host"), { "iam:PermissionsBoundary": boundary }],
    ["iam:AttachRolePolicy", roleArn("express-lane-host"), { "iam:PermissionsBoundary": boundary, "iam:PolicyARN": "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore" }],
    ["iam:GetRole", roleArn("express-lane-host"), laneTag],
    ["iam:CreateInstanceProfile", `arn:aws:iam::${ACCOUNT}:instance-profile/express-lane-host`],
    ["iam:AddRoleToInstanceProfile", `arn:aws:iam::${ACCOUNT}:instance-profile/express-lane-host`],
    ["iam:PassRole", roleArn("express-lane-host"), { "iam:PassedToService": "ec2.amazonaws.com" }],
    ["iam:DetachRolePolicy", roleArn("express-lane-host"), { "iam:PermissionsBoundary": boundary }],
    ["iam:DeleteRolePolicy", roleArn("express-lane-host"), { "iam:PermissionsBoundary": boundary }],
    ["iam:DeleteRole", roleArn("express-lane-host"), laneTag],
  ],
  "hosts (launch template, ASG, NLB)": [
    ["ec2:CreateLaunchTemplate", ec2("launch-template")],
    ["ec2:CreateLaunchTemplateVersion", ec2("launch-template"), laneTag],
    ["autoscaling:UpdateAutoScalingGroup", `arn:aws:autoscaling:${REGION}:${ACCOUNT}:autoScalingGroup:01234567-89ab-cdef-0123-456789abcdef:autoScalingGroupName/express-lane-hosts-1`],
    ["autoscaling:StartInstanceRefresh", `arn:aws:autoscaling:${REGION}:${ACCOUNT}:autoScalingGroup:01234567-89ab-cdef-0123-456789abcdef:autoScalingGroupName/express-lane-hosts-1`],
    ["autoscaling:CreateAutoScalingGroup", `arn:aws:autoscaling:${REGION}:${ACCOUNT}:autoScalingGroup:01234567-89ab-cdef-0123-456789abcdef:autoScalingGroupName/express-lane-hosts-1`],
    ["iam:CreateServiceLinkedRole", `arn:aws:iam::${ACCOUNT}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling`, { "iam:AWSServiceName": "autoscaling.amazonaws.com" }],
    ["elasticloadbalancing:CreateLoadBalancer", `arn:aws:elasticloadbalancing:${REGION}:${ACCOUNT}:loadbalancer/net/express-lane-nlb/1`],
    ["elasticloadbalancing:CreateTargetGroup", `arn:aws:elasticloadbalancing:${REGION}:${ACCOUNT}:targetgroup/express-lane-tg/1`],
    // Public parameters are owned by AWS (no account in their ARN); the policy's `*` account matches
    // that as well as this form, which the evaluator can model.
    ["ssm:GetParameter", `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64`],
    ["ssm:GetParameter", `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/express-lane/bootstrap/break-glass-admin-arn`],
  ],
  "observability (log groups, topic, alarms, dashboard)": [
    ["logs:CreateLogGroup", `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/express-lane/runtime`],
    ["logs:PutRetentionPolicy", `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/express-lane/runtime`],
    ["logs:DescribeLogGroups", "*"],
    ["sns:CreateTopic", `arn:aws:sns:${REGION}:${ACCOUNT}:express-lane-alarms`],
    ["cloudwatch:PutMetricAlarm", `arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:express-lane-read-latency-p99`],
    ["cloudwatch:PutDashboard", `arn:aws:cloudwatch::${ACCOUNT}:dashboard/express-lane`],
  ],
};

describe.each(Object.entries(calls))("the deploy role can make Terraform's calls: %s", (_group, list) => {
  test("every call is allowed", async () => {
    const denied: string[] = [];
    for (const [action, resource, context, resourcePolicy] of list) {
      const d = await evaluate({ ...deploy, action, resource, context, resourcePolicy }).catch((e: Error) => e.message);
      if (d !== "Allowed") denied.push(`${action} on ${resource}: ${d}`);
    }
    expect(denied).toEqual([]);
  });
});

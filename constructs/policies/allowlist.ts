/**
 * Documented exceptions to the "no `*` in IAM" rule. Every entry says why.
 * A statement is exempt only if its Sid is listed here (or, for `Resource: "*"`, all of its
 * actions are listed in RESOURCE_WILDCARD_ACTIONS).
 */

/** Statement Sids allowed to use service-wide action wildcards and/or `Resource: "*"`. */
export const WILDCARD_STATEMENT_ALLOWLIST: Readonly<Record<string, string>> = {
  DeployLaneInfrastructure:
    "The deploy role creates and deletes every resource type of the lane stack (VPC, endpoints, EC2, ASG, ELB, IAM roles, KMS keys, S3 Express, CloudWatch, SNS); resource names are not known before creation. Limited to the lane's region by aws:RequestedRegion and assumable only from the protected GitHub environment.",
  DeployLaneIam:
    "The deploy role manages the lane's IAM roles and instance profile; restricted to names starting with express-lane.",
};

/** Actions that support no resource-level permissions, so `Resource: "*"` is required. */
export const RESOURCE_WILDCARD_ACTIONS: Readonly<Record<string, string>> = {
  "cloudwatch:PutMetricData": "no resource-level permissions; scoped by the cloudwatch:namespace condition",
  "ec2:DescribeTags": "describe actions have no resource-level permissions",
  "ec2:DescribeInstances": "describe actions have no resource-level permissions (the benchmark finds the lane hosts by tag)",
  "ssm:GetCommandInvocation": "no resource-level permissions; it only reads results of commands the caller may send (SendCommand is scoped to the hosts' tag)",
};

/** Resource types whose policies use `Resource: "*"` to mean "this resource" (key policies). */
export const SELF_REFERENCING_POLICY_TYPES: readonly string[] = ["aws_kms_key"];

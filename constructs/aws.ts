/**
 * The one place that imports the AWS provider bindings.
 *
 * Every construct imports AWS resources from here, so moving from `@cdktf/provider-aws` to the
 * community fork `@cdktn/provider-aws` (or another major version) is a change to this file only.
 */
export { AwsProvider } from "@cdktf/provider-aws/lib/provider";
export { AutoscalingGroup } from "@cdktf/provider-aws/lib/autoscaling-group";
export { CloudwatchEventRule } from "@cdktf/provider-aws/lib/cloudwatch-event-rule";
export { CloudwatchEventTarget } from "@cdktf/provider-aws/lib/cloudwatch-event-target";
export { CloudwatchLogMetricFilter } from "@cdktf/provider-aws/lib/cloudwatch-log-metric-filter";
export { CloudwatchDashboard } from "@cdktf/provider-aws/lib/cloudwatch-dashboard";
export { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
export { CloudwatchMetricAlarm } from "@cdktf/provider-aws/lib/cloudwatch-metric-alarm";
export { DataAwsKmsKey } from "@cdktf/provider-aws/lib/data-aws-kms-key";
export { DataAwsCallerIdentity } from "@cdktf/provider-aws/lib/data-aws-caller-identity";
export { DataAwsIamSessionContext } from "@cdktf/provider-aws/lib/data-aws-iam-session-context";
export { DataAwsS3Objects } from "@cdktf/provider-aws/lib/data-aws-s3-objects";
export { DataAwsSsmParameter } from "@cdktf/provider-aws/lib/data-aws-ssm-parameter";
export { IamInstanceProfile } from "@cdktf/provider-aws/lib/iam-instance-profile";
export { IamPolicy } from "@cdktf/provider-aws/lib/iam-policy";
export { IamOpenidConnectProvider } from "@cdktf/provider-aws/lib/iam-openid-connect-provider";
export { IamRole } from "@cdktf/provider-aws/lib/iam-role";
export { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
export { IamRolePolicyAttachment } from "@cdktf/provider-aws/lib/iam-role-policy-attachment";
export { KmsAlias } from "@cdktf/provider-aws/lib/kms-alias";
export { KmsKey } from "@cdktf/provider-aws/lib/kms-key";
export { KmsKeyPolicy } from "@cdktf/provider-aws/lib/kms-key-policy";
export { LaunchTemplate } from "@cdktf/provider-aws/lib/launch-template";
export { Lb } from "@cdktf/provider-aws/lib/lb";
export { LbListener } from "@cdktf/provider-aws/lib/lb-listener";
export { LbTargetGroup } from "@cdktf/provider-aws/lib/lb-target-group";
export { RouteTable } from "@cdktf/provider-aws/lib/route-table";
export { RouteTableAssociation } from "@cdktf/provider-aws/lib/route-table-association";
export { S3Bucket } from "@cdktf/provider-aws/lib/s3-bucket";
export { S3BucketPolicy } from "@cdktf/provider-aws/lib/s3-bucket-policy";
export { S3BucketPublicAccessBlock } from "@cdktf/provider-aws/lib/s3-bucket-public-access-block";
export { S3BucketServerSideEncryptionConfigurationA as S3BucketServerSideEncryptionConfiguration } from "@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration";
export { S3BucketVersioningA as S3BucketVersioning } from "@cdktf/provider-aws/lib/s3-bucket-versioning";
export { S3BucketOwnershipControls } from "@cdktf/provider-aws/lib/s3-bucket-ownership-controls";
export { S3DirectoryBucket } from "@cdktf/provider-aws/lib/s3-directory-bucket";
export { SecurityGroup } from "@cdktf/provider-aws/lib/security-group";
export { SnsTopic } from "@cdktf/provider-aws/lib/sns-topic";
export { SnsTopicPolicy } from "@cdktf/provider-aws/lib/sns-topic-policy";
export { SnsTopicSubscription } from "@cdktf/provider-aws/lib/sns-topic-subscription";
export { SsmParameter } from "@cdktf/provider-aws/lib/ssm-parameter";
export { Subnet } from "@cdktf/provider-aws/lib/subnet";
export { Vpc } from "@cdktf/provider-aws/lib/vpc";
export { VpcEndpoint } from "@cdktf/provider-aws/lib/vpc-endpoint";
export { VpcEndpointService } from "@cdktf/provider-aws/lib/vpc-endpoint-service";
export { VpcSecurityGroupEgressRule } from "@cdktf/provider-aws/lib/vpc-security-group-egress-rule";
export { VpcSecurityGroupIngressRule } from "@cdktf/provider-aws/lib/vpc-security-group-ingress-rule";

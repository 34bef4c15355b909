/**
 * Bootstrap stack: applied once, by an administrator, with local state (see docs/deploy.md).
 * Creates the Terraform state bucket, the release artifact bucket, and GitHub OIDC federation
 * with the deploy role used by .github/workflows/deploy.yml and destroy.yml.
 */
import { TerraformOutput, TerraformStack } from "cdktf";
import { Construct } from "constructs";
import { AwsProvider } from "../constructs/aws";
import { grantRunCommandOnHosts } from "../constructs/enclave-hosts";
import { GithubOidc } from "../constructs/github-oidc";
import { Key } from "../constructs/key";
import { createSealKey } from "../constructs/lane-keys";
import { VersionedBucket } from "../constructs/versioned-bucket";
import { grantAssumeRole } from "../constructs/iam";
import { LaneConfig, writerRoleName } from "./config";

export class BootstrapStack extends TerraformStack {
  readonly stateBucket: VersionedBucket;
  readonly artifactBucket: VersionedBucket;
  readonly github: GithubOidc;
  /** The seal KMS key: created here, before the EIF build pins its ARN; its policy is set by the lane stack. */
  readonly sealKey: Key;

  constructor(scope: Construct, id: string, config: LaneConfig) {
    super(scope, id);
    new AwsProvider(this, "aws", { region: config.region, defaultTags: [{ tags: { Project: config.project, Stack: id } }] });

    this.stateBucket = new VersionedBucket(this, "StateBucket", { bucketName: config.stateBucketName });
    this.artifactBucket = new VersionedBucket(this, "ArtifactBucket", { bucketName: config.artifactBucketName });
    this.github = new GithubOidc(this, "Github", {
      repository: config.repository,
      environment: config.environment,
      roleName: config.deployRoleName,
    });

    const deploy = this.github.deployRole;
    this.sealKey = createSealKey(this, "SealKey", { prefix: config.project, admins: [deploy.roleArn] });
    this.stateBucket.grantReadWrite(deploy);
    this.artifactBucket.grantReadWrite(deploy, "releases/");
    deploy.addToPrincipalPolicy({
      sid: "DeployLaneInfrastructure",
      actions: [
        "ec2:*",
        "autoscaling:*",
        "elasticloadbalancing:*",
        "kms:*",
        "s3express:*",
        "cloudwatch:*",
        "logs:*",
        "sns:*",
        "ssm:GetParameter",
        "ssm:GetParameters",
      ],
      resources: ["*"],
      conditions: { StringEquals: { "aws:RequestedRegion": config.region } },
    });
    deploy.addToPrincipalPolicy({
      sid: "DeployLaneIam",
      actions: ["iam:*"],
      resources: [`arn:aws:iam::*:role/${config.project}-*`, `arn:aws:iam::*:instance-profile/${config.project}-*`],
    });
    deploy.addToPrincipalPolicy({
      sid: "ServiceLinkedRoles",
      actions: ["iam:CreateServiceLinkedRole"],
      resources: ["arn:aws:iam::*:role/aws-service-role/*"],
    });

    // The bench workflow runs the bundled benchmark on a host over SSM (scripts/remote-bench.ts),
    // and may first load the benchmark's own entities (view express_lane_bench) as the writer role.
    grantRunCommandOnHosts(deploy, { region: config.region, namePrefix: config.project });
    grantAssumeRole(deploy, `arn:aws:iam::*:role/${writerRoleName(config.project)}`, "LoadBenchmarkDataAsWriter");

    new TerraformOutput(this, "deploy_role_arn", {
      value: deploy.roleArn,
      description: "Set as the GitHub environment variable AWS_DEPLOY_ROLE_ARN",
    });
    new TerraformOutput(this, "state_bucket", { value: this.stateBucket.bucketName });
    new TerraformOutput(this, "artifact_bucket", { value: this.artifactBucket.bucketName });
    new TerraformOutput(this, "oidc_subject", { value: this.github.subject });
    new TerraformOutput(this, "seal_key_arn", { value: this.sealKey.keyArn, description: "Pinned into the enclave image (scripts/build-eif.sh SEAL_KMS_KEY_ARN)" });
  }
}

/**
 * Bootstrap stack: applied once per lane, by an administrator, with local state (see
 * docs/deploy.md). Creates the Terraform state bucket, the release artifact bucket, GitHub OIDC
 * federation with the deploy role used by the workflows, the permissions boundary of every role
 * the deploy role creates, the seal key and the admin signing key.
 */
import { Fn, LocalBackend, Op, S3Backend, TerraformOutput, TerraformStack } from "cdktf";
import { Construct } from "constructs";
import { AwsProvider, DataAwsCallerIdentity, DataAwsIamSessionContext, SsmParameter } from "../constructs/aws";
import { grantRunCommandOnHosts } from "../constructs/enclave-hosts";
import { GithubOidc } from "../constructs/github-oidc";
import { grantAssumeRole, ManagedPolicy, Role } from "../constructs/iam";
import { Key } from "../constructs/key";
import { createDirectorySigningKey, createSealKey } from "../constructs/lane-keys";
import { boundaryPolicyName, grantLaneDeployment, grantLanePlanning, laneBoundaryStatements } from "../constructs/permissions";
import { LANE_TAG } from "../constructs/perms";
import { PolicySuppressions } from "../constructs/policies/suppressions";
import { VersionedBucket } from "../constructs/versioned-bucket";
import { breakGlassParameterName, LaneConfig, writerRoleName } from "./config";

export class BootstrapStack extends TerraformStack {
  readonly stateBucket: VersionedBucket;
  readonly artifactBucket: VersionedBucket;
  readonly github: GithubOidc;
  /** Read-only role of the workflows' plan jobs (environment `{environment}-plan`). */
  readonly planRole: Role;
  /** The permissions boundary every role created by the deploy role carries. */
  readonly boundary: ManagedPolicy;
  /** The seal KMS key: created here, before the EIF build pins its ARN; its policy is set by the lane stack. */
  readonly sealKey: Key;
  /** The admin signing key (Ed25519): signs the writer key directory; its public key is pinned in the EIF. */
  readonly directorySigningKey: Key;
  /** The principal applying the bootstrap (its IAM role ARN when it is an assumed-role session). */
  readonly callerArn: string;
  /** Full administrator of every key: EXPRESS_LANE_BREAK_GLASS_ADMIN_ARN, else the caller. */
  readonly breakGlassAdminArn: string;

  constructor(scope: Construct, id: string, config: LaneConfig) {
    super(scope, id);
    const prefix = config.namePrefix;
    new AwsProvider(this, "aws", { region: config.region, defaultTags: [{ tags: { Project: config.project, Stack: id, [LANE_TAG]: config.laneName } }] });
    // First apply: local state, one file per lane (the state bucket does not exist yet). Then
    // EXPRESS_LANE_BOOTSTRAP_STATE=s3 and `terraform init -migrate-state` move it into the state
    // bucket it created (docs/deploy.md, "Bootstrap order").
    if (config.bootstrapState === "s3") {
      new S3Backend(this, { bucket: config.stateBucketName, key: config.bootstrapStateKey, region: config.region, encrypt: true });
      this.addOverride("terraform.backend.s3.use_lockfile", true);
    } else {
      new LocalBackend(this, { path: config.bootstrapStateFile });
    }

    // B1. KMS CreateKey: "the key policy must allow the calling principal to make a subsequent
    // PutKeyPolicy request on the KMS key" (KMS API reference, CreateKey, Policy). The caller is an
    // STS session when the administrator uses a role (SSO, assumed role): aws_iam_session_context
    // "provides information about the IAM source role of an STS assumed role. For non-role ARNs,
    // this data source simply passes the ARN through in issuer_arn" (Terraform AWS provider docs),
    // and key policies name the role, not the session.
    const caller = new DataAwsCallerIdentity(this, "Caller");
    const session = new DataAwsIamSessionContext(this, "CallerSession", { arn: caller.arn });
    this.callerArn = session.issuerArn;
    this.breakGlassAdminArn = config.breakGlassAdminArn ?? this.callerArn;
    const keyAdmins = [...new Set([this.breakGlassAdminArn, this.callerArn])];

    this.stateBucket = new VersionedBucket(this, "StateBucket", { bucketName: config.stateBucketName });
    this.artifactBucket = new VersionedBucket(this, "ArtifactBucket", { bucketName: config.artifactBucketName });
    this.github = new GithubOidc(this, "Github", {
      repository: config.repository,
      repositoryIds: config.github.repositoryIds,
      subjectFormats: config.github.subjectFormats,
      environment: config.environment,
      restrictToWorkflows: config.github.workflows,
      defaultBranch: config.github.defaultBranch,
      useExistingProvider: config.github.useExistingProvider,
      roleName: config.deployRoleName,
      planRole: { roleName: config.planRoleName, environment: config.planEnvironment },
    });
    const deploy = this.github.deployRole;
    this.planRole = this.github.planRole!;

    const names = { prefix, laneName: config.laneName, region: config.region, bucketBaseName: config.bucketBaseName, artifactBucketName: config.artifactBucketName };
    this.boundary = new ManagedPolicy(this, "LaneBoundary", {
      policyName: boundaryPolicyName(prefix),
      description: `Permissions boundary of every role the ${prefix} deploy role creates`,
      statements: laneBoundaryStatements(names),
    });
    PolicySuppressions.add(this.boundary, [
      {
        id: "EL-IAM-NO-WILDCARD",
        reason:
          "A permissions boundary is a ceiling, not a grant: PutMetricData, ec2:Describe* and the SSM agent's actions support no resource-level permissions; key use is capped to the region's keys and decided by each key's policy.",
        appliesTo: ["Resource::*"],
      },
    ]);

    this.sealKey = createSealKey(this, "SealKey", { prefix, admins: keyAdmins, policyOperators: [deploy.roleArn], readers: [this.planRole.roleArn] });
    this.sealKey.resource.lifecycle = {
      ...this.sealKey.resource.lifecycle,
      precondition: [
        {
          // An account root in a key policy delegates the key to every IAM policy of the account.
          condition: Op.not(Fn.endswith(this.callerArn, ":root")),
          errorMessage: "Do not apply the bootstrap as the account root user: the key policies would delegate to IAM. Use an administrator role.",
        },
      ],
    };
    this.directorySigningKey = createDirectorySigningKey(this, "DirectorySigningKey", {
      prefix,
      admins: keyAdmins,
      signers: config.directoryPublisherArns.length > 0 ? config.directoryPublisherArns : [this.breakGlassAdminArn],
      publicKeyReaders: [deploy.roleArn],
    });

    this.stateBucket.grantReadWrite(deploy);
    grantLanePlanning(this.planRole, { ...names, stateBucketArn: this.stateBucket.bucketArn, laneStateKey: config.laneStateKey });
    PolicySuppressions.add(this.planRole, [
      {
        id: "EL-IAM-NO-WILDCARD",
        reason: "Read-only: Describe/List calls of EC2, ELB and Auto Scaling support no resource-level permissions and are region-bound; nothing the plan role may call writes.",
        appliesTo: ["Resource::*"],
      },
      { id: "EL-IAM-ROLE-BOUNDARY", reason: "The plan role is created by the administrator applying the bootstrap and holds read-only permissions only." },
    ]);
    // The lane stack reads the break-glass admin from here (EXPRESS_LANE_BREAK_GLASS_ADMIN_ARN
    // overrides), so the workflows need no extra variable; the deploy role may not change it.
    new SsmParameter(this, "BreakGlassAdminParameter", {
      name: breakGlassParameterName(prefix),
      type: "String",
      value: this.breakGlassAdminArn,
      description: "Break-glass administrator of the lane's KMS keys",
    });
    deploy.addToPrincipalPolicy({
      sid: "DenyChangingBootstrapParameters",
      effect: "Deny",
      actions: ["ssm:PutParameter", "ssm:DeleteParameter", "ssm:AddTagsToResource", "ssm:RemoveTagsFromResource"],
      resources: [`arn:aws:ssm:${config.region}:*:parameter/${prefix}/bootstrap/*`],
    });
    // The deploy role's workflows must not rewrite the administrator's bootstrap state (which would
    // steer the administrator's next plan); they only need the lane stacks' state.
    deploy.addToPrincipalPolicy({
      sid: "DenyWritingBootstrapState",
      effect: "Deny",
      actions: ["s3:PutObject", "s3:DeleteObject"],
      resources: [`${this.stateBucket.bucketArn}/bootstrap/*`],
    });
    this.artifactBucket.grantReadWrite(deploy, "releases/");
    grantLaneDeployment(deploy, { ...names, boundaryArn: this.boundary.policyArn, selfRoleArn: `arn:aws:iam::*:role/${config.deployRoleName}` });
    PolicySuppressions.add(deploy, [
      {
        id: "EL-IAM-NO-WILDCARD",
        reason:
          "The deploy role creates and deletes every resource type of the lane stack. EC2, Auto Scaling and ELB resources have ids unknown before creation: service wildcards limited to the lane's region by aws:RequestedRegion, with the EC2 actions that reach other workloads denied. S3 Express, logs, SNS and CloudWatch wildcards are on the lane's own resource names only.",
        appliesTo: [
          "Action::ec2:*",
          "Action::autoscaling:*",
          "Action::elasticloadbalancing:*",
          "Action::s3express:*",
          "Action::logs:*",
          "Action::sns:*",
          "Action::cloudwatch:*",
          "Resource::*",
        ],
      },
      {
        id: "EL-IAM-ROLE-BOUNDARY",
        reason: "The deploy role is created by the administrator applying the bootstrap; it is the role whose creations the boundary bounds, and it may not modify itself.",
      },
    ]);

    // The bench workflow runs the bundled benchmark on a host over SSM (bench/remote-bench.ts),
    // and may first load the benchmark's own entities (view express_lane_bench) as a writer role.
    grantRunCommandOnHosts(deploy, { region: config.region, namePrefix: prefix });
    grantAssumeRole(deploy, `arn:aws:iam::*:role/${writerRoleName(prefix, "*")}`, "LoadBenchmarkDataAsWriter");

    new TerraformOutput(this, "deploy_role_arn", { value: deploy.roleArn, description: "Set as the GitHub environment variable AWS_DEPLOY_ROLE_ARN" });
    new TerraformOutput(this, "state_bucket", { value: this.stateBucket.bucketName });
    new TerraformOutput(this, "artifact_bucket", { value: this.artifactBucket.bucketName });
    new TerraformOutput(this, "oidc_subjects", { value: [...this.github.subjects], description: "Every OIDC sub the deploy role trusts" });
    new TerraformOutput(this, "seal_key_arn", { value: this.sealKey.keyArn, description: "Pinned into the enclave image (scripts/build-eif.sh SEAL_KMS_KEY_ARN)" });
    new TerraformOutput(this, "directory_signing_key_arn", {
      value: this.directorySigningKey.keyArn,
      description: "Admin signing key (Ed25519); the EIF build pins its public key (kms:GetPublicKey as the deploy role)",
    });
    new TerraformOutput(this, "break_glass_admin_arn", { value: this.breakGlassAdminArn, description: "Set as EXPRESS_LANE_BREAK_GLASS_ADMIN_ARN for lane deploys" });
    new TerraformOutput(this, "permissions_boundary_arn", { value: this.boundary.policyArn });
    new TerraformOutput(this, "plan_role_arn", { value: this.planRole.roleArn, description: "Set as the variable AWS_PLAN_ROLE_ARN of the <env>-plan environment" });
    new TerraformOutput(this, "plan_oidc_subjects", { value: [...(this.github.planSubjects ?? [])] });
    new TerraformOutput(this, "directory_bucket_base", {
      value: config.bucketBaseName,
      description: "Set as EXPRESS_LANE_BUCKET_BASE so the lane stack uses the base name this bootstrap scoped the deploy role to",
    });
  }
}

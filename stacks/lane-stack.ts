/**
 * The lane: one AZ, composed only of constructs from constructs/.
 */
import { S3Backend, TerraformOutput, TerraformStack } from "cdktf";
import { Construct } from "constructs";
import { AwsProvider, DataAwsCallerIdentity, DataAwsKmsKey, DataAwsSsmParameter } from "../constructs/aws";
import { DirectoryBucket } from "../constructs/directory-bucket";
import { EnclaveHosts } from "../constructs/enclave-hosts";
import { PermissionsBoundary, Role } from "../constructs/iam";
import { LaneKeys, sealKeyAlias } from "../constructs/lane-keys";
import { Network } from "../constructs/network";
import { Observability } from "../constructs/observability";
import { boundaryPolicyName } from "../constructs/permissions";
import { LANE_TAG } from "../constructs/perms";
import { ImportedBucket } from "../constructs/versioned-bucket";
import { SEAL_KEYS_PREFIX } from "../constructs/user-data";
import { breakGlassParameterName, LaneConfig, writerRoleName } from "./config";

export class LaneStack extends TerraformStack {
  readonly network: Network;
  readonly keys: LaneKeys;
  readonly bucket: DirectoryBucket;
  readonly hosts: EnclaveHosts;
  readonly observability: Observability;
  /** The first writer's role (EXPRESS_LANE_WRITERS, default "loader"). */
  readonly writer: Role;
  /** One role per writer id. */
  readonly writers: Readonly<Record<string, Role>>;

  constructor(scope: Construct, id: string, config: LaneConfig) {
    super(scope, id);
    const prefix = config.namePrefix;
    new AwsProvider(this, "aws", { region: config.region, defaultTags: [{ tags: { Project: config.project, Stack: id, [LANE_TAG]: config.laneName } }] });
    new S3Backend(this, { bucket: config.stateBucketName, key: config.laneStateKey, region: config.region, encrypt: true });
    this.addOverride("terraform.backend.s3.use_lockfile", true);

    const account = new DataAwsCallerIdentity(this, "Account");
    const deployRoleArn = `arn:aws:iam::${account.accountId}:role/${config.deployRoleName}`;
    const planRoleArn = `arn:aws:iam::${account.accountId}:role/${config.planRoleName}`;
    const breakGlassAdminArn = config.breakGlassAdminArn ?? new DataAwsSsmParameter(this, "BreakGlassAdmin", { name: breakGlassParameterName(prefix) }).value;
    // Every role this stack creates carries the bootstrap's boundary (the deploy role may create no other).
    PermissionsBoundary.of(this).apply(`arn:aws:iam::${account.accountId}:policy/${boundaryPolicyName(prefix)}`);

    this.network = new Network(this, "Network", {
      namePrefix: prefix,
      region: config.region,
      availabilityZoneId: config.azId,
      vpcCidr: config.vpcCidr,
      subnetCidrs: [config.subnetCidr],
      readerPort: config.readerPort,
      clientCidrs: config.clientCidrs,
      clientSecurityGroupIds: config.clientSecurityGroupIds,
    });

    // The seal key exists already (bootstrap stack; its ARN is pinned in the EIF): this stack sets its policy.
    const sealKey = new DataAwsKmsKey(this, "SealKey", { keyId: `alias/${sealKeyAlias(prefix)}` });
    this.keys = new LaneKeys(this, "Keys", {
      prefix,
      admins: [breakGlassAdminArn],
      operators: [deployRoleArn],
      readers: [planRoleArn],
      pcr0s: config.pcr0s,
      sealKeyArn: sealKey.arn,
    });

    this.bucket = new DirectoryBucket(this, "Bucket", {
      baseName: config.bucketBaseName,
      availabilityZoneId: config.azId,
      region: config.region,
      encryptionKey: this.keys.bucketKey,
      forceDestroy: true,
    });
    this.bucket.grantAdminister(deployRoleArn);

    this.observability = new Observability(this, "Observability", {
      namePrefix: prefix,
      region: config.region,
      readerPort: config.readerPort,
      logRetentionDays: config.logRetentionDays,
      // Like every key of the lane: the break-glass admin administers, the deploy role operates.
      keyAdmins: [breakGlassAdminArn],
      keyOperators: [deployRoleArn],
      keyReaders: [planRoleArn],
      accountId: account.accountId,
      alarmSubscriptions: config.alarmSubscriptions,
    });

    this.hosts = new EnclaveHosts(this, "Hosts", {
      namePrefix: prefix,
      region: config.region,
      vpcId: this.network.vpcId,
      subnetIds: this.network.subnetIds,
      securityGroupIds: [this.network.hostSecurityGroup.id],
      instanceType: config.instanceType,
      hostCount: config.hostCount,
      readerPort: config.readerPort,
      bucketName: this.bucket.bucketName,
      artifactBucketName: config.artifactBucketName,
      releaseId: config.releaseId,
      expectedPcr0: config.measurements.pcr0,
      enclaveMemoryMib: config.enclaveMemoryMib,
      enclaveCpuCount: config.enclaveCpuCount,
      agent: this.observability.agentOptions,
      tlsCertificateArn: config.tlsCertificateArn,
      endpointServiceAllowedPrincipals: config.endpointServiceAllowedPrincipals,
      canaryPath: config.canaryPath,
    });
    this.observability.watchHosts({
      loadBalancerArnSuffix: this.hosts.loadBalancer.arnSuffix,
      targetGroupArnSuffix: this.hosts.targetGroup.arnSuffix,
      autoScalingGroupName: this.hosts.autoScalingGroup.name,
      hostCount: this.hosts.hostCount,
    });

    const writers: Record<string, Role> = {};
    for (const writerId of config.writers) {
      // Trusted by named principals only (the deploy role for the bench workflow's seeding, and
      // EXPRESS_LANE_WRITER_PRINCIPALS), never the whole account.
      const writer = new Role(this, writerId === config.writers[0] ? "Writer" : `Writer-${writerId}`, {
        roleName: writerRoleName(prefix, writerId),
        description: `Writer ${writerId}: writes features to the directory bucket with its own writer keys`,
        assumedBy: [{ actions: ["sts:AssumeRole"], principals: { AWS: [deployRoleArn, ...config.writerPrincipals] } }],
      });
      writers[writerId] = writer;
      this.bucket.grantWrite(writer);
      this.keys.grantSeal(writer, writerId);
      this.keys.grantSealKeyUnwrap(writer, writerId);
    }
    this.writers = writers;
    this.writer = writers[config.writers[0]];

    this.bucket.grantRead(this.hosts);
    this.keys.grantAttestedUnseal(this.hosts);
    this.keys.grantLaneKeyGeneration(config.directoryPublisherArns.length > 0 ? config.directoryPublisherArns : [breakGlassAdminArn], config.laneName);
    const artifacts = new ImportedBucket(config.artifactBucketName);
    artifacts.grantRead(this.hosts, `releases/${config.releaseId}/`);
    // Wrapped seal keys (KMS ciphertexts): writers publish them, hosts fetch and forward them to the enclave.
    artifacts.grantRead(this.hosts, SEAL_KEYS_PREFIX);
    for (const writer of Object.values(writers)) {
      artifacts.grantPut(writer, SEAL_KEYS_PREFIX, "PublishWrappedSealKeys");
      artifacts.grantRead(writer, SEAL_KEYS_PREFIX); // to load with them (the bench workflow's seed step)
    }
    this.observability.grantPublish(this.hosts);

    new TerraformOutput(this, "directory_bucket", { value: this.bucket.bucketName });
    new TerraformOutput(this, "reader_endpoint", { value: `${this.hosts.tls ? "https" : "http"}://${this.hosts.loadBalancer.dnsName}:${this.hosts.listenerPort}` });
    new TerraformOutput(this, "reader_endpoint_service", { value: this.hosts.endpointService.serviceName });
    // For the post-apply wait on the instance refresh (docs/deploy.md, "Rollouts").
    new TerraformOutput(this, "hosts_autoscaling_group", { value: this.hosts.autoScalingGroup.name });
    new TerraformOutput(this, "seal_key_arn", { value: this.keys.sealKey.keyArn });
    new TerraformOutput(this, "writer_role_arn", { value: this.writer.roleArn, description: `Role of writer ${config.writers[0]}` });
    new TerraformOutput(this, "writer_role_arns", { value: Object.fromEntries(Object.entries(writers).map(([w, r]) => [w, r.roleArn])) });
    new TerraformOutput(this, "alarm_topic_arn", { value: this.observability.alarmTopic.arn });
    new TerraformOutput(this, "enclave_pcr0", { value: config.measurements.pcr0 });
    new TerraformOutput(this, "accepted_pcr0s", {
      value: [...config.pcr0s],
      description: "PCR0 values the seal key accepts (this release, and the previous one during a rollout)",
    });
  }
}

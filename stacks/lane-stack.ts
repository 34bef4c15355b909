/**
 * The lane: one AZ, composed only of constructs from constructs/.
 */
import { S3Backend, TerraformOutput, TerraformStack } from "cdktf";
import { Construct } from "constructs";
import { AwsProvider, DataAwsCallerIdentity, DataAwsKmsKey } from "../constructs/aws";
import { DirectoryBucket } from "../constructs/directory-bucket";
import { EnclaveHosts } from "../constructs/enclave-hosts";
import { Role } from "../constructs/iam";
import { LaneKeys, sealKeyAlias } from "../constructs/lane-keys";
import { Network } from "../constructs/network";
import { Observability } from "../constructs/observability";
import { ImportedBucket } from "../constructs/versioned-bucket";
import { SEAL_KEYS_PREFIX } from "../constructs/user-data";
import { LaneConfig, writerRoleName } from "./config";

export class LaneStack extends TerraformStack {
  readonly network: Network;
  readonly keys: LaneKeys;
  readonly bucket: DirectoryBucket;
  readonly hosts: EnclaveHosts;
  readonly observability: Observability;
  readonly writer: Role;

  constructor(scope: Construct, id: string, config: LaneConfig) {
    super(scope, id);
    const prefix = config.project;
    new AwsProvider(this, "aws", { region: config.region, defaultTags: [{ tags: { Project: config.project, Stack: id } }] });
    new S3Backend(this, { bucket: config.stateBucketName, key: `${id}/terraform.tfstate`, region: config.region, encrypt: true });
    this.addOverride("terraform.backend.s3.use_lockfile", true);

    const account = new DataAwsCallerIdentity(this, "Account");
    const deployRoleArn = `arn:aws:iam::${account.accountId}:role/${config.deployRoleName}`;

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
    this.keys = new LaneKeys(this, "Keys", { prefix, admins: [deployRoleArn], pcr0: config.measurements.pcr0, sealKeyArn: sealKey.arn });

    this.bucket = new DirectoryBucket(this, "Bucket", {
      baseName: config.bucketBaseName,
      availabilityZoneId: config.azId,
      region: config.region,
      encryptionKey: this.keys.bucketKey,
    });

    this.observability = new Observability(this, "Observability", {
      namePrefix: prefix,
      region: config.region,
      readerPort: config.readerPort,
      logRetentionDays: config.logRetentionDays,
      keyAdmins: [deployRoleArn],
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

    this.writer = new Role(this, "Writer", {
      roleName: writerRoleName(prefix),
      description: "Writes features to the directory bucket and seals secrets for the enclave",
      assumedBy: [{ actions: ["sts:AssumeRole"], principals: { AWS: [`arn:aws:iam::${account.accountId}:root`] } }],
    });

    this.bucket.grantRead(this.hosts);
    this.bucket.grantWrite(this.writer);
    this.keys.grantSeal(this.writer);
    this.keys.grantSealKeyUnwrap(this.writer);
    this.keys.grantAttestedUnseal(this.hosts);
    const artifacts = new ImportedBucket(config.artifactBucketName);
    artifacts.grantRead(this.hosts, `releases/${config.releaseId}/`);
    // Wrapped seal keys (KMS ciphertexts): writers publish them, hosts fetch and forward them to the enclave.
    artifacts.grantRead(this.hosts, SEAL_KEYS_PREFIX);
    artifacts.grantPut(this.writer, SEAL_KEYS_PREFIX, "PublishWrappedSealKeys");
    artifacts.grantRead(this.writer, SEAL_KEYS_PREFIX); // to load with them (the bench workflow's seed step)
    this.observability.grantPublish(this.hosts);

    new TerraformOutput(this, "directory_bucket", { value: this.bucket.bucketName });
    new TerraformOutput(this, "reader_endpoint", { value: `${this.hosts.tls ? "https" : "http"}://${this.hosts.loadBalancer.dnsName}:${this.hosts.listenerPort}` });
    new TerraformOutput(this, "reader_endpoint_service", { value: this.hosts.endpointService.serviceName });
    // For the post-apply wait on the instance refresh (docs/deploy.md, "Rollouts").
    new TerraformOutput(this, "hosts_autoscaling_group", { value: this.hosts.autoScalingGroup.name });
    new TerraformOutput(this, "seal_key_arn", { value: this.keys.sealKey.keyArn });
    new TerraformOutput(this, "writer_role_arn", { value: this.writer.roleArn });
    new TerraformOutput(this, "alarm_topic_arn", { value: this.observability.alarmTopic.arn });
    new TerraformOutput(this, "enclave_pcr0", { value: config.measurements.pcr0 });
  }
}

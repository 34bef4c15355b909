/**
 * S3 Express One Zone directory bucket in one Availability Zone (by AZ ID), encrypted with its
 * own customer managed key, with a bucket policy and grant helpers.
 *
 * Directory buckets authorize data access through `s3express:CreateSession`; the session mode
 * (`x-amz-create-session-mode` header, IAM condition key `s3express:SessionMode`) decides
 * whether the session can write. Readers get ReadOnly sessions only.
 */
import { Lazy } from "cdktf";
import { Construct } from "constructs";
import { DataAwsCallerIdentity, S3BucketPolicy, S3BucketServerSideEncryptionConfiguration, S3DirectoryBucket } from "./aws";
import { combineGrants, Grant, grantOnPrincipal, IGrantable, PolicyStatement, renderPolicyDocument, resourceGrant } from "./iam";
import { Key } from "./key";
import { BUCKET_KEY_ACTIONS, SESSION_MODE_CONDITION_KEY } from "./perms";

export interface DirectoryBucketProps {
  /** Base name; the bucket is named `{baseName}--{availabilityZoneId}--x-s3`. */
  readonly baseName: string;
  /** AZ ID (e.g. `aps1-az1`), not the account-specific AZ name. */
  readonly availabilityZoneId: string;
  readonly region: string;
  /** Customer managed key for SSE-KMS; used for the bucket's whole lifetime. */
  readonly encryptionKey: Key;
  /**
   * Let `terraform destroy` delete a non-empty bucket: the provider deletes every object first
   * (aws_s3_directory_bucket `force_destroy`: "Boolean that indicates all objects should be deleted
   * from the bucket when the bucket is destroyed so that the bucket can be destroyed without
   * error"). The principal running the destroy needs ReadWrite sessions: `grantAdminister`.
   * @default false
   */
  readonly forceDestroy?: boolean;
}

export class DirectoryBucket extends Construct {
  /** The L1 directory bucket. */
  readonly resource: S3DirectoryBucket;
  readonly bucketName: string;
  /** `arn:aws:s3express:{region}:{account}:bucket/{name}` */
  readonly bucketArn: string;
  readonly encryptionKey: Key;
  readonly policy: S3BucketPolicy;
  private readonly statements: PolicyStatement[] = [];
  private readonly writers: string[] = [];

  constructor(scope: Construct, id: string, props: DirectoryBucketProps) {
    super(scope, id);
    this.bucketName = `${props.baseName}--${props.availabilityZoneId}--x-s3`;
    this.encryptionKey = props.encryptionKey;
    this.resource = new S3DirectoryBucket(this, "Resource", {
      bucket: this.bucketName,
      dataRedundancy: "SingleAvailabilityZone",
      type: "Directory",
      location: [{ name: props.availabilityZoneId, type: "AvailabilityZone" }],
      forceDestroy: props.forceDestroy ?? false,
    });
    this.bucketArn = this.resource.arn;
    // Destroy order: Terraform destroys dependents first, so with the key depending on the bucket the
    // bucket (emptied by force_destroy) is gone before the key is scheduled for deletion; a destroy
    // that fails on the bucket never reaches the key, so no object is left under a deleted key.
    // (An override, because the key is constructed before the bucket; Terraform JSON wants the bare address.)
    props.encryptionKey.resource.addOverride("depends_on", [`${this.resource.terraformResourceType}.${this.resource.friendlyUniqueId}`]);
    new S3BucketServerSideEncryptionConfiguration(this, "Encryption", {
      bucket: this.resource.bucket,
      rule: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: props.encryptionKey.keyArn }, bucketKeyEnabled: true }],
    });
    const account = new DataAwsCallerIdentity(this, "Account");
    this.policy = new S3BucketPolicy(this, "Policy", {
      bucket: this.resource.bucket,
      policy: Lazy.stringValue({
        produce: () =>
          renderPolicyDocument([
            ...this.statements,
            {
              // Only principals granted write may open ReadWrite sessions.
              sid: "DenyReadWriteSessionsExceptWriters",
              effect: "Deny",
              principals: "*",
              actions: ["s3express:CreateSession"],
              resources: [this.bucketArn],
              conditions: {
                StringEquals: { [SESSION_MODE_CONDITION_KEY]: "ReadWrite" },
                ...(this.writers.length > 0 ? { ArnNotEquals: { "aws:PrincipalArn": [...this.writers] } } : {}),
              },
            },
            {
              sid: "DenyOtherAccounts",
              effect: "Deny",
              principals: "*",
              actions: ["s3express:CreateSession"],
              resources: [this.bucketArn],
              conditions: { StringNotEquals: { "aws:PrincipalAccount": account.accountId } },
            },
          ]),
      }),
    });
  }

  /**
   * ReadOnly sessions (`s3express:SessionMode = ReadOnly`) and kms:GenerateDataKey + kms:Decrypt on
   * the bucket key, in the key policy and the grantee's IAM policy. S3 API reference, GetObject /
   * HeadObject, directory bucket permissions: "If the object is encrypted using SSE-KMS, you must
   * also have the kms:GenerateDataKey and kms:Decrypt permissions in IAM identity-based policies and
   * KMS key policies for the KMS key." (S3 Express creates a session key with GenerateDataKey.)
   */
  grantRead(grantee: IGrantable): Grant {
    return combineGrants(this.grantSession(grantee, "ReadOnly"), this.grantKeyUse(grantee, "BucketRead"));
  }

  /** ReadWrite sessions and kms:GenerateDataKey/Decrypt on the bucket key (PutObject: same sentence). */
  grantWrite(grantee: IGrantable): Grant {
    const session = this.grantSession(grantee, "ReadWrite");
    this.writers.push(grantee.grantPrincipal.principalArn);
    return combineGrants(session, this.grantKeyUse(grantee, "BucketWrite"));
  }

  /**
   * For the principal that applies and destroys the bucket (the deploy role, whose IAM policy comes
   * from the bootstrap stack): kms:GenerateDataKey + kms:Decrypt on the bucket key in the key policy
   * (S3 API reference, PutBucketEncryption, directory buckets: "To set a directory bucket default
   * encryption with SSE-KMS, you must also have the kms:GenerateDataKey and the kms:Decrypt
   * permissions in IAM identity-based policies and KMS key policies for the target KMS key."), and
   * exemption from the ReadWrite-session deny, so that force_destroy can delete the objects.
   */
  grantAdminister(principalArn: string): Grant {
    this.writers.push(principalArn);
    return resourceGrant(
      principalArn,
      this.encryptionKey.keyArn,
      this.encryptionKey.addToResourcePolicy({ sid: "BucketEncryptionSetup", actions: BUCKET_KEY_ACTIONS, principals: { AWS: [principalArn] } }),
    );
  }

  private grantKeyUse(grantee: IGrantable, sid: string): Grant {
    const inKeyPolicy = this.encryptionKey.grant(grantee, sid, BUCKET_KEY_ACTIONS);
    return combineGrants(inKeyPolicy, grantOnPrincipal(grantee, { sid: `${sid}Key`, actions: BUCKET_KEY_ACTIONS, resources: [this.encryptionKey.keyArn] }));
  }

  private grantSession(grantee: IGrantable, mode: "ReadOnly" | "ReadWrite"): Grant {
    const statement: PolicyStatement = {
      sid: `CreateSession${mode}`,
      actions: ["s3express:CreateSession"],
      resources: [this.bucketArn],
      conditions: { StringEquals: { [SESSION_MODE_CONDITION_KEY]: mode } },
    };
    const inBucketPolicy: PolicyStatement = { ...statement, sid: `${mode}${this.statements.length}`, principals: { AWS: [grantee.grantPrincipal.principalArn] } };
    this.statements.push(inBucketPolicy);
    return combineGrants(grantOnPrincipal(grantee, statement), resourceGrant(grantee.grantPrincipal.principalArn, this.bucketArn, inBucketPolicy));
  }
}

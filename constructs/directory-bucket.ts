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
import { IGrantable, PolicyStatement, renderPolicyDocument } from "./iam";
import { Key } from "./key";

export const SESSION_MODE_CONDITION_KEY = "s3express:SessionMode";

export interface DirectoryBucketProps {
  /** Base name; the bucket is named `{baseName}--{availabilityZoneId}--x-s3`. */
  readonly baseName: string;
  /** AZ ID (e.g. `aps1-az1`), not the account-specific AZ name. */
  readonly availabilityZoneId: string;
  readonly region: string;
  /** Customer managed key for SSE-KMS; used for the bucket's whole lifetime. */
  readonly encryptionKey: Key;
  /** Let `terraform destroy` delete a non-empty bucket. @default false */
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

  /** ReadOnly sessions (`s3express:SessionMode = ReadOnly`) and kms:Decrypt on the bucket key. */
  grantRead(grantee: IGrantable): void {
    this.grantSession(grantee, "ReadOnly");
    this.encryptionKey.grant(grantee, `BucketRead${this.encryptionKey.policyStatements.length}`, ["kms:Decrypt"]);
  }

  /** ReadWrite sessions and kms:GenerateDataKey/Decrypt on the bucket key. */
  grantWrite(grantee: IGrantable): void {
    this.grantSession(grantee, "ReadWrite");
    this.writers.push(grantee.grantPrincipal.principalArn);
    this.encryptionKey.grant(grantee, `BucketWrite${this.encryptionKey.policyStatements.length}`, ["kms:GenerateDataKey", "kms:Decrypt"]);
  }

  private grantSession(grantee: IGrantable, mode: "ReadOnly" | "ReadWrite"): void {
    const statement: PolicyStatement = {
      sid: `CreateSession${mode}`,
      actions: ["s3express:CreateSession"],
      resources: [this.bucketArn],
      conditions: { StringEquals: { [SESSION_MODE_CONDITION_KEY]: mode } },
    };
    grantee.grantPrincipal.addToPrincipalPolicy(statement);
    this.statements.push({ ...statement, sid: `${mode}${this.statements.length}`, principals: { AWS: [grantee.grantPrincipal.principalArn] } });
  }
}

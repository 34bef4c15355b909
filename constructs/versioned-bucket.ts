/**
 * A general purpose S3 bucket that is versioned, encrypted (SSE-KMS with bucket keys), blocks
 * all public access, enforces bucket-owner object ownership and denies non-TLS requests.
 * Used for the Terraform state bucket and the release artifact bucket.
 */
import { Lazy } from "cdktf";
import { Construct } from "constructs";
import { S3Bucket, S3BucketOwnershipControls, S3BucketPolicy, S3BucketPublicAccessBlock, S3BucketServerSideEncryptionConfiguration, S3BucketVersioning } from "./aws";
import { combineGrants, Grant, grantOnPrincipal, IGrantable, PolicyStatement, renderPolicyDocument } from "./iam";

export interface VersionedBucketProps {
  readonly bucketName: string;
  /** Protect against `terraform destroy`. @default true */
  readonly preventDestroy?: boolean;
}

export class VersionedBucket extends Construct {
  /** The L1 bucket. */
  readonly resource: S3Bucket;
  readonly versioning: S3BucketVersioning;
  readonly bucketName: string;
  readonly bucketArn: string;
  private readonly statements: PolicyStatement[] = [];

  constructor(scope: Construct, id: string, props: VersionedBucketProps) {
    super(scope, id);
    this.resource = new S3Bucket(this, "Resource", {
      bucket: props.bucketName,
      lifecycle: { preventDestroy: props.preventDestroy ?? true },
    });
    this.bucketName = this.resource.bucket;
    this.bucketArn = this.resource.arn;
    this.versioning = new S3BucketVersioning(this, "Versioning", {
      bucket: this.resource.id,
      versioningConfiguration: { status: "Enabled" },
    });
    new S3BucketServerSideEncryptionConfiguration(this, "Encryption", {
      bucket: this.resource.id,
      rule: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms" }, bucketKeyEnabled: true }],
    });
    new S3BucketPublicAccessBlock(this, "PublicAccessBlock", {
      bucket: this.resource.id,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    new S3BucketOwnershipControls(this, "Ownership", {
      bucket: this.resource.id,
      rule: { objectOwnership: "BucketOwnerEnforced" },
    });
    new S3BucketPolicy(this, "Policy", {
      bucket: this.resource.id,
      policy: Lazy.stringValue({
        produce: () =>
          renderPolicyDocument([
            {
              sid: "DenyInsecureTransport",
              effect: "Deny",
              principals: "*",
              actions: ["s3:*"],
              resources: [this.bucketArn, `${this.bucketArn}/*`],
              conditions: { Bool: { "aws:SecureTransport": "false" } },
            },
            ...this.statements,
          ]),
      }),
    });
  }

  /** s3:GetObject(+Version) under `prefix` and s3:ListBucket. */
  grantRead(grantee: IGrantable, prefix = ""): Grant {
    return combineGrants(
      grantOnPrincipal(grantee, { sid: "BucketList", actions: ["s3:ListBucket"], resources: [this.bucketArn] }),
      grantOnPrincipal(grantee, { sid: "BucketRead", actions: ["s3:GetObject", "s3:GetObjectVersion"], resources: [`${this.bucketArn}/${prefix}*`] }),
    );
  }

  /** Read plus s3:PutObject/DeleteObject under `prefix`. */
  grantReadWrite(grantee: IGrantable, prefix = ""): Grant {
    const read = this.grantRead(grantee, prefix);
    return combineGrants(read, grantOnPrincipal(grantee, { sid: "BucketWrite", actions: ["s3:PutObject", "s3:DeleteObject"], resources: [`${this.bucketArn}/${prefix}*`] }));
  }
}

/** A bucket created elsewhere (e.g. by the bootstrap stack), referenced by name. */
export class ImportedBucket {
  readonly bucketArn: string;
  constructor(readonly bucketName: string) {
    this.bucketArn = `arn:aws:s3:::${bucketName}`;
  }

  /** s3:GetObject(+Version) under `prefix` and s3:ListBucket. */
  grantRead(grantee: IGrantable, prefix = ""): Grant {
    return combineGrants(
      grantOnPrincipal(grantee, { sid: "ArtifactList", actions: ["s3:ListBucket"], resources: [this.bucketArn] }),
      grantOnPrincipal(grantee, { sid: "ArtifactRead", actions: ["s3:GetObject", "s3:GetObjectVersion"], resources: [`${this.bucketArn}/${prefix}*`] }),
    );
  }

  /** s3:PutObject under `prefix` (e.g. the writer publishing seal-keys/wrapped.json). */
  grantPut(grantee: IGrantable, prefix: string, sid = "ArtifactPut"): Grant {
    return grantOnPrincipal(grantee, { sid, actions: ["s3:PutObject"], resources: [`${this.bucketArn}/${prefix}*`] });
  }
}

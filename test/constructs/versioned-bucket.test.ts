import { TerraformStack, Testing } from "cdktf";
import { Role } from "../../constructs/iam";
import { ImportedBucket, VersionedBucket } from "../../constructs/versioned-bucket";

function synth(build: (s: TerraformStack) => void) {
  const s = new TerraformStack(Testing.app(), "s");
  build(s);
  return JSON.parse(Testing.synth(s)) as { resource: Record<string, Record<string, Record<string, unknown>>> };
}
const only = (tf: ReturnType<typeof synth>, type: string) => {
  const all = Object.values(tf.resource[type] ?? {});
  expect(all).toHaveLength(1);
  return all[0]!;
};

describe("VersionedBucket", () => {
  it("is versioned, SSE-KMS with bucket keys, private, owner-enforced and protected from destroy by default", () => {
    const tf = synth((s) => new VersionedBucket(s, "b", { bucketName: "state" }));
    expect(only(tf, "aws_s3_bucket")).toMatchObject({ bucket: "state", lifecycle: { prevent_destroy: true } });
    expect(only(tf, "aws_s3_bucket_versioning")).toMatchObject({ versioning_configuration: { status: "Enabled" } });
    expect(only(tf, "aws_s3_bucket_server_side_encryption_configuration")).toMatchObject({
      rule: [{ apply_server_side_encryption_by_default: { sse_algorithm: "aws:kms" }, bucket_key_enabled: true }],
    });
    expect(only(tf, "aws_s3_bucket_public_access_block")).toMatchObject({
      block_public_acls: true,
      block_public_policy: true,
      ignore_public_acls: true,
      restrict_public_buckets: true,
    });
    expect(only(tf, "aws_s3_bucket_ownership_controls")).toMatchObject({ rule: { object_ownership: "BucketOwnerEnforced" } });
  });

  it("preventDestroy can be turned off (test lanes)", () => {
    const tf = synth((s) => new VersionedBucket(s, "b", { bucketName: "x", preventDestroy: false }));
    expect(only(tf, "aws_s3_bucket")).toMatchObject({ lifecycle: { prevent_destroy: false } });
  });

  it("its bucket policy denies every request without TLS, on the bucket and its objects", () => {
    const tf = synth((s) => new VersionedBucket(s, "b", { bucketName: "x" }));
    const policy = JSON.parse(only(tf, "aws_s3_bucket_policy").policy as string) as { Statement: Array<Record<string, unknown>> };
    expect(policy.Statement).toEqual([
      expect.objectContaining({
        Sid: "DenyInsecureTransport",
        Effect: "Deny",
        Principal: "*",
        Action: "s3:*",
        Resource: [expect.stringMatching(/^\$\{aws_s3_bucket\.\w+\.arn\}$/), expect.stringMatching(/^\$\{aws_s3_bucket\.\w+\.arn\}\/\*$/)],
        Condition: { Bool: { "aws:SecureTransport": "false" } },
      }),
    ]);
  });

  it("grantRead lists the bucket and reads objects under the prefix only; grantReadWrite adds put and delete there", () => {
    const s = new TerraformStack(Testing.app(), "s");
    const bucket = new VersionedBucket(s, "b", { bucketName: "x" });
    const reader = new Role(s, "r", { roleName: "r", assumedBy: [] });
    const read = bucket.grantRead(reader, "releases/");
    expect(read.principal).toBe(reader.principalArn);
    expect(read.actions).toEqual(["s3:ListBucket", "s3:GetObject", "s3:GetObjectVersion"]);
    expect(read.resources).toEqual([bucket.bucketArn, `${bucket.bucketArn}/releases/*`]);
    const writer = new Role(s, "w", { roleName: "w", assumedBy: [] });
    const rw = bucket.grantReadWrite(writer, "seal-keys/");
    expect(rw.actions).toEqual(expect.arrayContaining(["s3:PutObject", "s3:DeleteObject", "s3:GetObject"]));
    expect(rw.resources).toEqual([bucket.bucketArn, `${bucket.bucketArn}/seal-keys/*`]);
    expect(writer.policyStatements.map((st) => st.sid)).toEqual(["BucketList", "BucketRead", "BucketWrite"]);
  });
});

describe("ImportedBucket", () => {
  it("derives the ARN from the name and grants on it", () => {
    const s = new TerraformStack(Testing.app(), "s");
    const bucket = new ImportedBucket("artifacts");
    expect(bucket.bucketArn).toBe("arn:aws:s3:::artifacts");
    const role = new Role(s, "r", { roleName: "r", assumedBy: [] });
    expect(bucket.grantRead(role, "eif/").resources).toEqual(["arn:aws:s3:::artifacts", "arn:aws:s3:::artifacts/eif/*"]);
    const put = bucket.grantPut(role, "seal-keys/", "PublishSealKeys");
    expect(put).toMatchObject({ actions: ["s3:PutObject"], resources: ["arn:aws:s3:::artifacts/seal-keys/*"] });
    expect(role.policyStatements.map((st) => st.sid)).toEqual(["ArtifactList", "ArtifactRead", "PublishSealKeys"]);
  });
});

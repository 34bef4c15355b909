import { TerraformStack, Testing } from "cdktf";
import { Role } from "../../constructs/iam";
import { Key } from "../../constructs/key";
import { DirectoryBucket } from "../../constructs/directory-bucket";
import { BUCKET_KEY_ACTIONS, SESSION_MODE_CONDITION_KEY } from "../../constructs/perms";

const stack = () => new TerraformStack(Testing.app(), "s");
const ADMIN = "arn:aws:iam::1:role/admin";

describe("constructs/directory-bucket: grants", () => {
  test("a directory bucket read grant: a ReadOnly session in both policies, and the bucket key in both", () => {
    const s = stack();
    const key = new Key(s, "k", { description: "d", admins: [ADMIN] });
    const bucket = new DirectoryBucket(s, "b", { baseName: "lane", availabilityZoneId: "aps1-az1", region: "ap-south-1", encryptionKey: key });
    const reader = new Role(s, "r", { roleName: "r", assumedBy: [] });
    const grant = bucket.grantRead(reader);
    expect(grant.actions).toEqual(["s3express:CreateSession", ...BUCKET_KEY_ACTIONS]);
    expect(grant.resources).toEqual([bucket.bucketArn, key.keyArn]);
    const where = grant.statements.map((g) => `${g.policy}:${g.statement.actions.join(",")}`);
    expect(where).toEqual([
      "principal:s3express:CreateSession",
      "resource:s3express:CreateSession",
      "resource:kms:GenerateDataKey,kms:Decrypt",
      "principal:kms:GenerateDataKey,kms:Decrypt",
    ]);
    expect(grant.statements[0].statement.conditions).toEqual({ StringEquals: { [SESSION_MODE_CONDITION_KEY]: "ReadOnly" } });
    expect(reader.policyStatements).toEqual(grant.statements.filter((g) => g.policy === "principal").map((g) => g.statement));
  });
});

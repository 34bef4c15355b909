import { TerraformStack, Testing } from "cdktf";
import { combineGrants, grantAssumeRole, grantOnPrincipal, resourceGrant, Role, type PolicyStatement } from "../../constructs/iam";
import { DirectoryBucket } from "../../constructs/directory-bucket";
import { Key } from "../../constructs/key";
import { BUCKET_KEY_ACTIONS, SESSION_MODE_CONDITION_KEY } from "../../constructs/perms";

const stack = () => new TerraformStack(Testing.app(), "s");
const ADMIN = "arn:aws:iam::1:role/admin";

describe("constructs/iam: grants say what they wrote", () => {
  test("a principal grant is in the role's policy and in the Grant it returns", () => {
    const role = new Role(stack(), "r", { roleName: "r", assumedBy: [] });
    const grant = grantAssumeRole(role, "arn:aws:iam::1:role/other");
    expect(grant).toEqual({
      principal: role.principalArn,
      actions: ["sts:AssumeRole"],
      resources: ["arn:aws:iam::1:role/other"],
      statements: [{ policy: "principal", statement: { sid: "AssumeRole", actions: ["sts:AssumeRole"], resources: ["arn:aws:iam::1:role/other"] } }],
    });
    expect(role.policyStatements).toContainEqual(grant.statements[0].statement);
  });

  test("combineGrants unions actions and resources, keeps every statement, and refuses mixed principals", () => {
    const written: PolicyStatement[] = [];
    const grantee = { grantPrincipal: { principalArn: "arn:aws:iam::1:role/g", addToPrincipalPolicy: (s: PolicyStatement) => void written.push(s) } };
    const a = grantOnPrincipal(grantee, { actions: ["s3:GetObject"], resources: ["arn:aws:s3:::b/*"] });
    const b = resourceGrant("arn:aws:iam::1:role/g", "arn:aws:s3:::b", { actions: ["s3:GetObject", "s3:ListBucket"], principals: { AWS: ["arn:aws:iam::1:role/g"] } });
    const both = combineGrants(a, b);
    expect(both.actions).toEqual(["s3:GetObject", "s3:ListBucket"]);
    expect(both.resources).toEqual(["arn:aws:s3:::b/*", "arn:aws:s3:::b"]);
    expect(both.statements.map((s) => s.policy)).toEqual(["principal", "resource"]);
    expect(written).toHaveLength(1); // a resource grant writes nothing to the principal
    expect(() => combineGrants(a, resourceGrant("arn:aws:iam::1:role/other", "x", { actions: ["s3:GetObject"] }))).toThrow(/different principals/);
    expect(() => combineGrants()).toThrow(/at least one/);
  });

  test("a key grant lands in the key policy, named for the grantee, and says so", () => {
    const s = stack();
    const key = new Key(s, "k", { description: "d", admins: [ADMIN] });
    const role = new Role(s, "r", { roleName: "r", assumedBy: [] });
    const grant = key.grantDecrypt(role, "Unwrap", { StringEquals: { "kms:EncryptionContext:purpose": "p" } });
    expect(grant.principal).toBe(role.principalArn);
    expect(grant.actions).toEqual(["kms:Decrypt"]);
    expect(grant.resources).toEqual([key.keyArn]);
    expect(grant.statements).toEqual([{ policy: "resource", statement: expect.objectContaining({ sid: "Unwrap", principals: { AWS: [role.principalArn] } }) }]);
    expect(key.policyStatements).toContainEqual(grant.statements[0].statement);
    expect(role.policyStatements).toEqual([]); // key policies name the principal; nothing in its IAM policy
  });

  test("a directory bucket read grant: a ReadOnly session in both policies, and the bucket key in both", () => {
    const s = stack();
    const key = new Key(s, "k", { description: "d", admins: [ADMIN] });
    const bucket = new DirectoryBucket(s, "b", { baseName: "lane", availabilityZoneId: "aps1-az1", region: "ap-south-1", encryptionKey: key });
    const reader = new Role(s, "r", { roleName: "r", assumedBy: [] });
    const grant = bucket.grantRead(reader);
    expect(grant.actions).toEqual(["s3express:CreateSession", ...BUCKET_KEY_ACTIONS]);
    expect(grant.resources).toEqual([bucket.bucketArn, key.keyArn]);
    const where = grant.statements.map((g) => `${g.policy}:${g.statement.actions.join(",")}`);
    expect(where).toEqual(["principal:s3express:CreateSession", "resource:s3express:CreateSession", "resource:kms:GenerateDataKey,kms:Decrypt", "principal:kms:GenerateDataKey,kms:Decrypt"]);
    expect(grant.statements[0].statement.conditions).toEqual({ StringEquals: { [SESSION_MODE_CONDITION_KEY]: "ReadOnly" } });
    expect(reader.policyStatements).toEqual(grant.statements.filter((g) => g.policy === "principal").map((g) => g.statement));
  });
});

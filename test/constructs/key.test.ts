import { TerraformStack, Testing } from "cdktf";
import { Role } from "../../constructs/iam";
import { Key } from "../../constructs/key";

const stack = () => new TerraformStack(Testing.app(), "s");
const ADMIN = "arn:aws:iam::1:role/admin";

describe("constructs/key: grants", () => {
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
});

import { TerraformStack, Testing } from "cdktf";
import { combineGrants, grantAssumeRole, grantOnPrincipal, resourceGrant, Role, type PolicyStatement } from "../../constructs/iam";

const stack = () => new TerraformStack(Testing.app(), "s");

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
});

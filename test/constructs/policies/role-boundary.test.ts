import { Construct } from "constructs";
import { IamRole } from "../../../constructs/aws";
import { PolicySuppressions, RolePermissionsBoundary } from "../../../constructs/policies";
import { errorsOf, policyDoc } from "./helpers";

describe("EL-IAM-ROLE-BOUNDARY", () => {
  const trustDoc = policyDoc({ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" });
  test("compliant: role with a boundary, or suppressed on its construct", () => {
    expect(errorsOf(new RolePermissionsBoundary(), (s) => new IamRole(s, "r", { assumeRolePolicy: trustDoc, permissionsBoundary: "arn:aws:iam::1:policy/b" }))).toEqual([]);
    expect(
      errorsOf(new RolePermissionsBoundary(), (s) => {
        const c = new Construct(s, "deploy");
        new IamRole(c, "r", { assumeRolePolicy: trustDoc });
        PolicySuppressions.add(c, [{ id: "EL-IAM-ROLE-BOUNDARY", reason: "created by the administrator applying the bootstrap" }]);
      }),
    ).toEqual([]);
  });
  test("non-compliant: role without a boundary", () => {
    expect(errorsOf(new RolePermissionsBoundary(), (s) => new IamRole(s, "r", { name: "free", assumeRolePolicy: trustDoc }))).toEqual([
      expect.stringMatching(/role free has no permissions_boundary/),
    ]);
  });
});

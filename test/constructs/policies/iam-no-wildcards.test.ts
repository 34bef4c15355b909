import { TerraformStack, Testing } from "cdktf";
import { Construct } from "constructs";
import { IamRole, IamRolePolicy, KmsKey, KmsKeyPolicy } from "../../../constructs/aws";
import { IamNoWildcards, PolicySuppressions } from "../../../constructs/policies";
import { errorsOf, policyDoc } from "./helpers";

describe("EL-IAM-NO-WILDCARD", () => {
  const rolePolicy = (st: Record<string, unknown>) => (s: TerraformStack) => new IamRolePolicy(s, "p", { role: "r", policy: policyDoc(st) });
  const trust = (principal: unknown) => (s: TerraformStack) =>
    new IamRole(s, "r", { assumeRolePolicy: policyDoc({ Effect: "Allow", Principal: principal, Action: "sts:AssumeRole" }) });
  test("compliant: scoped actions/resources, wildcard-only actions, key-policy self reference, named trust", () => {
    expect(errorsOf(new IamNoWildcards(), rolePolicy({ Effect: "Allow", Action: ["s3:GetObject"], Resource: "arn:aws:s3:::b/*" }))).toEqual([]);
    expect(errorsOf(new IamNoWildcards(), rolePolicy({ Effect: "Allow", Action: "cloudwatch:PutMetricData", Resource: "*" }))).toEqual([]);
    expect(errorsOf(new IamNoWildcards(), rolePolicy({ Effect: "Deny", Action: "s3:*", Resource: "*" }))).toEqual([]);
    expect(
      errorsOf(
        new IamNoWildcards(),
        (s) =>
          new KmsKey(s, "k", {
            enableKeyRotation: true,
            policy: policyDoc({ Effect: "Allow", Principal: { AWS: "arn:aws:iam::1:role/x" }, Action: "kms:Decrypt", Resource: "*" }),
          }),
      ),
    ).toEqual([]);
    expect(
      errorsOf(
        new IamNoWildcards(),
        (s) => new KmsKeyPolicy(s, "kp", { keyId: "k", policy: policyDoc({ Effect: "Allow", Principal: { AWS: "arn:aws:iam::1:role/x" }, Action: "kms:Decrypt", Resource: "*" }) }),
      ),
    ).toEqual([]);
    expect(errorsOf(new IamNoWildcards(), trust({ AWS: "arn:aws:iam::111122223333:role/deploy" }))).toEqual([]);
    expect(errorsOf(new IamNoWildcards(), trust({ Service: "ec2.amazonaws.com" }))).toEqual([]);
  });
  test("non-compliant: * action, service:* action, Resource *, NotAction", () => {
    expect(errorsOf(new IamNoWildcards(), rolePolicy({ Effect: "Allow", Action: "*", Resource: "arn:aws:s3:::b" }))).toEqual([expect.stringMatching(/wildcard action \*/)]);
    expect(errorsOf(new IamNoWildcards(), rolePolicy({ Effect: "Allow", Action: "s3:*", Resource: "arn:aws:s3:::b" }))).toHaveLength(1);
    expect(errorsOf(new IamNoWildcards(), rolePolicy({ Effect: "Allow", Action: "s3:GetObject", Resource: "*" }))).toEqual([expect.stringMatching(/Resource "\*"/)]);
    expect(errorsOf(new IamNoWildcards(), rolePolicy({ Effect: "Allow", NotAction: "iam:*", Resource: "arn:aws:s3:::b" }))).toHaveLength(1);
  });
  test("escape: a statement reusing an allowlisted Sid gets no exemption (exemptions are attached to constructs)", () => {
    expect(errorsOf(new IamNoWildcards(), rolePolicy({ Sid: "DeployLaneInfrastructure", Effect: "Allow", Action: "ec2:*", Resource: "*" }))).toHaveLength(2);
  });
  test("escape: trust policies are read (account root trusts the whole account; Principal *)", () => {
    expect(errorsOf(new IamNoWildcards(), trust({ AWS: "arn:aws:iam::111122223333:root" }))).toEqual([expect.stringMatching(/whole account may assume/)]);
    expect(errorsOf(new IamNoWildcards(), trust({ AWS: "${data.aws_caller_identity.a.account_id}" }))).toEqual([]); // not a root ARN
    expect(errorsOf(new IamNoWildcards(), trust("*"))).toEqual([expect.stringMatching(/Principal "\*"/)]);
  });
  test("escape: aws_kms_key_policy and Principal * in resource policies are read", () => {
    expect(
      errorsOf(
        new IamNoWildcards(),
        (s) => new KmsKeyPolicy(s, "kp", { keyId: "k", policy: policyDoc({ Effect: "Allow", Principal: { AWS: "arn:aws:iam::1:root" }, Action: "kms:*", Resource: "*" }) }),
      ),
    ).toEqual([expect.stringMatching(/wildcard action kms:\*/), expect.stringMatching(/delegates to every IAM policy/)]);
    expect(
      errorsOf(
        new IamNoWildcards(),
        (s) => new KmsKeyPolicy(s, "kp", { keyId: "k", policy: policyDoc({ Effect: "Allow", Principal: "*", Action: "kms:Decrypt", Resource: "*" }) }),
      ),
    ).toEqual([expect.stringMatching(/Principal "\*"/)]);
  });
  test("a suppression on the construct covers exactly the findings it lists, with a reason", () => {
    const build = (appliesTo: string[]) => (s: TerraformStack) => {
      const c = new Construct(s, "deploy");
      new IamRolePolicy(c, "p", { role: "r", policy: policyDoc({ Effect: "Allow", Action: ["ec2:*", "logs:*"], Resource: "*" }) });
      PolicySuppressions.add(c, [{ id: "EL-IAM-NO-WILDCARD", reason: "the deploy role creates EC2 resources whose ids are unknown", appliesTo }]);
    };
    expect(errorsOf(new IamNoWildcards(), build(["Action::ec2:*", "Action::logs:*", "Resource::*"]))).toEqual([]);
    expect(errorsOf(new IamNoWildcards(), build(["Action::ec2:*", "Resource::*"]))).toEqual([expect.stringMatching(/logs:\*/)]);
    expect(() => PolicySuppressions.add(new Construct(Testing.app(), "x"), [{ id: "EL-IAM-NO-WILDCARD", reason: "because" }])).toThrow(/real reason/);
  });
});

import { IamRolePolicy, KmsKey, KmsKeyPolicy } from "../../../constructs/aws";
import { IamNoWildcards } from "../../../constructs/policies";
import { RESOURCE_WILDCARD_ACTIONS, SELF_REFERENCING_POLICY_TYPES } from "../../../constructs/policies/allowlist";
import { errorsOf, policyDoc } from "./helpers";

describe("the wildcard rule's facts", () => {
  it("every wildcard-only action is a concrete service:Action with a reason (never a wildcard itself)", () => {
    for (const [action, why] of Object.entries(RESOURCE_WILDCARD_ACTIONS)) {
      expect(action).toMatch(/^[a-z0-9-]+:[A-Z][A-Za-z]+$/);
      expect(why.length).toBeGreaterThan(10);
    }
  });

  it.each(Object.keys(RESOURCE_WILDCARD_ACTIONS))('%s may use Resource "*"', (action) => {
    expect(errorsOf(new IamNoWildcards(), (s) => new IamRolePolicy(s, "p", { role: "r", policy: policyDoc({ Effect: "Allow", Action: action, Resource: "*" }) }))).toEqual([]);
  });

  it("an action not listed may not, even next to one that is", () => {
    const errors = errorsOf(
      new IamNoWildcards(),
      (s) => new IamRolePolicy(s, "p", { role: "r", policy: policyDoc({ Effect: "Allow", Action: ["kms:ListKeys", "kms:Decrypt"], Resource: "*" }) }),
    );
    expect(errors).toEqual([expect.stringMatching(/Resource "\*"/)]);
  });

  it('key policies are self-referencing: Resource "*" there is the key, on both key resource types', () => {
    expect([...SELF_REFERENCING_POLICY_TYPES].sort()).toEqual(["aws_kms_key", "aws_kms_key_policy"]);
    const statement = { Effect: "Allow", Principal: { AWS: "arn:aws:iam::1:role/x" }, Action: "kms:Decrypt", Resource: "*" };
    expect(errorsOf(new IamNoWildcards(), (s) => new KmsKeyPolicy(s, "kp", { keyId: "k", policy: policyDoc(statement) }))).toEqual([]);
    expect(errorsOf(new IamNoWildcards(), (s) => new KmsKey(s, "k", { enableKeyRotation: true, policy: policyDoc(statement) }))).toEqual([]);
    // The same statement in an identity policy means every key.
    const identity = { Effect: "Allow", Action: "kms:Decrypt", Resource: "*" };
    expect(errorsOf(new IamNoWildcards(), (s) => new IamRolePolicy(s, "p", { role: "r", policy: policyDoc(identity) }))).toEqual([expect.stringMatching(/Resource "\*"/)]);
  });
});

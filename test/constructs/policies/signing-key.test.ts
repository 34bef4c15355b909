import { TerraformStack } from "cdktf";
import { KmsKey } from "../../../constructs/aws";
import { SigningKeyPolicy } from "../../../constructs/policies";
import { errorsOf } from "./helpers";

describe("EL-SIGNING-KEY", () => {
  const signing = (statements: Record<string, unknown>[]) => (s: TerraformStack) =>
    new KmsKey(s, "k", {
      customerMasterKeySpec: "ECC_NIST_EDWARDS25519",
      keyUsage: "SIGN_VERIFY",
      tags: { ExpressLaneKeyRole: "signing" },
      policy: JSON.stringify({ Version: "2012-10-17", Statement: statements }),
    });
  const sign = (principal: unknown, cond: unknown = { StringEquals: { "kms:SigningAlgorithm": "ED25519_SHA_512" } }) => ({
    Sid: "Sign",
    Effect: "Allow",
    Principal: principal,
    Action: "kms:Sign",
    Resource: "*",
    Condition: cond,
  });
  const publisher = { AWS: "arn:aws:iam::1:role/directory-publisher" };
  test("compliant: a named publisher signs with ED25519_SHA_512 only", () => {
    expect(errorsOf(new SigningKeyPolicy(), signing([sign(publisher)]))).toEqual([]);
  });
  test("non-compliant: hosts or writers sign, anyone signs, any algorithm, grants, nobody signs", () => {
    expect(errorsOf(new SigningKeyPolicy(), signing([sign({ AWS: "arn:aws:iam::1:role/express-lane-host" })]))).toEqual([expect.stringMatching(/express-lane-host may kms:Sign/)]);
    expect(errorsOf(new SigningKeyPolicy(), signing([sign({ AWS: "arn:aws:iam::1:role/express-lane-writer-loader" })]))).toHaveLength(1);
    expect(errorsOf(new SigningKeyPolicy(), signing([sign({ AWS: "arn:aws:iam::1:root" })]))).toEqual([expect.stringMatching(/any principal/)]);
    expect(errorsOf(new SigningKeyPolicy(), signing([sign(publisher, {})]))).toEqual([expect.stringMatching(/other than ED25519_SHA_512/)]);
    expect(errorsOf(new SigningKeyPolicy(), signing([sign(publisher), { Effect: "Allow", Principal: publisher, Action: "kms:Create*", Resource: "*" }]))).toEqual([
      expect.stringMatching(/CreateGrant/),
    ]);
    expect(errorsOf(new SigningKeyPolicy(), signing([]))).toEqual([expect.stringMatching(/nobody may sign/)]);
  });
});

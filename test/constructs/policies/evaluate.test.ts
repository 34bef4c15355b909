import {
  actionMatches,
  awsPrincipals,
  conditionsMatch,
  couldAllow,
  isAccountPrincipal,
  principalMatches,
  statementApplies,
  statementMatchesAction,
} from "../../../constructs/policies/evaluate";
import type { IamStatementJson } from "../../../constructs/policies/rule";

const HOST = "arn:aws:iam::111122223333:role/host";
const allow = (extra: Partial<IamStatementJson> = {}): IamStatementJson => ({ Effect: "Allow", Principal: { AWS: HOST }, Action: "kms:Decrypt", Resource: "*", ...extra });

describe("actions", () => {
  it("match case-insensitively with * and ? wildcards", () => {
    expect(actionMatches("*", "kms:Decrypt")).toBe(true);
    expect(actionMatches("KMS:decrypt", "kms:Decrypt")).toBe(true);
    expect(actionMatches("kms:De*", "kms:Decrypt")).toBe(true);
    expect(actionMatches("kms:?ecrypt", "kms:Decrypt")).toBe(true);
    expect(actionMatches("kms:Encrypt", "kms:Decrypt")).toBe(false);
    expect(actionMatches("kms.Decrypt", "kmsXDecrypt")).toBe(false); // "." is literal
  });

  it("NotAction matches every action it does not list", () => {
    expect(statementMatchesAction({ NotAction: "kms:Encrypt" }, "kms:Decrypt")).toBe(true);
    expect(statementMatchesAction({ NotAction: ["kms:*"] }, "kms:Decrypt")).toBe(false);
    expect(statementMatchesAction({ Action: ["s3:GetObject", "kms:Decrypt"] }, "kms:Decrypt")).toBe(true);
  });
});

describe("principals", () => {
  it("recognises the account (root ARN, bare id, token ending :root)", () => {
    expect(["arn:aws:iam::111122223333:root", "111122223333", "${aws_caller_identity.x.account_id}:root}"].map(isAccountPrincipal)).toEqual([true, true, true]);
    expect(isAccountPrincipal(HOST)).toBe(false);
  });

  it("reads AWS principals of a statement; * is everyone", () => {
    expect(awsPrincipals({ Principal: "*" })).toEqual(["*"]);
    expect(awsPrincipals({ Principal: { AWS: [HOST, "x"] } })).toEqual([HOST, "x"]);
    expect(awsPrincipals({ Principal: { Service: "ec2.amazonaws.com" } })).toEqual([]);
    expect(awsPrincipals({})).toEqual([]);
  });

  it("matches conservatively: the principal itself, *, the account (delegation), NotPrincipal, or an identity policy", () => {
    expect(principalMatches(allow(), HOST)).toBe(true);
    expect(principalMatches(allow(), "arn:aws:iam::111122223333:role/other")).toBe(false);
    expect(principalMatches(allow({ Principal: "*" }), "anyone")).toBe(true);
    expect(principalMatches(allow({ Principal: { AWS: "arn:aws:iam::111122223333:root" } }), "anyone")).toBe(true);
    expect(principalMatches({ Effect: "Allow", NotPrincipal: { AWS: HOST } } as IamStatementJson, HOST)).toBe(true);
    expect(principalMatches({ Effect: "Allow", Action: "kms:Decrypt" }, "whoever")).toBe(true);
  });
});

describe("conditions (IAM semantics for absent keys)", () => {
  const ctx = { "kms:EncryptionContext:purpose": "express-lane-seal", "aws:TagKeys": ["a", "b"] };
  const c = (Condition: IamStatementJson["Condition"], context: Record<string, string | string[] | undefined> = ctx) => conditionsMatch({ Condition }, context);

  it("positive operators: an absent key does not match; present keys compare (names case-insensitive)", () => {
    expect(c({ StringEquals: { "kms:EncryptionContext:purpose": "express-lane-seal" } })).toBe("yes");
    expect(c({ StringEquals: { "KMS:ENCRYPTIONCONTEXT:PURPOSE": "express-lane-seal" } })).toBe("yes");
    expect(c({ StringEquals: { "kms:EncryptionContext:purpose": "EXPRESS-LANE-SEAL" } })).toBe("no");
    expect(c({ StringEqualsIgnoreCase: { "kms:EncryptionContext:purpose": "EXPRESS-LANE-SEAL" } })).toBe("yes");
    expect(c({ StringEquals: { "kms:RecipientAttestation:ImageSha384": "ab" } })).toBe("no");
    expect(c({ StringLike: { "kms:EncryptionContext:purpose": "express-*" } })).toBe("yes");
  });

  it("negated operators match an absent key; IfExists matches when absent; Null tests presence", () => {
    expect(c({ StringNotEquals: { "kms:Missing": "x" } })).toBe("yes");
    expect(c({ StringNotEquals: { "kms:EncryptionContext:purpose": "express-lane-seal" } })).toBe("no");
    expect(c({ StringEqualsIfExists: { "kms:Missing": "x" } })).toBe("yes");
    expect(c({ StringEqualsIfExists: { "kms:EncryptionContext:purpose": "other" } })).toBe("no");
    expect(c({ Null: { "kms:Missing": "true" } })).toBe("yes");
    expect(c({ Null: { "kms:EncryptionContext:purpose": "true" } })).toBe("no");
    expect(c({ Null: { "kms:EncryptionContext:purpose": "false" } })).toBe("yes");
  });

  it("set operators: ForAnyValue needs one match, ForAllValues needs all (and matches an absent key)", () => {
    expect(c({ "ForAnyValue:StringEquals": { "aws:TagKeys": ["b", "z"] } })).toBe("yes");
    expect(c({ "ForAllValues:StringEquals": { "aws:TagKeys": ["a"] } })).toBe("no");
    expect(c({ "ForAllValues:StringEquals": { "aws:TagKeys": ["a", "b", "c"] } })).toBe("yes");
    expect(c({ "ForAllValues:StringEquals": { "aws:Missing": ["a"] } })).toBe("yes");
  });

  it("every block and key must match; an operator it cannot evaluate is unknown, never no", () => {
    expect(c({ StringEquals: { "kms:EncryptionContext:purpose": "express-lane-seal" }, NumericLessThan: { "kms:EncryptionContext:purpose": "1" } })).toBe("unknown");
    expect(c({ StringEquals: { "kms:EncryptionContext:purpose": "other" }, NumericLessThan: { "kms:EncryptionContext:purpose": "1" } })).toBe("no");
    expect(c(undefined)).toBe("yes");
  });
});

describe("couldAllow", () => {
  const attested = allow({ Sid: "Attested", Condition: { StringEqualsIgnoreCase: { "kms:RecipientAttestation:ImageSha384": "ab" } } });

  it("the host without attestation cannot Decrypt under an attested-only policy; with the measurement it can", () => {
    expect(couldAllow([attested], { principal: HOST, action: "kms:Decrypt" })).toEqual([]);
    expect(couldAllow([attested], { principal: HOST, action: "kms:Decrypt", context: { "kms:RecipientAttestation:ImageSha384": "AB" } })).toEqual([attested]);
  });

  it("a Deny that certainly applies wins; a Deny that might not does not count", () => {
    const open = allow({ Sid: "Open" });
    const deny = { Effect: "Deny", Principal: "*", Action: "kms:*", Resource: "*" };
    expect(couldAllow([open, deny], { principal: HOST, action: "kms:Decrypt" })).toEqual([]);
    const maybeDeny = { ...deny, Condition: { NumericLessThan: { "aws:x": "1" } } };
    expect(couldAllow([open, maybeDeny], { principal: HOST, action: "kms:Decrypt" })).toEqual([open]);
  });

  it("statementApplies is no for another action or principal", () => {
    expect(statementApplies(allow(), { principal: HOST, action: "kms:Encrypt" })).toBe("no");
    expect(statementApplies(allow(), { principal: "arn:aws:iam::1:role/x", action: "kms:Decrypt" })).toBe("no");
    expect(statementApplies(allow(), { principal: HOST, action: "kms:Decrypt" })).toBe("yes");
  });
});

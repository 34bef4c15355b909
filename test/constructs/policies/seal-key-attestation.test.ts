import { TerraformStack } from "cdktf";
import { KmsKey, KmsKeyPolicy } from "../../../constructs/aws";
import { SealKeyAttestation } from "../../../constructs/policies";
import { errorsOf, PCR0 } from "./helpers";

describe("EL-SEAL-ATTESTATION", () => {
  const seal = (statements: Record<string, unknown>[]) => (s: TerraformStack) =>
    new KmsKey(s, "seal", { enableKeyRotation: true, tags: { ExpressLaneKeyRole: "seal" }, policy: JSON.stringify({ Version: "2012-10-17", Statement: statements }) });
  const admin = { Sid: "KeyAdministration", Effect: "Allow", Principal: { AWS: "arn:aws:iam::1:role/deploy" }, Action: ["kms:Describe*"], Resource: "*" };
  const hostGrant = (cond: unknown) => ({
    Sid: "EnclaveDecryptWithAttestation",
    Effect: "Allow",
    Principal: { AWS: "arn:aws:iam::1:role/host" },
    Action: "kms:Decrypt",
    Resource: "*",
    Condition: cond,
  });
  test("compliant: host Decrypt requires ImageSha384 = PCR0", () => {
    expect(errorsOf(new SealKeyAttestation(), seal([admin, hostGrant({ StringEqualsIgnoreCase: { "kms:RecipientAttestation:ImageSha384": PCR0 } })]))).toEqual([]);
  });
  test("non-compliant: no condition, zero PCR0, missing grant", () => {
    expect(errorsOf(new SealKeyAttestation(), seal([admin, hostGrant(undefined)]))).toEqual([expect.stringMatching(/without a kms:RecipientAttestation:ImageSha384 condition/)]);
    expect(errorsOf(new SealKeyAttestation(), seal([admin, hostGrant({ StringEqualsIgnoreCase: { "kms:RecipientAttestation:ImageSha384": "0".repeat(96) } })]))).toEqual([
      expect.stringMatching(/all zeros/),
    ]);
    expect(errorsOf(new SealKeyAttestation(), seal([admin]))).toEqual([expect.stringMatching(/no statement grants/)]);
  });
  test("a writer's unwrap of its own writer keys (purpose and writer id, not the host) is the one un-attested Decrypt allowed", () => {
    const attested = hostGrant({ StringEqualsIgnoreCase: { "kms:RecipientAttestation:ImageSha384": PCR0 } });
    const unwrap = (principal: string, cond: unknown) => ({
      Sid: "WriterUnwrapSealKeys",
      Effect: "Allow",
      Principal: { AWS: principal },
      Action: "kms:Decrypt",
      Resource: "*",
      Condition: cond,
    });
    const own = { StringEquals: { "kms:EncryptionContext:purpose": "express-lane-seal", "kms:EncryptionContext:writer": "loader" } };
    const purposeOnly = { StringEquals: { "kms:EncryptionContext:purpose": "express-lane-seal" } };
    expect(errorsOf(new SealKeyAttestation(), seal([admin, attested, unwrap("arn:aws:iam::1:role/writer", own)]))).toEqual([]);
    expect(errorsOf(new SealKeyAttestation(), seal([admin, attested, unwrap("arn:aws:iam::1:role/host", own)]))).toEqual([
      expect.stringMatching(/WriterUnwrapSealKeys allow kms:Decrypt of writer loader's keys without attestation for arn:aws:iam::1:role\/host, which holds the attested grant/),
    ]);
    expect(errorsOf(new SealKeyAttestation(), seal([admin, attested, unwrap("arn:aws:iam::1:role/writer", undefined)]))).not.toEqual([]);
    expect(errorsOf(new SealKeyAttestation(), seal([admin, attested, unwrap("arn:aws:iam::1:role/writer", purposeOnly)]))).toEqual([
      expect.stringMatching(/without a kms:RecipientAttestation:ImageSha384 condition for arn:aws:iam::1:role\/writer/),
    ]);
    expect(errorsOf(new SealKeyAttestation(), seal([admin, attested, unwrap("*", own)]))).toEqual(expect.arrayContaining([expect.stringMatching(/for any principal/)]));
  });

  describe("escapes the old rule let through, each caught by evaluating requests", () => {
    const attested = hostGrant({ StringEqualsIgnoreCase: { "kms:RecipientAttestation:ImageSha384": PCR0 } });
    const allow = (principal: string, action: unknown, extra: Record<string, unknown> = {}) => ({
      Sid: "Escape",
      Effect: "Allow",
      Principal: { AWS: principal },
      Action: action,
      Resource: "*",
      ...extra,
    });
    test("kms:CreateGrant (a grant hands out Decrypt without the attestation condition)", () => {
      expect(errorsOf(new SealKeyAttestation(), seal([admin, attested, allow("arn:aws:iam::1:role/deploy", "kms:CreateGrant")]))).toEqual([
        expect.stringMatching(/allow kms:CreateGrant on the seal key/),
      ]);
      expect(errorsOf(new SealKeyAttestation(), seal([admin, attested, allow("arn:aws:iam::1:role/deploy", "kms:Create*")]))).toEqual([expect.stringMatching(/kms:CreateGrant/)]);
    });
    test("kms:PutKeyPolicy for the attested host (it could rewrite its own access) or a non-admin", () => {
      expect(errorsOf(new SealKeyAttestation(), seal([admin, attested, allow("arn:aws:iam::1:role/host", "kms:PutKeyPolicy")]))).toEqual([
        expect.stringMatching(/role\/host, which uses the seal key, call kms:PutKeyPolicy/),
      ]);
      expect(errorsOf(new SealKeyAttestation(), seal([admin, attested, allow("arn:aws:iam::1:root", "kms:PutKeyPolicy")]))).toEqual(
        expect.arrayContaining([expect.stringMatching(/any principal .* kms:PutKeyPolicy/)]),
      );
      const declared = (s: TerraformStack) => {
        const p = new KmsKeyPolicy(s, "sealPolicy", {
          keyId: "k",
          policy: JSON.stringify({ Version: "2012-10-17", Statement: [admin, attested, allow("arn:aws:iam::1:role/other", "kms:PutKeyPolicy")] }),
        });
        p.node.addMetadata("express-lane:key-role", "seal");
        p.node.addMetadata("express-lane:key-policy-admins", ["arn:aws:iam::1:role/deploy"]);
      };
      expect(errorsOf(new SealKeyAttestation(), declared)).toEqual([expect.stringMatching(/role\/other call kms:PutKeyPolicy; only the declared key-policy admins may/)]);
    });
    test("kms:ReEncryptFrom / ReEncrypt* (re-encrypting to a key the caller controls reads the plaintext)", () => {
      expect(errorsOf(new SealKeyAttestation(), seal([admin, attested, allow("arn:aws:iam::1:role/writer", "kms:ReEncrypt*")]))).toEqual(
        expect.arrayContaining([expect.stringMatching(/kms:ReEncryptFrom/)]),
      );
    });
    test("wildcards and NotAction that cover Decrypt (kms:De*, NotAction)", () => {
      expect(errorsOf(new SealKeyAttestation(), seal([admin, attested, allow("arn:aws:iam::1:role/writer", "kms:De*")]))).toEqual(
        expect.arrayContaining([expect.stringMatching(/allow kms:Decrypt without/)]),
      );
      const notAction = { Sid: "Escape", Effect: "Allow", Principal: { AWS: "arn:aws:iam::1:role/writer" }, NotAction: "kms:Encrypt", Resource: "*" };
      expect(errorsOf(new SealKeyAttestation(), seal([admin, attested, notAction]))).toEqual(expect.arrayContaining([expect.stringMatching(/allow kms:Decrypt without/)]));
    });
    test("the lane signing key: GenerateDataKeyPair (plaintext private key) or an un-attested Decrypt of it", () => {
      expect(errorsOf(new SealKeyAttestation(), seal([admin, attested, allow("arn:aws:iam::1:role/admin", "kms:GenerateDataKeyPair")]))).toEqual([
        expect.stringMatching(/allow kms:GenerateDataKeyPair on the seal key/),
      ]);
      const laneKeyUnwrap = { ...allow("arn:aws:iam::1:role/admin", "kms:Decrypt"), Condition: { StringEquals: { "kms:EncryptionContext:purpose": "express-lane-lane-key" } } };
      expect(errorsOf(new SealKeyAttestation(), seal([admin, attested, laneKeyUnwrap]))).toEqual([expect.stringMatching(/allow kms:Decrypt without .*express-lane-lane-key/)]);
    });
    test("an attested statement for Principal * (any account's enclave of the image)", () => {
      const anyone = { ...attested, Principal: "*" };
      expect(errorsOf(new SealKeyAttestation(), seal([admin, anyone]))).toEqual(expect.arrayContaining([expect.stringMatching(/any principal/)]));
    });
  });

  test("a seal key whose policy is managed elsewhere: its initial policy grants no Decrypt; the attached policy is checked", () => {
    const initial = (statements: Record<string, unknown>[]) => (s: TerraformStack) =>
      new KmsKey(s, "seal", {
        enableKeyRotation: true,
        tags: { ExpressLaneKeyRole: "seal" },
        lifecycle: { ignoreChanges: ["policy"] },
        policy: JSON.stringify({ Version: "2012-10-17", Statement: statements }),
      });
    expect(errorsOf(new SealKeyAttestation(), initial([admin]))).toEqual([]);
    expect(errorsOf(new SealKeyAttestation(), initial([admin, hostGrant({ StringEqualsIgnoreCase: { "kms:RecipientAttestation:ImageSha384": PCR0 } })]))).toEqual([
      expect.stringMatching(/must not allow kms:Decrypt/),
    ]);
    expect(
      errorsOf(new SealKeyAttestation(), initial([admin, { Effect: "Allow", Principal: { AWS: "arn:aws:iam::1:role/x" }, Action: "kms:CreateGrant", Resource: "*" }])),
    ).toEqual([expect.stringMatching(/must not allow kms:CreateGrant/)]);
    const attached = (statements: Record<string, unknown>[]) => (s: TerraformStack) => {
      const p = new KmsKeyPolicy(s, "sealPolicy", { keyId: "k", policy: JSON.stringify({ Version: "2012-10-17", Statement: statements }) });
      p.node.addMetadata("express-lane:key-role", "seal");
    };
    expect(errorsOf(new SealKeyAttestation(), attached([admin]))).toEqual([expect.stringMatching(/no statement grants/)]);
    expect(errorsOf(new SealKeyAttestation(), attached([admin, hostGrant(undefined)]))).toHaveLength(1);
    expect(errorsOf(new SealKeyAttestation(), attached([admin, hostGrant({ StringEqualsIgnoreCase: { "kms:RecipientAttestation:ImageSha384": PCR0 } })]))).toEqual([]);
  });

  test("keys not tagged as seal keys are ignored", () => {
    expect(errorsOf(new SealKeyAttestation(), (s) => new KmsKey(s, "k", { enableKeyRotation: true }))).toEqual([]);
  });
});

import { TerraformStack, Testing } from "cdktf";
import { Role } from "../../constructs/iam";
import { createDirectorySigningKey, createSealKey, LaneKeys, WRITER_ID } from "../../constructs/lane-keys";
import { couldAllow, type EvalRequest } from "../../constructs/policies/evaluate";
import { errorsOf, PCR0 } from "./policies/helpers";
import { SealKeyAttestation, SigningKeyPolicy } from "../../constructs/policies";
import type { IamStatementJson } from "../../constructs/policies/rule";

const ADMIN = "arn:aws:iam::111122223333:role/admin";
const DEPLOY = "arn:aws:iam::111122223333:role/deploy";
const SEAL_ARN = "arn:aws:kms:ap-south-1:111122223333:key/5ea1c11e-0000-4000-8000-000000000002";
const OTHER_PCR0 = "cd".repeat(48);

function lane(pcr0s: readonly string[] = [PCR0]) {
  const s = new TerraformStack(Testing.app(), "s");
  const keys = new LaneKeys(s, "keys", { prefix: "lane", admins: [ADMIN], operators: [DEPLOY], pcr0s, sealKeyArn: SEAL_ARN });
  const role = (name: string) => new Role(s, name, { roleName: name, assumedBy: [] });
  const host = role("host");
  const loader = role("loader");
  const stream = role("stream");
  keys.grantAttestedUnseal(host);
  keys.grantSeal(loader, "loader");
  keys.grantSealKeyUnwrap(loader, "loader");
  keys.grantSealKeyUnwrap(stream, "stream");
  const statements = () => JSON.parse(keys.sealKey.policyDocument).Statement as IamStatementJson[];
  return { s, keys, host, loader, stream, statements };
}

const ctx = (o: { purpose?: string; writer?: string; pcr0?: string; lane?: string; spec?: string }) => ({
  "kms:EncryptionContext:purpose": o.purpose,
  "kms:EncryptionContext:writer": o.writer,
  "kms:RecipientAttestation:ImageSha384": o.pcr0,
  "kms:EncryptionContext:lane": o.lane,
  "kms:DataKeyPairSpec": o.spec,
});
const allowed = (statements: IamStatementJson[], req: EvalRequest) => couldAllow(statements, req).length > 0;

describe("LaneKeys: the seal key policy, evaluated", () => {
  it("the host decrypts writer keys and the lane key only with an attestation of a measured image", () => {
    const { host, statements } = lane();
    const p = host.roleArn;
    expect(allowed(statements(), { principal: p, action: "kms:Decrypt", context: ctx({ purpose: "express-lane-seal", writer: "loader" }) })).toBe(false);
    expect(allowed(statements(), { principal: p, action: "kms:Decrypt", context: ctx({ purpose: "express-lane-seal", writer: "loader", pcr0: PCR0 }) })).toBe(true);
    expect(allowed(statements(), { principal: p, action: "kms:Decrypt", context: ctx({ purpose: "express-lane-lane-key", pcr0: PCR0.toUpperCase() }) })).toBe(true);
    expect(allowed(statements(), { principal: p, action: "kms:Decrypt", context: ctx({ purpose: "express-lane-seal", pcr0: OTHER_PCR0 }) })).toBe(false);
    expect(allowed(statements(), { principal: p, action: "kms:Decrypt", context: ctx({ purpose: "something-else", pcr0: PCR0 }) })).toBe(false);
  });

  it("during a rollout both releases' images may unseal", () => {
    const { host, statements } = lane([PCR0, OTHER_PCR0]);
    for (const pcr0 of [PCR0, OTHER_PCR0])
      expect(allowed(statements(), { principal: host.roleArn, action: "kms:Decrypt", context: ctx({ purpose: "express-lane-seal", pcr0 }) })).toBe(true);
  });

  it("a writer generates and unwraps only its own writer keys; another writer's are refused", () => {
    const { loader, stream, statements } = lane();
    expect(allowed(statements(), { principal: loader.roleArn, action: "kms:GenerateDataKey", context: ctx({ purpose: "express-lane-seal", writer: "loader" }) })).toBe(true);
    expect(allowed(statements(), { principal: loader.roleArn, action: "kms:GenerateDataKey", context: ctx({ purpose: "express-lane-seal", writer: "stream" }) })).toBe(false);
    expect(allowed(statements(), { principal: loader.roleArn, action: "kms:Decrypt", context: ctx({ purpose: "express-lane-seal", writer: "loader" }) })).toBe(true);
    expect(allowed(statements(), { principal: stream.roleArn, action: "kms:Decrypt", context: ctx({ purpose: "express-lane-seal", writer: "loader" }) })).toBe(false);
    // …and never the lane signing key, which only enclaves open.
    expect(allowed(statements(), { principal: loader.roleArn, action: "kms:Decrypt", context: ctx({ purpose: "express-lane-lane-key", writer: "loader" }) })).toBe(false);
  });

  it("nobody may create grants, and nothing outside writer keys is decrypted without attestation (the denies)", () => {
    const { statements } = lane();
    for (const principal of [ADMIN, DEPLOY, "arn:aws:iam::111122223333:root"]) {
      expect(allowed(statements(), { principal, action: "kms:CreateGrant" })).toBe(false);
    }
    const denies = statements()
      .filter((st) => st.Effect === "Deny")
      .map((st) => st.Sid);
    expect(denies).toEqual(["DenyGrants", "DenyUnattestedDecrypt"]);
  });

  it("lane key generation: only for this lane, Ed25519 pairs, without plaintext, by the named admins", () => {
    const { keys, statements } = lane();
    keys.grantLaneKeyGeneration([ADMIN], "prod");
    const req = (o: Parameters<typeof ctx>[0], principal = ADMIN) => ({ principal, action: "kms:GenerateDataKeyPairWithoutPlaintext", context: ctx(o) });
    expect(allowed(statements(), req({ purpose: "express-lane-lane-key", lane: "prod", spec: "ECC_NIST_EDWARDS25519" }))).toBe(true);
    expect(allowed(statements(), req({ purpose: "express-lane-lane-key", lane: "staging", spec: "ECC_NIST_EDWARDS25519" }))).toBe(false);
    expect(allowed(statements(), req({ purpose: "express-lane-lane-key", lane: "prod", spec: "RSA_2048" }))).toBe(false);
    expect(allowed(statements(), req({ purpose: "express-lane-lane-key", lane: "prod", spec: "ECC_NIST_EDWARDS25519" }, DEPLOY))).toBe(false);
    expect(allowed(statements(), { principal: ADMIN, action: "kms:GenerateDataKeyPair", context: ctx({ purpose: "express-lane-lane-key", lane: "prod" }) })).toBe(false);
  });

  it("passes the seal-key attestation rule as synthesized", () => {
    expect(
      errorsOf(new SealKeyAttestation(), (s) => {
        const keys = new LaneKeys(s, "keys", { prefix: "lane", admins: [ADMIN], operators: [DEPLOY], pcr0s: [PCR0], sealKeyArn: SEAL_ARN });
        keys.grantAttestedUnseal(new Role(s, "host", { roleName: "host", assumedBy: [] }));
      }),
    ).toEqual([]);
  });
});

describe("LaneKeys: refusals", () => {
  const make = (pcr0s: readonly string[]) => () =>
    new LaneKeys(new TerraformStack(Testing.app(), "s"), "keys", { prefix: "lane", admins: [ADMIN], operators: [DEPLOY], pcr0s, sealKeyArn: SEAL_ARN });
  it.each<[string, string[], RegExp]>([
    ["no PCR0", [], /pcr0s must list/],
    ["three PCR0s", [PCR0, OTHER_PCR0, "ef".repeat(48)], /pcr0s must list/],
    ["upper-case hex", [PCR0.toUpperCase()], /96 lowercase hex/],
    ["a short value", ["ab"], /96 lowercase hex/],
    ["a debug-mode (all zeros) PCR0", ["0".repeat(96)], /all zeros/],
  ])("refuses %s", (_what, pcr0s, message) => {
    expect(make(pcr0s)).toThrow(message);
  });

  it("refuses a writer id that could not name a role or an encryption context", () => {
    const { keys, s } = lane();
    const role = new Role(s, "x", { roleName: "x", assumedBy: [] });
    for (const id of ["Loader", "1loader", "a".repeat(17), "load_er"]) {
      expect(WRITER_ID.test(id)).toBe(false);
      expect(() => keys.grantSealKeyUnwrap(role, id)).toThrow(/must match/);
    }
  });

  it("the same PCR0 twice is bound once", () => {
    expect(lane([PCR0, PCR0]).keys.pcr0s).toEqual([PCR0]);
  });
});

describe("bootstrap keys", () => {
  it("the seal key is created with an admin-only policy managed by the lane stack, tagged as the seal key", () => {
    const s = new TerraformStack(Testing.app(), "s");
    const key = createSealKey(s, "seal", { prefix: "lane", admins: [ADMIN], policyOperators: [DEPLOY] });
    const statements = JSON.parse(key.policyDocument).Statement as IamStatementJson[];
    for (const action of ["kms:Decrypt", "kms:GenerateDataKey", "kms:CreateGrant"]) {
      for (const principal of [DEPLOY, "arn:aws:iam::111122223333:role/host"]) expect(allowed(statements, { principal, action })).toBe(false);
    }
    expect(allowed(statements, { principal: DEPLOY, action: "kms:PutKeyPolicy" })).toBe(true);
    const tf = JSON.parse(Testing.synth(s));
    expect(Object.values(tf.resource.aws_kms_key)[0]).toMatchObject({ tags: { ExpressLaneKeyRole: "seal" }, lifecycle: { ignore_changes: ["policy"] } });
  });

  it("the directory signing key: named publishers sign with Ed25519 only; readers get the public key; it passes EL-SIGNING-KEY", () => {
    const s = new TerraformStack(Testing.app(), "s");
    const publisher = "arn:aws:iam::111122223333:role/publisher";
    const key = createDirectorySigningKey(s, "sign", { prefix: "lane", admins: [ADMIN], signers: [publisher], publicKeyReaders: [DEPLOY] });
    const statements = JSON.parse(key.policyDocument).Statement as IamStatementJson[];
    expect(allowed(statements, { principal: publisher, action: "kms:Sign", context: { "kms:SigningAlgorithm": "ED25519_SHA_512" } })).toBe(true);
    expect(allowed(statements, { principal: publisher, action: "kms:Sign", context: { "kms:SigningAlgorithm": "ED25519_PH_SHA_512" } })).toBe(false);
    expect(allowed(statements, { principal: DEPLOY, action: "kms:Sign", context: { "kms:SigningAlgorithm": "ED25519_SHA_512" } })).toBe(false);
    expect(allowed(statements, { principal: DEPLOY, action: "kms:GetPublicKey" })).toBe(true);
    expect(() => createDirectorySigningKey(s, "none", { prefix: "lane", admins: [ADMIN], signers: [], publicKeyReaders: [] })).toThrow(/at least one directory publisher/);
    expect(
      errorsOf(new SigningKeyPolicy(), (st) => void createDirectorySigningKey(st, "k", { prefix: "lane", admins: [ADMIN], signers: [publisher], publicKeyReaders: [DEPLOY] })),
    ).toEqual([]);
  });
});

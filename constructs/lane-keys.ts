/**
 * The lane's customer managed keys:
 *  - the bucket key (SSE-KMS for the directory bucket; one CMK for the bucket's lifetime),
 *  - the seal key: writer keys (HMAC-SHA256, 32 bytes) are generated under it with KMS
 *    GenerateDataKey and encryption context {purpose: express-lane-seal, kid, writer}; a writer role
 *    may generate and unwrap only ciphertexts whose context `writer` is its own writer id, and the
 *    host role may Decrypt only when KMS sees an attestation document whose PCR0 (image hash) is
 *    one of the measured releases (the current one, and during a rollout the previous one). A host
 *    without that enclave cannot unseal anything.
 *  - the admin signing key (Ed25519, SIGN_VERIFY): signs the key directory (which writer kids are
 *    valid). Only named directory publishers may Sign; the deploy role may read the public key,
 *    which the EIF build pins. The enclave never calls KMS for it.
 *
 * The seal key breaks a cycle: the enclave image pins the seal key's ARN (so PCR0 depends on it),
 * and the key policy names PCR0. So the key itself is created earlier, in the bootstrap stack
 * (`createSealKey`, admin-only policy, policy drift ignored there), the EIF is built with its ARN,
 * and the lane stack then owns its whole policy (aws_kms_key_policy) with the PCR0 condition.
 */
import { Construct } from "constructs";
import { combineGrants, Grant, IGrantable } from "./iam";
import { ExistingKeyPolicy, Key } from "./key";
import {
  ATTESTATION_PCR0_CONDITION_KEY,
  DATA_KEY_PAIR_SPEC_CONDITION_KEY,
  KEY_POLICY_ACTIONS,
  KEY_ROLE_TAG,
  LANE_CONDITION_KEY,
  LANE_KEY_PAIR_SPEC,
  LANE_KEY_PURPOSE,
  SEAL_PURPOSE,
  SEAL_PURPOSE_CONDITION_KEY,
  SEAL_WRITER_CONDITION_KEY,
} from "./perms";

/** Statement ID of the host's attested grant. */
export const SEAL_HOST_GRANT_SID = "EnclaveDecryptWithAttestation";
/** Statement ID prefix of a writer's unwrap grant (its own writer keys only). */
export const SEAL_WRITER_UNWRAP_SID = "WriterUnwrapSealKeys";
/** The admin signing key's one algorithm (KMS Sign `SigningAlgorithm`). */
export const DIRECTORY_SIGNING_ALGORITHM = "ED25519_SHA_512";
export const DIRECTORY_SIGNING_KEY_SPEC = "ECC_NIST_EDWARDS25519";

/** Alias of the seal key (`alias/<prefix>-seal`); the lane stack and the EIF build look it up. */
export const sealKeyAlias = (prefix: string): string => `${prefix}-seal`;
/** Alias of the admin signing key (`alias/<prefix>-directory-signing`). */
export const directorySigningKeyAlias = (prefix: string): string => `${prefix}-directory-signing`;

/** A writer id: names its role and its key-policy grants (and the `writer` encryption context). */
export const WRITER_ID = /^[a-z][a-z0-9-]{0,15}$/;

const PCR0 = /^[0-9a-f]{96}$/;

export interface SealKeyProps {
  readonly prefix: string;
  /** Break-glass administrators, and the principal applying the bootstrap (KMS lockout check). */
  readonly admins: readonly string[];
  /** The deploy role: may only read and set the key policy (the lane stack's aws_kms_key_policy). */
  readonly policyOperators: readonly string[];
  /** The plan role: reads the key and its policy. @default none */
  readonly readers?: readonly string[];
}

/**
 * The seal KMS key, created before the EIF build (bootstrap stack) with an admin-only policy; the
 * lane stack's LaneKeys replaces the policy once PCR0 is known.
 */
export function createSealKey(scope: Construct, id: string, props: SealKeyProps): Key {
  return new Key(scope, id, {
    description: `${props.prefix}: seals enclave secrets; host decrypt requires Nitro attestation (PCR0) — policy set by the lane stack`,
    admins: props.admins,
    operators: props.policyOperators,
    operatorActions: KEY_POLICY_ACTIONS,
    readers: props.readers,
    alias: sealKeyAlias(props.prefix),
    tags: { [KEY_ROLE_TAG]: "seal" },
    policyManagedElsewhere: true,
  });
}

export interface DirectorySigningKeyProps {
  readonly prefix: string;
  readonly admins: readonly string[];
  /** Principals that may kms:Sign (ED25519_SHA_512 only): the directory publishers. At least one. */
  readonly signers: readonly string[];
  /** Principals that may kms:GetPublicKey/DescribeKey (the deploy role: the EIF build pins it). */
  readonly publicKeyReaders: readonly string[];
}

/**
 * The admin signing key (bootstrap stack): KeySpec ECC_NIST_EDWARDS25519, KeyUsage SIGN_VERIFY
 * ("ECC_NIST_EDWARDS25519 ... Ed25519 signing, SIGN_VERIFY only; signing algorithms ED25519_SHA_512,
 * ED25519_PH_SHA_512", KMS API reference, CreateKey KeySpec). Asymmetric keys cannot rotate
 * automatically, so rotation is off (KMS Developer Guide, "Rotate AWS KMS keys": automatic rotation
 * is supported only on symmetric encryption keys).
 */
export function createDirectorySigningKey(scope: Construct, id: string, props: DirectorySigningKeyProps): Key {
  if (props.signers.length === 0) throw new Error("createDirectorySigningKey: name at least one directory publisher");
  const key = new Key(scope, id, {
    description: `${props.prefix}: signs the writer key directory (Ed25519); public key pinned into the EIF`,
    admins: props.admins,
    alias: directorySigningKeyAlias(props.prefix),
    keySpec: DIRECTORY_SIGNING_KEY_SPEC,
    keyUsage: "SIGN_VERIFY",
    enableKeyRotation: false,
    tags: { [KEY_ROLE_TAG]: "signing" },
  });
  // kms:SigningAlgorithm condition key: "Controls access to ... Sign and Verify operations based on
  // the signing algorithm in the request" (KMS Developer Guide, kms:SigningAlgorithm).
  key.addToResourcePolicy({
    sid: "DirectoryPublishersSign",
    actions: ["kms:Sign"],
    principals: { AWS: [...props.signers] },
    conditions: { StringEquals: { "kms:SigningAlgorithm": DIRECTORY_SIGNING_ALGORITHM } },
  });
  if (props.publicKeyReaders.length > 0) {
    key.addToResourcePolicy({ sid: "ReadPublicKey", actions: ["kms:GetPublicKey", "kms:DescribeKey"], principals: { AWS: [...props.publicKeyReaders] } });
  }
  return key;
}

export interface LaneKeysProps {
  /** Name prefix for aliases. */
  readonly prefix: string;
  /** Break-glass key administrators. They receive no cryptographic use. */
  readonly admins: readonly string[];
  /** The deploy role: lifecycle of the bucket key, policy of the seal key. */
  readonly operators: readonly string[];
  /** The plan role: reads both keys and their policies. @default none */
  readonly readers?: readonly string[];
  /**
   * PCR0 values the seal key accepts (96 lowercase hex characters each, never all zeros): the
   * release being deployed and, during a rollout, the previous one — hosts of both releases can
   * unseal until the rollout completes; the next deploy drops the old value.
   */
  readonly pcr0s: readonly string[];
  /** ARN of the seal key created by `createSealKey` (bootstrap stack); pinned in the EIF. */
  readonly sealKeyArn: string;
}

export class LaneKeys extends Construct {
  /** SSE-KMS key of the directory bucket. */
  readonly bucketKey: Key;
  /** Policy of the key that seals enclave secrets; host Decrypt requires attestation. */
  readonly sealKey: ExistingKeyPolicy;
  readonly pcr0s: readonly string[];

  constructor(scope: Construct, id: string, props: LaneKeysProps) {
    super(scope, id);
    if (props.pcr0s.length === 0 || props.pcr0s.length > 2) throw new Error(`${this.node.path}: pcr0s must list the release's PCR0 and at most one previous one`);
    for (const p of props.pcr0s) {
      if (!PCR0.test(p)) throw new Error(`${this.node.path}: pcr0 must be 96 lowercase hex characters, got ${JSON.stringify(p)}`);
      if (/^0+$/.test(p)) throw new Error(`${this.node.path}: pcr0 is all zeros (debug-mode enclave); refusing to bind the seal key to it`);
    }
    this.pcr0s = [...new Set(props.pcr0s)];
    this.bucketKey = new Key(this, "BucketKey", {
      description: `${props.prefix}: SSE-KMS key of the S3 Express directory bucket`,
      admins: props.admins,
      operators: props.operators,
      readers: props.readers,
      alias: `${props.prefix}-bucket`,
      tags: { [KEY_ROLE_TAG]: "bucket" },
    });
    this.sealKey = new ExistingKeyPolicy(this, "SealKeyPolicy", {
      keyArn: props.sealKeyArn,
      admins: props.admins,
      operators: props.operators,
      operatorActions: KEY_POLICY_ACTIONS,
      readers: props.readers,
      role: "seal",
    });
    // Belt and braces, and what remains on the key after a destroy (keepOnDestroy): nobody creates
    // grants on the seal key (a grant would hand out Decrypt without the attestation condition), and
    // nobody decrypts (or re-encrypts from) it without an attestation document unless the
    // ciphertext is a writer key (purpose express-lane-seal), which the writer grants narrow further.
    this.sealKey.addToResourcePolicy({ sid: "DenyGrants", effect: "Deny", principals: "*", actions: ["kms:CreateGrant"] });
    this.sealKey.addToResourcePolicy({
      sid: "DenyUnattestedDecrypt",
      effect: "Deny",
      principals: "*",
      actions: ["kms:Decrypt", "kms:ReEncryptFrom"],
      conditions: { Null: { [ATTESTATION_PCR0_CONDITION_KEY]: "true" }, StringNotEquals: { [SEAL_PURPOSE_CONDITION_KEY]: SEAL_PURPOSE } },
    });
  }

  private static writerConditions(writerId: string) {
    if (!WRITER_ID.test(writerId)) throw new Error(`writer id "${writerId}" must match ${WRITER_ID}`);
    return { StringEquals: { [SEAL_PURPOSE_CONDITION_KEY]: SEAL_PURPOSE, [SEAL_WRITER_CONDITION_KEY]: writerId } };
  }

  /**
   * Lets `writer` generate its own writer keys (GenerateDataKey under {purpose, writer: writerId}).
   * The `kms:EncryptionContext:` condition key "controls access ... based on the encryption context
   * in the request" and applies to GenerateDataKey and Decrypt (KMS Developer Guide,
   * kms:EncryptionContext:context-key).
   */
  grantSeal(writer: IGrantable, writerId: string): Grant {
    return combineGrants(
      this.sealKey.grant(writer, `WriterSeal${pascal(writerId)}`, ["kms:GenerateDataKey"], LaneKeys.writerConditions(writerId)),
      this.sealKey.grant(writer, `WriterDescribe${pascal(writerId)}`, ["kms:DescribeKey"]),
    );
  }

  /** Lets `writer` unwrap its own writer keys, and nothing else wrapped under this key. */
  grantSealKeyUnwrap(writer: IGrantable, writerId: string): Grant {
    return this.sealKey.grantDecrypt(writer, `${SEAL_WRITER_UNWRAP_SID}${pascal(writerId)}`, LaneKeys.writerConditions(writerId));
  }

  /**
   * Lets `host` call kms:Decrypt only with an attestation document from a measured enclave image,
   * and only on writer keys. KMS then returns `CiphertextForRecipient`, readable only inside the
   * enclave ("kms:RecipientAttestation:ImageSha384 ... Controls access to Decrypt ... based on the
   * image hash in the attestation document in the request", KMS Developer Guide, condition keys for
   * AWS Nitro Enclaves). Several PCR0 values in one condition are ORed. Two kinds of ciphertext:
   * writer keys (purpose express-lane-seal) and the lane signing key (purpose express-lane-lane-key).
   */
  grantAttestedUnseal(host: IGrantable): Grant {
    return this.sealKey.grantDecrypt(host, SEAL_HOST_GRANT_SID, {
      StringEqualsIgnoreCase: { [ATTESTATION_PCR0_CONDITION_KEY]: this.pcr0s.length === 1 ? this.pcr0s[0] : [...this.pcr0s] },
      StringEquals: { [SEAL_PURPOSE_CONDITION_KEY]: [SEAL_PURPOSE, LANE_KEY_PURPOSE] },
    });
  }

  /**
   * Lets `principals` (the directory publishers / lane admins) create the lane signing key: KMS
   * GenerateDataKeyPairWithoutPlaintext returns the public key and the private key encrypted under
   * this key, never the plaintext private key ("GenerateDataKeyPairWithoutPlaintext ... does not
   * return a plaintext private key", KMS API reference), only for this lane and only Ed25519
   * (kms:DataKeyPairSpec). They get no Decrypt, so only attested enclaves ever open it.
   */
  grantLaneKeyGeneration(principals: readonly string[], laneName: string): void {
    if (principals.length === 0) return;
    this.sealKey.addToResourcePolicy({
      sid: "AdminsGenerateLaneSigningKey",
      actions: ["kms:GenerateDataKeyPairWithoutPlaintext"],
      principals: { AWS: [...principals] },
      conditions: { StringEquals: { [SEAL_PURPOSE_CONDITION_KEY]: LANE_KEY_PURPOSE, [LANE_CONDITION_KEY]: laneName, [DATA_KEY_PAIR_SPEC_CONDITION_KEY]: LANE_KEY_PAIR_SPEC } },
    });
  }
}

const pascal = (id: string): string =>
  id
    .split("-")
    .map((p) => p.charAt(0).toUpperCase() + p.slice(1))
    .join("");

/**
 * The lane's two customer managed keys:
 *  - the bucket key (SSE-KMS for the directory bucket; one CMK for the bucket's lifetime), and
 *  - the seal key: the writer role wraps seal keys with it (and may unwrap only those: encryption
 *    context purpose = express-lane-seal), and the host role may Decrypt only when KMS sees an
 *    attestation document whose PCR0 (image hash) is the one measured by the EIF build. A host
 *    without that enclave cannot unseal anything.
 *
 * The seal key breaks a cycle: the enclave image pins the seal key's ARN (so PCR0 depends on it),
 * and the key policy names PCR0. So the key itself is created earlier, in the bootstrap stack
 * (`createSealKey`, admin-only policy, policy drift ignored there), the EIF is built with its ARN,
 * and the lane stack then owns its whole policy (aws_kms_key_policy) with the PCR0 condition.
 */
import { Construct } from "constructs";
import { IGrantable } from "./iam";
import { ExistingKeyPolicy, Key } from "./key";
import { KEY_ROLE_TAG } from "./policies/seal-key-attestation";

/** The KMS condition key carrying the attested enclave image hash (PCR0). */
export const ATTESTATION_PCR0_CONDITION_KEY = "kms:RecipientAttestation:ImageSha384";
/** Statement ID of the host's attested grant; the attestation policy rule looks for it. */
export const SEAL_HOST_GRANT_SID = "EnclaveDecryptWithAttestation";
/** Statement ID of the writer's unwrap grant (seal-purpose ciphertexts only). */
export const SEAL_WRITER_UNWRAP_SID = "WriterUnwrapSealKeys";
/** Encryption context every seal key is wrapped under (wire/seal-keys.ts SEAL_KEY_PURPOSE). */
export const SEAL_PURPOSE_CONDITION_KEY = "kms:EncryptionContext:purpose";
export const SEAL_PURPOSE = "express-lane-seal";

/** Alias of the seal key (`alias/<prefix>-seal`); the lane stack and the EIF build look it up. */
export const sealKeyAlias = (prefix: string): string => `${prefix}-seal`;

/**
 * The seal KMS key, created before the EIF build (bootstrap stack) with an admin-only policy; the
 * lane stack's LaneKeys replaces the policy once PCR0 is known.
 */
export function createSealKey(scope: Construct, id: string, props: { prefix: string; admins: readonly string[] }): Key {
  return new Key(scope, id, {
    description: `${props.prefix}: seals enclave secrets; host decrypt requires Nitro attestation (PCR0) — policy set by the lane stack`,
    admins: props.admins,
    alias: sealKeyAlias(props.prefix),
    tags: { [KEY_ROLE_TAG]: "seal" },
    policyManagedElsewhere: true,
  });
}

export interface LaneKeysProps {
  /** Name prefix for aliases. */
  readonly prefix: string;
  /** Key administrators (e.g. the deploy role). They receive no cryptographic use. */
  readonly admins: readonly string[];
  /** PCR0 of the release EIF (96 lowercase hex characters). Must not be all zeros. */
  readonly pcr0: string;
  /** ARN of the seal key created by `createSealKey` (bootstrap stack); pinned in the EIF. */
  readonly sealKeyArn: string;
}

export class LaneKeys extends Construct {
  /** SSE-KMS key of the directory bucket. */
  readonly bucketKey: Key;
  /** Policy of the key that seals enclave secrets; host Decrypt requires attestation. */
  readonly sealKey: ExistingKeyPolicy;
  readonly pcr0: string;

  constructor(scope: Construct, id: string, props: LaneKeysProps) {
    super(scope, id);
    if (!/^[0-9a-f]{96}$/.test(props.pcr0)) throw new Error(`${this.node.path}: pcr0 must be 96 lowercase hex characters`);
    if (/^0+$/.test(props.pcr0)) throw new Error(`${this.node.path}: pcr0 is all zeros (debug-mode enclave); refusing to bind the seal key to it`);
    this.pcr0 = props.pcr0;
    this.bucketKey = new Key(this, "BucketKey", {
      description: `${props.prefix}: SSE-KMS key of the S3 Express directory bucket`,
      admins: props.admins,
      alias: `${props.prefix}-bucket`,
      tags: { [KEY_ROLE_TAG]: "bucket" },
    });
    this.sealKey = new ExistingKeyPolicy(this, "SealKeyPolicy", { keyArn: props.sealKeyArn, admins: props.admins, role: "seal" });
  }

  /** Lets `writer` seal (encrypt) for the enclave. The writer cannot unseal. */
  grantSeal(writer: IGrantable): void {
    this.sealKey.grant(writer, "WriterSeal", ["kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]);
  }

  /**
   * Lets `writer` unwrap seal keys (writers hold them: `express-lane load --seal-key-kms`), and
   * nothing else wrapped under this key: only ciphertexts made with purpose = express-lane-seal.
   */
  grantSealKeyUnwrap(writer: IGrantable): void {
    this.sealKey.grantDecrypt(writer, SEAL_WRITER_UNWRAP_SID, { StringEquals: { [SEAL_PURPOSE_CONDITION_KEY]: SEAL_PURPOSE } });
  }

  /**
   * Lets `host` call kms:Decrypt only with an attestation document from the measured enclave
   * image. KMS then returns `CiphertextForRecipient`, readable only inside the enclave.
   */
  grantAttestedUnseal(host: IGrantable): void {
    this.sealKey.grantDecrypt(host, SEAL_HOST_GRANT_SID, {
      StringEqualsIgnoreCase: { [ATTESTATION_PCR0_CONDITION_KEY]: this.pcr0 },
    });
  }
}

/**
 * The lane's two customer managed keys:
 *  - the bucket key (SSE-KMS for the directory bucket; one CMK for the bucket's lifetime), and
 *  - the seal key: the writer role seals secrets for the enclave with it, and the host role may
 *    Decrypt only when KMS sees an attestation document whose PCR0 (image hash) is the one
 *    measured by the EIF build. A host without that enclave cannot unseal anything.
 */
import { Construct } from "constructs";
import { IGrantable } from "./iam";
import { Key } from "./key";
import { KEY_ROLE_TAG } from "./policies/seal-key-attestation";

/** The KMS condition key carrying the attested enclave image hash (PCR0). */
export const ATTESTATION_PCR0_CONDITION_KEY = "kms:RecipientAttestation:ImageSha384";
/** Statement ID of the host's attested grant; the attestation policy rule looks for it. */
export const SEAL_HOST_GRANT_SID = "EnclaveDecryptWithAttestation";

export interface LaneKeysProps {
  /** Name prefix for aliases. */
  readonly prefix: string;
  /** Key administrators (e.g. the deploy role). They receive no cryptographic use. */
  readonly admins: readonly string[];
  /** PCR0 of the release EIF (96 lowercase hex characters). Must not be all zeros. */
  readonly pcr0: string;
}

export class LaneKeys extends Construct {
  /** SSE-KMS key of the directory bucket. */
  readonly bucketKey: Key;
  /** Key that seals enclave secrets; host Decrypt requires attestation. */
  readonly sealKey: Key;
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
    this.sealKey = new Key(this, "SealKey", {
      description: `${props.prefix}: seals enclave secrets; host decrypt requires Nitro attestation (PCR0)`,
      admins: props.admins,
      alias: `${props.prefix}-seal`,
      tags: { [KEY_ROLE_TAG]: "seal" },
    });
  }

  /** Lets `writer` seal (encrypt) for the enclave. The writer cannot unseal. */
  grantSeal(writer: IGrantable): void {
    this.sealKey.grant(writer, "WriterSeal", ["kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]);
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

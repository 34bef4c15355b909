/**
 * The wrapped seal keys document: what `express-lane seal-key create` publishes and the lane hosts
 * fetch (s3://<artifact bucket>/seal-keys/wrapped.json, docs/keys.md). It holds only KMS
 * ciphertexts — not secret: only the writer role (plain Decrypt, seal purpose only) and the attested
 * enclave (Decrypt with Recipient) can open them. Shared by the CLI (writer), the runtime (host,
 * forwards them to the signer) and the signer; no key material and no I/O here.
 */
import { WRITER_ID } from "./key-directory";
import { SEAL_KID } from "./object";

/**
 * Encryption context every writer (seal) key is wrapped under: binds the blob to its purpose, its
 * kid and its writer. The key policy lets each writer role use only blobs with its own `writer`
 * (kms:EncryptionContext:writer), so one writer's credentials cannot unwrap another's key; the
 * enclave asks with the writer the signed key directory names for the kid.
 */
export const SEAL_KEY_PURPOSE = "express-lane-seal";

export function sealKeyEncryptionContext(kid: string, writer: string): Record<string, string> {
  return { purpose: SEAL_KEY_PURPOSE, kid, writer };
}

/** A symmetric KMS key ARN (not an alias: the enclave pins one key, not a name that can move). */
export const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):key\/[A-Za-z0-9-]{1,128}$/;

/** KMS ciphertext blobs of a 32-byte data key are ~180 bytes; bound what we accept. */
export const MAX_WRAPPED_BLOB_BYTES = 6144;
export const MAX_WRAPPED_KEYS = 16;

export interface WrappedSealKeyEntry {
  readonly kid: string;
  /** The writer the key belongs to (wire/key-directory.ts WRITER_ID); part of the encryption context. */
  readonly writer: string;
  /** base64 KMS CiphertextBlob (GenerateDataKey under `keyArn`, context sealKeyEncryptionContext(kid)). */
  readonly ciphertextBlob: string;
  readonly created?: string;
}

export interface WrappedSealKeysDocument {
  readonly version: 1;
  /** The seal KMS key the blobs are under (the one pinned in the enclave image). */
  readonly keyArn: string;
  readonly region: string;
  /** First = active (the key pushes are sealed with); the rest still verify (rotation). */
  readonly keys: readonly WrappedSealKeyEntry[];
}

export class SealKeysDocumentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SealKeysDocumentError";
  }
}

export function kmsKeyRegion(keyArn: string): string | undefined {
  return KMS_KEY_ARN.exec(keyArn)?.[1];
}

export function parseWrappedSealKeys(text: string, source = "wrapped seal keys"): WrappedSealKeysDocument {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new SealKeysDocumentError(`${source}: not JSON`);
  }
  const doc = raw as Partial<WrappedSealKeysDocument>;
  if (!doc || typeof doc !== "object" || doc.version !== 1) throw new SealKeysDocumentError(`${source}: version must be 1`);
  if (typeof doc.keyArn !== "string" || !KMS_KEY_ARN.test(doc.keyArn)) throw new SealKeysDocumentError(`${source}: keyArn must be a KMS key ARN`);
  if (typeof doc.region !== "string" || doc.region !== kmsKeyRegion(doc.keyArn)) throw new SealKeysDocumentError(`${source}: region must be the key ARN's region`);
  if (!Array.isArray(doc.keys) || doc.keys.length === 0 || doc.keys.length > MAX_WRAPPED_KEYS) {
    throw new SealKeysDocumentError(`${source}: keys must list 1..${MAX_WRAPPED_KEYS} wrapped keys`);
  }
  const seen = new Set<string>();
  for (const k of doc.keys as WrappedSealKeyEntry[]) {
    if (!k || typeof k.kid !== "string" || !SEAL_KID.test(k.kid)) throw new SealKeysDocumentError(`${source}: kid ${JSON.stringify(k?.kid)} must match ${SEAL_KID.source}`);
    if (seen.has(k.kid)) throw new SealKeysDocumentError(`${source}: kid ${k.kid} listed twice`);
    if (typeof k.writer !== "string" || !WRITER_ID.test(k.writer)) throw new SealKeysDocumentError(`${source}: ${k.kid}: writer must match ${WRITER_ID.source}`);
    seen.add(k.kid);
    const blob = typeof k.ciphertextBlob === "string" ? Buffer.from(k.ciphertextBlob, "base64") : Buffer.alloc(0);
    if (blob.length === 0 || blob.length > MAX_WRAPPED_BLOB_BYTES)
      throw new SealKeysDocumentError(`${source}: ${k.kid}: ciphertextBlob must be 1..${MAX_WRAPPED_BLOB_BYTES} bytes of base64`);
  }
  return { version: 1, keyArn: doc.keyArn, region: doc.region, keys: (doc.keys as WrappedSealKeyEntry[]).map((k) => ({ ...k })) };
}

export function serializeWrappedSealKeys(doc: WrappedSealKeysDocument): string {
  return `${JSON.stringify(doc, null, 2)}\n`;
}

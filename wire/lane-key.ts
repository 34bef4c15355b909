/**
 * The lane signing key: one Ed25519 key per lane that every attested enclave of the lane signs
 * with, so a consumer pins one trust anchor for the whole fleet, across signer restarts and
 * releases (issue #14; docs/trust.md "One trust anchor per lane").
 *
 * Production: an admin calls KMS GenerateDataKeyPairWithoutPlaintext (KeyPairSpec
 * ECC_NIST_EDWARDS25519) under the seal KMS key with the encryption context below. KMS returns the
 * public key and the private key encrypted under the CMK; the plaintext private key is never
 * returned to anyone. Enclaves unwrap it with attested Decrypt (the same key policy statement that
 * releases writer keys only to the measured image), so it exists only inside enclaves.
 *
 *   lane keys document = {version: 1, lane, keyArn, region, keys: [{kid, publicKey, ciphertextBlob, not_before, not_after}]}
 *   trust anchor (JWKS) = {keys: [{kty: "OKP", crv: "Ed25519", x, kid, nbf, exp}]}   (what consumers pin)
 *
 * `kid` is the RFC 7638 thumbprint of the public key (the keyid of every answer signed with it).
 * The validity window is in the encryption context, so KMS binds it to the blob: a host cannot
 * stretch a retired key's life, nor move a key to another lane. An enclave signs with the valid key of the latest not_before.
 * Rotation: publish the next key (later not_before) next to the current one; consumers pin both.
 */
import { createPublicKey } from "node:crypto";
import { ed25519Jwk, jwkThumbprint, type Ed25519Jwk } from "./keys";
import { LANE_NAME } from "./key-directory";
import { KMS_KEY_ARN, kmsKeyRegion, MAX_WRAPPED_BLOB_BYTES } from "./seal-keys";

export const LANE_KEY_PURPOSE = "express-lane-lane-key";
export const MAX_LANE_KEYS = 4;
/** A lane key may be valid for at most this long; rotate well before. */
export const MAX_LANE_KEY_VALIDITY_MS = 400 * 24 * 3600 * 1000;

export interface LaneKeyEntry {
  readonly kid: string;
  /** Raw 32-byte Ed25519 public key, base64. */
  readonly publicKey: string;
  /** KMS PrivateKeyCiphertextBlob (base64): the PKCS#8 private key, only enclaves open it. */
  readonly ciphertextBlob: string;
  /** ms since epoch. */
  readonly not_before: number;
  readonly not_after: number;
}

export interface LaneKeysDocument {
  readonly version: 1;
  readonly lane: string;
  readonly keyArn: string;
  readonly region: string;
  readonly keys: readonly LaneKeyEntry[];
}

/** A consumer's trust anchor entry: the public key with its validity (JWK + RFC 7519-style nbf/exp, seconds). */
export interface LaneKeyJwk extends Ed25519Jwk {
  readonly kid: string;
  readonly nbf: number;
  readonly exp: number;
}

export class LaneKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LaneKeyError";
  }
}

const bad = (message: string): never => {
  throw new LaneKeyError(message);
};

/**
 * Bound into the blob by KMS: purpose, lane and the validity window (ms, decimal strings). Not the
 * kid: KMS makes the pair, so nobody knows the public key before the call; the enclave derives the
 * kid from the key it unwrapped and refuses a blob presented under another kid.
 */
export function laneKeyEncryptionContext(lane: string, notBefore: number, notAfter: number): Record<string, string> {
  return { purpose: LANE_KEY_PURPOSE, lane, not_before: String(notBefore), not_after: String(notAfter) };
}

export function laneKidOf(rawPublicKey: Uint8Array): string {
  return jwkThumbprint(ed25519Jwk(rawPublicKey));
}

/** KMS returns the public key as DER SubjectPublicKeyInfo; the raw 32 bytes are what we publish. */
export function rawFromSpki(der: Uint8Array): Buffer {
  const jwk = createPublicKey({ key: Buffer.from(der), format: "der", type: "spki" }).export({ format: "jwk" }) as { crv?: string; x?: string };
  if (jwk.crv !== "Ed25519" || !jwk.x) bad("public key is not Ed25519");
  return Buffer.from(jwk.x!, "base64url");
}

export function checkValidity(notBefore: unknown, notAfter: unknown, where: string): void {
  if (typeof notBefore !== "number" || typeof notAfter !== "number" || !Number.isSafeInteger(notBefore) || !Number.isSafeInteger(notAfter) || notBefore <= 0)
    bad(`${where}: not_before/not_after must be ms since epoch`);
  if ((notAfter as number) <= (notBefore as number)) bad(`${where}: not_after must be after not_before`);
  if ((notAfter as number) - (notBefore as number) > MAX_LANE_KEY_VALIDITY_MS) bad(`${where}: a lane key may be valid for at most ${MAX_LANE_KEY_VALIDITY_MS / 86_400_000} days`);
}

export function parseLaneKeys(text: string, source = "lane keys"): LaneKeysDocument {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return bad(`${source}: not JSON`);
  }
  if (!raw || typeof raw !== "object" || raw.version !== 1) bad(`${source}: version must be 1`);
  if (typeof raw.lane !== "string" || !LANE_NAME.test(raw.lane)) bad(`${source}: lane must match ${LANE_NAME.source}`);
  if (typeof raw.keyArn !== "string" || !KMS_KEY_ARN.test(raw.keyArn)) bad(`${source}: keyArn must be a KMS key ARN`);
  if (raw.region !== kmsKeyRegion(raw.keyArn as string)) bad(`${source}: region must be the key ARN's region`);
  if (!Array.isArray(raw.keys) || raw.keys.length === 0 || raw.keys.length > MAX_LANE_KEYS) bad(`${source}: keys must list 1..${MAX_LANE_KEYS} lane keys`);
  const keys = (raw.keys as Record<string, unknown>[]).map((k, i): LaneKeyEntry => {
    const where = `${source}: keys[${i}]`;
    const pub = typeof k?.publicKey === "string" ? Buffer.from(k.publicKey, "base64") : Buffer.alloc(0);
    if (pub.length !== 32) bad(`${where}: publicKey must be 32 bytes of base64`);
    if (k.kid !== laneKidOf(pub)) bad(`${where}: kid must be the public key's JWK thumbprint`);
    const blob = typeof k.ciphertextBlob === "string" ? Buffer.from(k.ciphertextBlob, "base64") : Buffer.alloc(0);
    if (blob.length === 0 || blob.length > MAX_WRAPPED_BLOB_BYTES) bad(`${where}: ciphertextBlob must be 1..${MAX_WRAPPED_BLOB_BYTES} bytes of base64`);
    checkValidity(k.not_before, k.not_after, where);
    return {
      kid: k.kid as string,
      publicKey: k.publicKey as string,
      ciphertextBlob: k.ciphertextBlob as string,
      not_before: k.not_before as number,
      not_after: k.not_after as number,
    };
  });
  return { version: 1, lane: raw.lane as string, keyArn: raw.keyArn as string, region: raw.region as string, keys };
}

/** The consumers' trust anchor: public keys and validity only. */
export function laneKeysJwks(keys: readonly Pick<LaneKeyEntry, "kid" | "publicKey" | "not_before" | "not_after">[]): { keys: LaneKeyJwk[] } {
  return {
    keys: keys.map((k) => ({ ...ed25519Jwk(Buffer.from(k.publicKey, "base64")), kid: k.kid, nbf: Math.floor(k.not_before / 1000), exp: Math.floor(k.not_after / 1000) })),
  };
}

/**
 * The one rule for which lane key signs at `nowMs`: among those valid then, the one with the
 * latest not_before (the enclave signs with it; the runtime publishes it as the current key).
 */
export function currentLaneKey<T extends { readonly notBefore: number; readonly notAfter: number }>(keys: readonly T[], nowMs: number): T | undefined {
  let best: T | undefined;
  for (const k of keys) if (k.notBefore <= nowMs && nowMs < k.notAfter && (!best || k.notBefore > best.notBefore)) best = k;
  return best;
}

/**
 * Signing-key identity. The keyid in every Signature-Input is the RFC 7638 JWK thumbprint of the
 * signer's Ed25519 public key, so a verifier can tie a response to the key in an attestation
 * document without any registry: thumbprint(raw key from the document) == keyid.
 */
import { createHash, createPublicKey, KeyObject } from "node:crypto";

export interface Ed25519Jwk {
  readonly kty: "OKP";
  readonly crv: "Ed25519";
  readonly x: string;
}

export function ed25519Jwk(rawPublicKey: Uint8Array): Ed25519Jwk {
  if (rawPublicKey.length !== 32) throw new Error("Ed25519 public key must be 32 bytes");
  return { kty: "OKP", crv: "Ed25519", x: Buffer.from(rawPublicKey).toString("base64url") };
}

/** RFC 7638 §3: SHA-256 over the required members in lexicographic order, no whitespace. */
export function jwkThumbprint(jwk: Ed25519Jwk): string {
  const canonical = `{"crv":"${jwk.crv}","kty":"${jwk.kty}","x":"${jwk.x}"}`;
  return createHash("sha256").update(canonical).digest("base64url");
}

export function keyidForRawKey(rawPublicKey: Uint8Array): string {
  return jwkThumbprint(ed25519Jwk(rawPublicKey));
}

export function publicKeyFromJwk(jwk: Ed25519Jwk): KeyObject {
  return createPublicKey({ key: { ...jwk }, format: "jwk" });
}

export function rawFromPublicKey(key: KeyObject): Buffer {
  // An EC key's JWK has an `x` too (its x coordinate): check the type, not the shape.
  if (key.type !== "public" || key.asymmetricKeyType !== "ed25519") throw new Error("not an Ed25519 public key");
  const jwk = key.export({ format: "jwk" }) as { x?: string };
  if (!jwk.x) throw new Error("not an OKP public key");
  return Buffer.from(jwk.x, "base64url");
}

/**
 * The signing key. It is born here, in the signer's memory, when the signer starts, and it never
 * leaves: there is no export, no file, no frame that carries it. Inside a Nitro Enclave that means
 * the parent host cannot read it; the attestation document (enclave/nsm) binds its public half to
 * the enclave's measurements, and its JWK thumbprint is the keyid of every response signature.
 */
import { createPublicKey, generateKeyPairSync, KeyObject, sign } from "node:crypto";
import { ed25519Jwk, keyidForRawKey, rawFromPublicKey } from "../wire/keys";
import type { KeyInfo } from "../wire/frames";

export class SigningKey {
  readonly publicKeyRaw: Buffer;
  readonly keyid: string;
  readonly info: KeyInfo;

  private constructor(
    private readonly privateKey: KeyObject,
    publicKey: KeyObject,
  ) {
    this.publicKeyRaw = rawFromPublicKey(publicKey);
    this.keyid = keyidForRawKey(this.publicKeyRaw);
    this.info = { keyid: this.keyid, alg: "ed25519", jwk: ed25519Jwk(this.publicKeyRaw) };
  }

  /** A fresh Ed25519 key pair; called once per signer process. */
  static generate(): SigningKey {
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    return new SigningKey(privateKey, publicKey);
  }

  /**
   * Wrap an existing private key: a lane signing key unwrapped inside the enclave
   * (enclave/lane-keys.ts), tests, and the documented worked example (the public RFC 9421 test
   * key). The signer's own key always comes from generate().
   */
  static fromPrivateKey(privateKey: KeyObject): SigningKey {
    return new SigningKey(privateKey, createPublicKey(privateKey));
  }

  /**
   * The private key for this process's own signing threads (enclave/sign-workers.ts): handed over
   * in memory by postMessage, which clones a KeyObject into another thread of the same process.
   * Never serialised, never in a frame: the key still never leaves the process.
   */
  threadKey(): KeyObject {
    return this.privateKey;
  }

  sign(data: string | Buffer): Buffer {
    return sign(null, typeof data === "string" ? Buffer.from(data, "utf8") : data, this.privateKey);
  }
}

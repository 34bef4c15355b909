/**
 * The Nitro Security Module as the signer sees it. Two implementations share everything above the
 * device call: `DeviceNsm` (ioctl on /dev/nsm through a tiny helper, inside a real enclave) and
 * `LocalNsm` (documents in the exact Nitro format, signed by a local dev CA chain).
 */
export interface AttestationRequest {
  /** Bound into the document's `public_key` field (≤ 1024 bytes; NSM limit). */
  readonly publicKey?: Buffer;
  /** Bound into `user_data` (≤ 512 bytes). */
  readonly userData?: Buffer;
  /** Bound into `nonce` (≤ 512 bytes). */
  readonly nonce?: Buffer;
}

export interface Nsm {
  /** Returns the raw attestation document: COSE_Sign1 (CBOR tag 18) bytes. */
  attest(request: AttestationRequest): Promise<Buffer>;
  /** "device" on a real enclave, "local" for the dev twin. */
  readonly kind: "device" | "local";
}

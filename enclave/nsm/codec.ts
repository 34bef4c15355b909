/**
 * The NSM's wire format, shared by both NSM implementations: CBOR as the Nitro Secure Module and
 * its Rust API (aws-nitro-enclaves-nsm-api, serde_cbor) speak it.
 *
 *   request  {"Attestation": {"user_data": bstr|null, "nonce": bstr|null, "public_key": bstr|null}}
 *   response {"Attestation": {"document": bstr}}  or  {"Error": "InvalidArgument" | "InputTooLarge" | …}
 */
import type * as CborX from "cbor-x" with { "resolution-mode": "import" };
import type { AttestationRequest } from "./types";

// cbor-x runs as CommonJS (dist/node.cjs) but ships only ESM typings, which TypeScript refuses to
// `import` from a CommonJS module; load the CJS build and borrow the ESM types.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Decoder, Encoder, Tag } = require("cbor-x") as typeof CborX;
export { Tag };

/** Plain CBOR: Maps keep integer keys, no cbor-x record extension, byte strings untagged. */
export const cborEncoder = new Encoder({ mapsAsObjects: false, useRecords: false, tagUint8Array: false });
export const cborDecoder = new Decoder({ mapsAsObjects: false, useRecords: false });

/** NSM field limits (nsm-api: 512 bytes for user_data and nonce; 1024 for public_key). */
export const NSM_LIMITS = { userData: 512, nonce: 512, publicKey: 1024 } as const;
/** NSM_REQUEST_MAX_SIZE / NSM_RESPONSE_MAX_SIZE in the Linux nsm driver. */
export const NSM_REQUEST_MAX_SIZE = 0x1000;
export const NSM_RESPONSE_MAX_SIZE = 0x3000;

export class NsmError extends Error {
  constructor(
    /** The NSM ErrorCode ("InputTooLarge", …) or a transport failure ("HelperFailed", …). */
    readonly code: string,
    message: string,
  ) {
    super(`NSM ${code}: ${message}`);
    this.name = "NsmError";
  }
}

/** Refuses what the NSM would refuse, with the same error code, before anything is signed. */
export function checkAttestationRequest(request: AttestationRequest): void {
  const tooLarge = (name: string, value: Buffer | undefined, max: number) => {
    if (value !== undefined && value.length > max) throw new NsmError("InputTooLarge", `${name} is ${value.length} bytes (max ${max})`);
  };
  tooLarge("user_data", request.userData, NSM_LIMITS.userData);
  tooLarge("nonce", request.nonce, NSM_LIMITS.nonce);
  tooLarge("public_key", request.publicKey, NSM_LIMITS.publicKey);
}

export function encodeAttestationRequest(request: AttestationRequest): Buffer {
  checkAttestationRequest(request);
  const fields = new Map<string, Buffer | null>([
    ["user_data", request.userData ?? null],
    ["nonce", request.nonce ?? null],
    ["public_key", request.publicKey ?? null],
  ]);
  const encoded = cborEncoder.encode(new Map([["Attestation", fields]]));
  if (encoded.length > NSM_REQUEST_MAX_SIZE) throw new NsmError("InputTooLarge", `request is ${encoded.length} bytes`);
  return encoded;
}

/** Returns the attestation document, or throws NsmError carrying the NSM's error code. */
export function decodeAttestationResponse(bytes: Buffer): Buffer {
  let response: unknown;
  try {
    response = cborDecoder.decode(bytes);
  } catch (err) {
    throw new NsmError("InvalidResponse", `response is not CBOR: ${(err as Error).message}`);
  }
  // Unit responses and errors arrive as a bare string or {"Error": "<ErrorCode>"}.
  if (typeof response === "string") throw new NsmError(response, "NSM answered without a document");
  if (!(response instanceof Map)) throw new NsmError("InvalidResponse", "response is not a CBOR map");
  const error = response.get("Error");
  if (error !== undefined) throw new NsmError(typeof error === "string" ? error : "InvalidResponse", "NSM refused the request");
  const attestation = response.get("Attestation");
  const document = attestation instanceof Map ? attestation.get("document") : undefined;
  if (!(document instanceof Uint8Array) || document.length === 0) {
    throw new NsmError("InvalidResponse", "response has no Attestation.document byte string");
  }
  return Buffer.from(document);
}

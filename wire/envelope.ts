/**
 * The signed response envelope: RFC 9530 Content-Digest + RFC 9421 HTTP Message Signatures.
 *
 * Every answer is signed over exactly these components, in this order (docs/envelope.md):
 *
 *   "@status" "content-type" "content-digest" "@method";req "@path";req "@query";req
 *
 * and, for a request with a body (POST: batch reads, pushes), also `"content-digest";req`: the
 * SHA-256 of the request body *the signer parsed*. Without it a host could have the signer answer
 * another batch (other entities, order or features) under the consumer's method, path and query
 * (envelope v2; v1 answers lacked it and verifiers refuse them for POST).
 *
 * with parameters created, expires, keyid, alg="ed25519", tag="express-lane" and, when the client
 * sent an Accept-Signature nonce, nonce. The signer builds the signature base with
 * `signatureBase()`; verifiers rebuild it from the HTTP message they saw with the same function
 * (and tests cross-check it against an independent RFC 9421 library).
 */
import { createHash } from "node:crypto";

export const SIGNATURE_ALG = "ed25519";
export const SIGNATURE_TAG = "express-lane";
/** How long a response signature is valid. Freshness of the *data* is event_time, not this. */
export const DEFAULT_SIGNATURE_VALIDITY_S = 60;

export const COVERED_COMPONENTS = [
  { name: "@status", req: false },
  { name: "content-type", req: false },
  { name: "content-digest", req: false },
  { name: "@method", req: true },
  { name: "@path", req: true },
  { name: "@query", req: true },
] as const;

/** Added for requests with a body (POST): binds the answer to the exact request body. */
export const REQUEST_DIGEST_COMPONENT = { name: "content-digest", req: true } as const;

/** The components of an answer to a request with (true) or without (false) a body, in order. */
export function coveredComponents(requestHasBody: boolean): ReadonlyArray<{ readonly name: string; readonly req: boolean }> {
  return requestHasBody ? [...COVERED_COMPONENTS, REQUEST_DIGEST_COMPONENT] : COVERED_COMPONENTS;
}

/** The facts a signature covers, as values (not yet serialized). */
export interface SignedFacts {
  readonly status: number;
  readonly contentType: string;
  readonly contentDigest: string;
  readonly method: string;
  readonly path: string;
  /** The request's query with its "?"; RFC 9421 §2.2.7: an absent query is "?". */
  readonly query: string;
  /**
   * `Content-Digest` of the request body (sha-256 form, contentDigest()) for requests with a body;
   * covered as `"content-digest";req`. Absent for GET.
   */
  readonly requestContentDigest?: string;
}

export interface SignatureParams {
  readonly created: number;
  readonly expires: number;
  readonly keyid: string;
  readonly nonce?: string;
  readonly alg?: string;
  readonly tag?: string;
  /** Cover `"content-digest";req` (requests with a body). @default false */
  readonly requestHasBody?: boolean;
}

/** RFC 9530 `Content-Digest: sha-256=:<base64>:` for a body. */
export function contentDigest(body: Uint8Array): string {
  return `sha-256=:${createHash("sha256").update(body).digest("base64")}:`;
}

/** `("@status" "content-type" … "@query";req)`: fixed, so serialized once (per shape). */
const serializeComponents = (components: ReadonlyArray<{ name: string; req: boolean }>): string => `(${components.map((c) => `"${c.name}"${c.req ? ";req" : ""}`).join(" ")})`;
const COVERED_LIST = serializeComponents(coveredComponents(false));
const COVERED_LIST_WITH_BODY = serializeComponents(coveredComponents(true));

/** RFC 8941 §3.3.3 sf-string: printable ASCII only, `"` and `\` escaped. */
function sfString(value: string): string {
  if (!/^[\x20-\x7e]*$/.test(value)) throw new Error("sf-string must be printable ASCII");
  return `"${value.replace(/[\\"]/g, "\\$&")}"`;
}

/**
 * The `@signature-params` value (and the Signature-Input member value).
 *
 * Serialized by hand because it is on every answer's path: the structured-headers serializer cost
 * 6.5 µs per answer here against < 1 µs for this (bench/micro/signer.ts, docs/performance.md).
 * test/wire/envelope.test.ts checks it against that serializer for arbitrary nonces.
 */
export function serializeSignatureParams(params: SignatureParams): string {
  if (!Number.isSafeInteger(params.created) || !Number.isSafeInteger(params.expires)) throw new Error("created/expires must be integers");
  let out = `${params.requestHasBody ? COVERED_LIST_WITH_BODY : COVERED_LIST};created=${params.created};expires=${params.expires};keyid=${sfString(params.keyid)};alg=${sfString(params.alg ?? SIGNATURE_ALG)};tag=${sfString(params.tag ?? SIGNATURE_TAG)}`;
  if (params.nonce !== undefined) out += `;nonce=${sfString(params.nonce)}`;
  return out;
}

/** The RFC 9421 §2.5 signature base: the exact bytes that are signed. */
export function signatureBase(facts: SignedFacts, serializedParams: string): string {
  return (
    `"@status": ${facts.status}\n` +
    `"content-type": ${facts.contentType}\n` +
    `"content-digest": ${facts.contentDigest}\n` +
    `"@method";req: ${facts.method}\n` +
    `"@path";req: ${facts.path}\n` +
    `"@query";req: ${facts.query === "" ? "?" : facts.query}\n` +
    (facts.requestContentDigest !== undefined ? `"content-digest";req: ${facts.requestContentDigest}\n` : "") +
    `"@signature-params": ${serializedParams}`
  );
}

/** Header values for a signature labelled `label`. */
export function signatureHeaders(label: string, serializedParams: string, signature: Uint8Array): { signatureInput: string; signature: string } {
  return {
    signatureInput: `${label}=${serializedParams}`,
    signature: `${label}=:${Buffer.from(signature).toString("base64")}:`,
  };
}

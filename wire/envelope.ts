/**
 * The signed response envelope: RFC 9530 Content-Digest + RFC 9421 HTTP Message Signatures.
 *
 * Every read answer is signed over exactly these components, in this order (docs/envelope.md):
 *
 *   "@status" "content-type" "content-digest" "@method";req "@path";req "@query";req
 *
 * with parameters created, expires, keyid, alg="ed25519", tag="express-lane" and, when the client
 * sent an Accept-Signature nonce, nonce. The signer builds the signature base with
 * `signatureBase()`; verifiers rebuild it from the HTTP message they saw with the same function
 * (and tests cross-check it against an independent RFC 9421 library).
 */
import { createHash } from "node:crypto";
import { serializeInnerList, serializeString } from "structured-headers";

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

/** The facts a signature covers, as values (not yet serialized). */
export interface SignedFacts {
  readonly status: number;
  readonly contentType: string;
  readonly contentDigest: string;
  readonly method: string;
  readonly path: string;
  /** The request's query with its "?"; RFC 9421 §2.2.7: an absent query is "?". */
  readonly query: string;
}

export interface SignatureParams {
  readonly created: number;
  readonly expires: number;
  readonly keyid: string;
  readonly nonce?: string;
  readonly alg?: string;
  readonly tag?: string;
}

/** RFC 9530 `Content-Digest: sha-256=:<base64>:` for a body. */
export function contentDigest(body: Uint8Array): string {
  return `sha-256=:${createHash("sha256").update(body).digest("base64")}:`;
}

/**
 * The `@signature-params` value (and the Signature-Input member value). Uses the structured-field
 * serializer so a client-supplied nonce is escaped exactly as RFC 8941 requires.
 */
export function serializeSignatureParams(params: SignatureParams): string {
  const components = COVERED_COMPONENTS.map((c) => [c.name, new Map(c.req ? [["req", true]] : [])] as [string, Map<string, boolean>]);
  const p = new Map<string, string | number>([
    ["created", params.created],
    ["expires", params.expires],
    ["keyid", params.keyid],
    ["alg", params.alg ?? SIGNATURE_ALG],
    ["tag", params.tag ?? SIGNATURE_TAG],
  ]);
  if (params.nonce !== undefined) p.set("nonce", params.nonce);
  return serializeInnerList([components, p]);
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

// Keep serializeString reachable for callers that need to quote a value the same way.
export { serializeString };

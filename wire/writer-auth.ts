/**
 * How a writer authenticates a push to the enclave: an RFC 9421 request signature with
 * `hmac-sha256` under the writer's own key (the same key that seals its objects; the directory,
 * wire/key-directory.ts, says which kid belongs to which writer). TLS ends at the host and API keys
 * are bearer secrets the host sees, so only a signature the host cannot make proves that a writer
 * authorized these exact rows. The enclave verifies it (symmetric: cheap), checks freshness and
 * replay, and only then seals the rows under that writer's key.
 *
 *   Content-Digest:  sha-256=:<base64 of SHA-256(body)>:
 *   Signature-Input: wsig=("@method" "@path" "@query" "content-type" "content-digest");created=<s>;keyid="<kid>";alg="hmac-sha256";nonce="<nonce>";tag="express-lane-write"
 *   Signature:       wsig=:<base64 HMAC-SHA256(writer key, signature base)>:
 *
 * The label is free; the member tagged `express-lane-write` is the writer's. Parameters may come
 * in any order (the base uses them as sent, RFC 9421 §2.3). The same scheme under another tag
 * authenticates writers' reports to a view's sequencer (sequencer/server.ts, tag
 * `express-lane-checkpoint-report`): a report signature can never pass as a push's or the other
 * way round. Shared by writers (sign) and the
 * enclave (verify); no key storage and no I/O here.
 */
import { createHmac } from "node:crypto";
import { isInnerList, parseDictionary, serializeInnerList, type InnerList } from "structured-headers";
import { contentDigest } from "./envelope";
import { SEAL_KID } from "./object";

export const WRITER_SIGNATURE_TAG = "express-lane-write";
export const WRITER_SIGNATURE_ALG = "hmac-sha256";
export const WRITER_SIGNATURE_LABEL = "wsig";
export const WRITER_COMPONENTS = ["@method", "@path", "@query", "content-type", "content-digest"] as const;
/** A push signature older than this is refused (and its nonce forgotten after it). */
export const WRITER_SIGNATURE_MAX_AGE_S = 300;
/** Writer clocks may run this far ahead of the enclave's. */
export const WRITER_SIGNATURE_FUTURE_SKEW_S = 30;
export const WRITER_NONCE = /^[A-Za-z0-9_-]{16,128}$/;
const MAX_HEADER = 4096;

/** The request facts a push signature covers, as the enclave receives them from the host. */
export interface PushRequestFacts {
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly contentType?: string;
  readonly body?: Uint8Array;
}

/** The writer's signature headers on a push (forwarded untouched by the host). */
export interface WriterSignatureHeaders {
  readonly signatureInput?: string;
  readonly signature?: string;
  readonly contentDigest?: string;
}

export interface WriterSignature {
  readonly kid: string;
  readonly created: number;
  readonly nonce: string;
  /** The exact signature base the MAC is over. */
  readonly base: string;
  readonly mac: Buffer;
}

export type WriterAuthCode =
  "writer_signature_missing" | "writer_signature_malformed" | "writer_signature_stale" | "writer_key_unknown" | "writer_signature_invalid" | "content_digest_mismatch";

export class WriterAuthError extends Error {
  constructor(
    readonly code: WriterAuthCode,
    message: string,
  ) {
    super(message);
    this.name = "WriterAuthError";
  }
}

const fail = (code: WriterAuthCode, message: string): never => {
  throw new WriterAuthError(code, message);
};

function signatureBase(facts: PushRequestFacts, digest: string, serializedParams: string): string {
  return (
    `"@method": ${facts.method}\n` +
    `"@path": ${facts.path}\n` +
    `"@query": ${facts.query === "" ? "?" : facts.query}\n` +
    `"content-type": ${facts.contentType ?? ""}\n` +
    `"content-digest": ${digest}\n` +
    `"@signature-params": ${serializedParams}`
  );
}

/**
 * Parse the writer's signature and rebuild its base from the facts the enclave holds. Checks
 * form, freshness and the body digest; the MAC itself needs the writer key (the caller's job).
 */
export function parseWriterSignature(facts: PushRequestFacts, headers: WriterSignatureHeaders, nowSeconds: number, tag: string = WRITER_SIGNATURE_TAG): WriterSignature {
  const { signatureInput, signature } = headers;
  if (!signatureInput || !signature) return fail("writer_signature_missing", "pushes must carry a writer signature (Signature-Input / Signature, tag express-lane-write)");
  if (signatureInput.length > MAX_HEADER || signature.length > MAX_HEADER) return fail("writer_signature_malformed", "signature headers too long");
  let inputs: ReturnType<typeof parseDictionary>;
  let sigs: ReturnType<typeof parseDictionary>;
  try {
    inputs = parseDictionary(signatureInput);
    sigs = parseDictionary(signature);
  } catch {
    return fail("writer_signature_malformed", "Signature-Input / Signature are not structured dictionaries");
  }
  let label: string | undefined;
  let member: InnerList | undefined;
  for (const [name, value] of inputs) {
    if (isInnerList(value) && value[1].get("tag") === tag) {
      if (label !== undefined) fail("writer_signature_malformed", "more than one writer signature");
      label = name;
      member = value;
    }
  }
  if (label === undefined || member === undefined) return fail("writer_signature_missing", `no signature tagged ${tag}`);
  const [items, params] = member;
  const names = items.map(([v, p]) => (typeof v === "string" && p.size === 0 ? v : "\u0000"));
  if (names.length !== WRITER_COMPONENTS.length || names.some((n, i) => n !== WRITER_COMPONENTS[i])) {
    fail("writer_signature_malformed", `writer signatures cover exactly (${WRITER_COMPONENTS.map((c) => `"${c}"`).join(" ")})`);
  }
  const kid = params.get("keyid");
  const created = params.get("created");
  const nonce = params.get("nonce");
  const alg = params.get("alg");
  for (const k of params.keys())
    if (!["keyid", "created", "nonce", "alg", "tag", "expires"].includes(k)) fail("writer_signature_malformed", `unexpected signature parameter ${k.slice(0, 32)}`);
  if (alg !== WRITER_SIGNATURE_ALG) fail("writer_signature_malformed", `alg must be ${WRITER_SIGNATURE_ALG}`);
  if (typeof kid !== "string" || !SEAL_KID.test(kid)) fail("writer_signature_malformed", `keyid must match ${SEAL_KID.source}`);
  if (typeof nonce !== "string" || !WRITER_NONCE.test(nonce)) fail("writer_signature_malformed", `nonce must match ${WRITER_NONCE.source}`);
  if (typeof created !== "number" || !Number.isSafeInteger(created)) return fail("writer_signature_malformed", "created must be an integer");
  if (created < nowSeconds - WRITER_SIGNATURE_MAX_AGE_S || created > nowSeconds + WRITER_SIGNATURE_FUTURE_SKEW_S) {
    fail("writer_signature_stale", `writer signature created ${created} is outside [now − ${WRITER_SIGNATURE_MAX_AGE_S} s, now + ${WRITER_SIGNATURE_FUTURE_SKEW_S} s]`);
  }
  const expires = params.get("expires");
  if (expires !== undefined && (typeof expires !== "number" || expires < nowSeconds)) fail("writer_signature_stale", "writer signature expired");
  const sigMember = sigs.get(label);
  if (!sigMember || isInnerList(sigMember) || !(sigMember[0] instanceof ArrayBuffer))
    return fail("writer_signature_malformed", `Signature has no byte sequence for label ${label}`);
  const mac = Buffer.from(sigMember[0]);
  if (mac.length !== 32) fail("writer_signature_malformed", "hmac-sha256 signatures are 32 bytes");
  // The body digest is ours, from the bytes we parse; a header that disagrees is refused.
  const digest = contentDigest(facts.body ?? new Uint8Array(0));
  if (headers.contentDigest !== digest) fail("content_digest_mismatch", "Content-Digest is missing or does not match the body (sha-256 required)");
  return { kid: kid as string, created, nonce: nonce as string, base: signatureBase(facts, digest, serializeInnerList(member)), mac };
}

export function writerMac(key: Uint8Array, base: string): Buffer {
  return createHmac("sha256", key).update(base, "utf8").digest();
}

/** Writer side: the headers for a push of `facts` under writer key `kid`. */
export function signPush(
  facts: PushRequestFacts,
  key: { kid: string; key: Uint8Array },
  options: { nowSeconds?: number; nonce: string; label?: string; tag?: string },
): Required<WriterSignatureHeaders> {
  if (!WRITER_NONCE.test(options.nonce)) throw new Error(`nonce must match ${WRITER_NONCE.source}`);
  const created = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  const label = options.label ?? WRITER_SIGNATURE_LABEL;
  const params = `(${WRITER_COMPONENTS.map((c) => `"${c}"`).join(" ")});created=${created};keyid="${key.kid}";alg="${WRITER_SIGNATURE_ALG}";nonce="${options.nonce}";tag="${options.tag ?? WRITER_SIGNATURE_TAG}"`;
  const digest = contentDigest(facts.body ?? new Uint8Array(0));
  const mac = writerMac(key.key, signatureBase(facts, digest, params));
  return { signatureInput: `${label}=${params}`, signature: `${label}=:${mac.toString("base64")}:`, contentDigest: digest };
}

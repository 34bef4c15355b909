/**
 * Verifying a signed Express Lane answer (docs/envelope.md), for consumers, the CLI, the benchmark
 * and the runtime's own sampled self-check. Fails closed: any missing or unexpected piece is a
 * VerificationError with a code that says which check failed.
 *
 * The caller pins the key (or key set): this module never fetches one. A key taken from the host
 * that serves the answers proves nothing (the host can sign with a key of its own); take it from a
 * verified attestation document (verifier/attestation.ts) or pin its keyid.
 *
 * Envelope v2: an answer to a request with a body (POST: batch reads, pushes) must also cover
 * `"content-digest";req`, the digest of the body *we* sent, so a host cannot have the signer answer
 * another batch under our method, path and query. A v1 answer to a POST is `wrong_components`.
 */
import { KeyObject, verify as verifySignature } from "node:crypto";
import { isInnerList, parseDictionary, serializeInnerList } from "structured-headers";
import { Unpackr } from "msgpackr";
import { contentDigest, coveredComponents, SIGNATURE_ALG, SIGNATURE_TAG, signatureBase } from "../wire/envelope";
import { Ed25519Jwk, jwkThumbprint, publicKeyFromJwk } from "../wire/keys";
import type { SignedResponse } from "../wire/frames";

export type VerificationCode =
  | "missing_header"
  | "missing_request_body"
  | "malformed_signature_input"
  | "unknown_label"
  | "wrong_components"
  | "wrong_alg"
  | "wrong_keyid"
  | "key_not_valid"
  | "digest_mismatch"
  | "bad_signature"
  | "not_yet_valid"
  | "expired"
  | "nonce_mismatch"
  | "registry_mismatch"
  | "stale_answer";

export class VerificationError extends Error {
  constructor(
    readonly code: VerificationCode,
    message: string,
  ) {
    super(message);
    this.name = "VerificationError";
  }
}

/** The response as received. Header names lower-case. */
export interface ReceivedResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body: Uint8Array;
}

/** A signer's answer as it will appear on the wire (the runtime's self-check and tests use it). */
export function receivedFromSigned(signed: SignedResponse): ReceivedResponse {
  return {
    status: signed.status,
    headers: {
      "content-type": signed.contentType,
      "content-digest": signed.contentDigest,
      "signature-input": signed.signatureInput,
      signature: signed.signature,
    },
    body: signed.body,
  };
}

/** The request the consumer sent: what the signature must be bound to. */
export interface SentRequest {
  readonly method: string;
  /** Path as sent (percent-encoded). */
  readonly path: string;
  /** Query as sent, with "?", or "" for none. */
  readonly query: string;
  /**
   * The request body exactly as sent (the bytes, not a re-serialization). Required for POST, PUT
   * and PATCH: their answers are bound to it (`"content-digest";req`).
   */
  readonly body?: Uint8Array;
}

/** Methods whose requests carry a body; their answers must cover `"content-digest";req`. */
const METHODS_WITH_BODY: ReadonlySet<string> = new Set(["POST", "PUT", "PATCH"]);

/**
 * Does the answer to this request have to cover the request body? Yes for POST/PUT/PATCH (with or
 * without `body`: then the caller forgot it, and we refuse rather than guess) and for any request
 * that did send a non-empty body.
 */
export function requestHasBody(request: SentRequest): boolean {
  return METHODS_WITH_BODY.has(request.method.toUpperCase()) || (request.body !== undefined && request.body.length > 0);
}

const componentList = (hasBody: boolean): string =>
  coveredComponents(hasBody)
    .map((c) => `${c.name}${c.req ? ";req" : ""}`)
    .join(" ");
const EXPECTED_COMPONENTS = { withBody: componentList(true), withoutBody: componentList(false) } as const;

/** A pinned signer public key: a JWK, or a JWK with its KeyObject already built (hot paths). */
export type PinnedKey = Ed25519Jwk | { readonly jwk: Ed25519Jwk; readonly keyObject: KeyObject };

export interface VerifyOptions {
  /**
   * The pinned signer key, or a set of them (e.g. the keys of several enclaves behind one load
   * balancer): the answer's keyid must be one of them. Take it from a verified attestation
   * document or pin its keyid; never from the channel that carries the answers.
   */
  readonly key: PinnedKey | readonly PinnedKey[];
  /** The nonce the consumer put in Accept-Signature; required in the signature when given. */
  readonly nonce?: string;
  /** Signature label; default: the only/first label in Signature-Input. */
  readonly label?: string;
  /** Seconds since epoch; default now. */
  readonly now?: number;
  /** Allowed clock skew in seconds for created/expires. @default 5 */
  readonly skewSeconds?: number;
  /**
   * Require the answer to name this registry (docs/views.md): an exact version and/or digest, or
   * a minimum version (a host withholding a newer registry shows as an older version).
   */
  readonly expectRegistry?: { readonly version?: number; readonly minVersion?: number; readonly digest?: string };
  /**
   * P8 (docs/trust.md): the oldest `fresh_as_of` accepted, in seconds before `now`, for every
   * entity a read answer makes a claim about (found, not_found, tombstone). Default: the bound the
   * answer itself carries for the view (`max_staleness`, signed; 60 s when absent). An entity with
   * fresh_as_of null, or older than the bound, fails verification as `stale_answer`.
   * `Infinity` turns the check off: an explicit opt-out, for callers that only check signatures
   * (the runtime's own sampled self-check) — never the default.
   */
  readonly maxStaleness?: number;
}

/** The default bound when an answer names none (an answer from a signer before P8 fails anyway: its fresh_as_of is missing). */
export const DEFAULT_MAX_STALENESS_SECONDS = 60;

/** One entity a read answer makes a claim about, and how fresh the signer proved it. */
export interface EntityFreshness {
  readonly view: string;
  readonly entity: string;
  /** ms since epoch; null = the signer could not prove it (no valid checkpoint proof). */
  readonly freshAsOf: number | null;
  readonly checkpointSeq?: number;
  /** The view's bound as the answer states it (seconds). */
  readonly maxStaleness: number;
}

/** The registry a signed answer names (registry_version, registry_digest; covered by the signature). */
export interface AnswerRegistry {
  readonly version: number;
  readonly digest: string;
}

export interface VerifiedResponse {
  readonly label: string;
  readonly keyid: string;
  readonly created: number;
  readonly expires: number;
  readonly nonce?: string;
  /** The registry the signer built the answer with; undefined for an answer that names none. */
  readonly registry?: AnswerRegistry;
  /**
   * P8: the oldest fresh_as_of (ms) among the answer's entities, when the freshness check ran on
   * a read answer; undefined for answers that are not reads or when the check was turned off.
   */
  readonly oldestFreshAsOf?: number;
}

/** Read registry_version / registry_digest from a signed body (JSON or MessagePack). */
export function answerRegistry(body: Uint8Array, contentType: string): AnswerRegistry | undefined {
  let value: unknown;
  try {
    value = contentType.startsWith("application/msgpack") ? registryUnpackr.unpack(body) : JSON.parse(Buffer.from(body).toString("utf8"));
  } catch {
    return undefined;
  }
  const v = value as { registry_version?: unknown; registry_digest?: unknown } | null;
  if (typeof v !== "object" || v === null || typeof v.registry_version !== "number" || typeof v.registry_digest !== "string") return undefined;
  return { version: v.registry_version, digest: v.registry_digest };
}
const registryUnpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

function timeMs(v: unknown): number | null {
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.getTime();
  if (typeof v === "string") {
    const t = Date.parse(v);
    return Number.isNaN(t) ? null : t;
  }
  return null;
}
const boundOf = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) && v > 0 ? v : DEFAULT_MAX_STALENESS_SECONDS);
type Loose = Record<string, unknown>;
const isMap = (v: unknown): v is Loose => typeof v === "object" && v !== null && !Array.isArray(v);

/** An entity result makes a claim (found, or not_found / tombstone); a refusal carries no value and none. */
function claimOf(view: string, r: unknown, bound: number): EntityFreshness | null {
  if (!isMap(r)) return null;
  const refused = r.found !== true && !(isMap(r.error) && r.error.code === "not_found");
  if (refused) return null;
  return {
    view,
    entity: String(r.entity),
    freshAsOf: timeMs(r.fresh_as_of),
    ...(typeof r.checkpoint_seq === "number" ? { checkpointSeq: r.checkpoint_seq } : {}),
    maxStaleness: bound,
  };
}

/**
 * P8: the entities a signed read answer makes claims about, with their fresh_as_of; undefined for
 * an answer that is not a read (a push answer, an error). Single and batch reads (JSON or
 * MessagePack) and the Feast route (its `freshness` per view; entities it refused are skipped).
 */
export function answerFreshness(body: Uint8Array, contentType: string): EntityFreshness[] | undefined {
  let value: unknown;
  try {
    value = contentType.startsWith("application/msgpack") ? registryUnpackr.unpack(body) : JSON.parse(Buffer.from(body).toString("utf8"));
  } catch {
    return undefined;
  }
  if (!isMap(value)) return undefined;
  if (isMap(value.metadata) && Array.isArray(value.results)) {
    // Feast: without a freshness section every entity is unproven (a signer before P8).
    const keys = isMap(value.results[0]) && Array.isArray(value.results[0].values) ? (value.results[0].values as unknown[]).map(String) : [];
    const refused = new Set(Array.isArray(value.errors) ? value.errors.filter(isMap).map((e) => `${String(e.view)}\u0000${String(e.entity)}`) : []);
    const sections = Array.isArray(value.freshness) ? value.freshness.filter(isMap) : [];
    if (sections.length === 0) return keys.map((entity) => ({ view: "", entity, freshAsOf: null, maxStaleness: DEFAULT_MAX_STALENESS_SECONDS }));
    const out: EntityFreshness[] = [];
    for (const f of sections) {
      const view = String(f.view);
      const times = Array.isArray(f.fresh_as_of) ? f.fresh_as_of : [];
      const seqs = Array.isArray(f.checkpoint_seq) ? f.checkpoint_seq : [];
      keys.forEach((entity, i) => {
        if (refused.has(`${view}\u0000${entity}`)) return;
        const seq = seqs[i];
        out.push({ view, entity, freshAsOf: timeMs(times[i]), ...(typeof seq === "number" ? { checkpointSeq: seq } : {}), maxStaleness: boundOf(f.max_staleness) });
      });
    }
    return out;
  }
  if (typeof value.view !== "string") return undefined;
  const bound = boundOf(value.max_staleness);
  if (Array.isArray(value.results)) {
    // A push answer's rows have `result`, a read's `found`.
    if (!value.results.every((r) => isMap(r) && typeof r.found === "boolean")) return undefined;
    return value.results.map((r) => claimOf(value.view as string, r, bound)).filter((c): c is EntityFreshness => c !== null);
  }
  if (typeof value.found !== "boolean") return undefined;
  const one = claimOf(value.view, value, bound);
  return one ? [one] : [];
}

/** Throws stale_answer unless every claim is proven and within its bound; returns the oldest fresh_as_of (ms). */
function checkFreshness(claims: readonly EntityFreshness[], nowSeconds: number, override: number | undefined): number | undefined {
  let oldest: number | undefined;
  for (const c of claims) {
    if (c.freshAsOf === null)
      throw new VerificationError("stale_answer", `entity ${JSON.stringify(c.entity)} of view ${c.view} has fresh_as_of null: the signer holds no checkpoint proof that it is the newest version (the host withheld one, or the view has no sequencer)`);
    const bound = override ?? c.maxStaleness;
    const age = nowSeconds - c.freshAsOf / 1000;
    if (age > bound)
      throw new VerificationError("stale_answer", `entity ${JSON.stringify(c.entity)} of view ${c.view} is proven fresh only as of ${new Date(c.freshAsOf).toISOString()} (${Math.round(age)} s ago, bound ${bound} s)`);
    if (oldest === undefined || c.freshAsOf < oldest) oldest = c.freshAsOf;
  }
  return oldest;
}

const thumbprintCache = new WeakMap<object, { keyid: string; keyObject: KeyObject }>();

function validityOf(key: PinnedKey): { nbf: number; exp: number } | undefined {
  const jwk = ("jwk" in key ? key.jwk : key) as { nbf?: unknown; exp?: unknown };
  if (jwk.nbf === undefined && jwk.exp === undefined) return undefined;
  return { nbf: typeof jwk.nbf === "number" ? jwk.nbf : Number.NEGATIVE_INFINITY, exp: typeof jwk.exp === "number" ? jwk.exp : Number.POSITIVE_INFINITY };
}

function resolveKey(key: PinnedKey): { keyid: string; keyObject: KeyObject } {
  const cached = thumbprintCache.get(key);
  if (cached) return cached;
  const jwk = "jwk" in key ? key.jwk : key;
  const keyObject = "keyObject" in key ? key.keyObject : publicKeyFromJwk(jwk);
  const resolved = { keyid: jwkThumbprint(jwk), keyObject };
  thumbprintCache.set(key, resolved);
  return resolved;
}

function byteSequence(header: string, label: string): Buffer {
  let dict: ReturnType<typeof parseDictionary>;
  try {
    dict = parseDictionary(header);
  } catch {
    throw new VerificationError("malformed_signature_input", "Signature header is not a structured dictionary");
  }
  const member = dict.get(label);
  if (!member || isInnerList(member) || !(member[0] instanceof ArrayBuffer)) {
    throw new VerificationError("unknown_label", `Signature has no byte sequence labelled ${label}`);
  }
  return Buffer.from(member[0]);
}

export function verifyResponse(response: ReceivedResponse, request: SentRequest, options: VerifyOptions): VerifiedResponse {
  const signatureInput = response.headers["signature-input"];
  const signatureHeader = response.headers["signature"];
  const digestHeader = response.headers["content-digest"];
  const contentType = response.headers["content-type"];
  if (!signatureInput || !signatureHeader || !digestHeader || !contentType) {
    throw new VerificationError("missing_header", "Signature-Input, Signature, Content-Digest and Content-Type are required");
  }
  let inputs: ReturnType<typeof parseDictionary>;
  try {
    inputs = parseDictionary(signatureInput);
  } catch {
    throw new VerificationError("malformed_signature_input", "Signature-Input is not a structured dictionary");
  }
  const label = options.label ?? inputs.keys().next().value;
  const member = label === undefined ? undefined : inputs.get(label);
  if (label === undefined || !member) throw new VerificationError("unknown_label", `no signature labelled ${options.label ?? "(any)"}`);
  if (!isInnerList(member)) throw new VerificationError("malformed_signature_input", "signature input must be an inner list");

  const hasBody = requestHasBody(request);
  if (hasBody && request.body === undefined) {
    throw new VerificationError("missing_request_body", `a ${request.method.toUpperCase()} answer is bound to the request body: pass the body as sent`);
  }
  const [items, params] = member;
  const covered = items.map(([name, p]) => `${String(name)}${p.get("req") === true ? ";req" : ""}`).join(" ");
  const expected = hasBody ? EXPECTED_COMPONENTS.withBody : EXPECTED_COMPONENTS.withoutBody;
  if (covered !== expected) {
    const why = hasBody && covered === EXPECTED_COMPONENTS.withoutBody ? " (an envelope v1 answer: it does not cover the request body)" : "";
    throw new VerificationError("wrong_components", `covered components ${covered} != ${expected}${why}`);
  }
  const created = params.get("created");
  const expires = params.get("expires");
  const keyid = params.get("keyid");
  const alg = params.get("alg");
  const tag = params.get("tag");
  const nonce = params.get("nonce");
  if (typeof created !== "number" || typeof expires !== "number" || typeof keyid !== "string") {
    throw new VerificationError("malformed_signature_input", "created, expires and keyid are required");
  }
  if (alg !== SIGNATURE_ALG || tag !== SIGNATURE_TAG) throw new VerificationError("wrong_alg", `alg must be ${SIGNATURE_ALG}, tag ${SIGNATURE_TAG}`);

  // No key, no verification: there is deliberately no fallback that asks the lane for one.
  const pinned = (options?.key === undefined || options.key === null ? [] : Array.isArray(options.key) ? options.key : [options.key]) as readonly PinnedKey[];
  if (pinned.length === 0) throw new VerificationError("wrong_keyid", "no pinned key to verify against");
  const resolved = pinned.map(resolveKey);
  const index = resolved.findIndex((k) => k.keyid === keyid);
  const key = resolved[index];
  if (!key) throw new VerificationError("wrong_keyid", `signed by ${keyid}, expected ${resolved.map((k) => k.keyid).join(" or ")}`);
  // A pinned key with a validity window (a lane key's JWK: nbf/exp in seconds) only vouches for
  // answers created inside it: a retired lane key stops verifying when its window ends.
  const window = validityOf(pinned[index]!);
  if (window && (created < window.nbf || created > window.exp)) {
    throw new VerificationError("key_not_valid", `key ${keyid} is valid from ${window.nbf} to ${window.exp}; the answer was created at ${created}`);
  }
  if (contentDigest(response.body) !== digestHeader) throw new VerificationError("digest_mismatch", "Content-Digest does not match the body");

  const base = signatureBase(
    {
      status: response.status,
      contentType,
      contentDigest: digestHeader,
      method: request.method,
      path: request.path,
      query: request.query,
      // Our own digest of what we sent, never a header the answer brought along.
      requestContentDigest: hasBody ? contentDigest(request.body!) : undefined,
    },
    serializeInnerList(member),
  );
  const signature = byteSequence(signatureHeader, label);
  if (!verifySignature(null, Buffer.from(base, "utf8"), key.keyObject, signature)) {
    throw new VerificationError("bad_signature", "signature does not verify over the response and request");
  }

  const now = options.now ?? Math.floor(Date.now() / 1000);
  const skew = options.skewSeconds ?? 5;
  if (created > now + skew) throw new VerificationError("not_yet_valid", `created ${created} is in the future`);
  if (expires < now - skew) throw new VerificationError("expired", `signature expired at ${expires}`);
  if (options.nonce !== undefined && nonce !== options.nonce) throw new VerificationError("nonce_mismatch", "signature does not carry the nonce we sent");

  let verified: Omit<VerifiedResponse, "registry"> = { label, keyid, created, expires, nonce: typeof nonce === "string" ? nonce : undefined };
  // P8, on by default: a read answer whose entities are not proven fresh within the bound fails.
  const override = options.maxStaleness;
  if (override !== undefined && (typeof override !== "number" || Number.isNaN(override) || override < 0)) throw new TypeError("maxStaleness must be a number of seconds ≥ 0 (Infinity: off)");
  if (override !== Number.POSITIVE_INFINITY) {
    const claims = answerFreshness(response.body, contentType);
    if (claims !== undefined) {
      const oldest = checkFreshness(claims, now, override);
      if (oldest !== undefined) verified = { ...verified, oldestFreshAsOf: oldest };
    }
  }
  const expect = options.expectRegistry;
  if (expect) {
    const registry = answerRegistry(response.body, contentType);
    if (!registry) throw new VerificationError("registry_mismatch", "the answer names no registry");
    if (expect.version !== undefined && registry.version !== expect.version)
      throw new VerificationError("registry_mismatch", `answer built with registry version ${registry.version}, expected ${expect.version}`);
    if (expect.minVersion !== undefined && registry.version < expect.minVersion)
      throw new VerificationError("registry_mismatch", `answer built with registry version ${registry.version}, older than ${expect.minVersion}`);
    if (expect.digest !== undefined && registry.digest !== expect.digest)
      throw new VerificationError("registry_mismatch", `answer built with registry ${registry.digest}, expected ${expect.digest}`);
    return { ...verified, registry };
  }
  // Parsed only when asked for: the runtime's sampled self-check never pays for it.
  let cached: AnswerRegistry | undefined | null = null;
  return Object.defineProperty(verified, "registry", {
    enumerable: false,
    get: () => (cached === null ? (cached = answerRegistry(response.body, contentType)) : cached),
  }) as VerifiedResponse;
}

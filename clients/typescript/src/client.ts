/**
 * The Express Lane client: verified feature reads.
 *
 * Every answer is verified before anything in it is returned (docs/envelope.md, envelope v2): the
 * signature over status, content type and digest, our method, path and query and, for batch reads,
 * the digest of the exact body bytes we sent; the keyid against the trust anchor; a fresh nonce per
 * request (per attempt: a retry asks for a new one); created/expires. The verification is the
 * repository's own verifier (verifier/response.ts), so the CLI, the SDK and the conformance
 * vectors agree by construction.
 *
 * Runtime errors (4xx from request checks, 401/403, 429, 503/504) are unsigned and carry no data:
 * they become ExpressLaneError with the server's {error:{code,message}}; 503 and 429 are retried
 * with backoff, honouring Retry-After.
 */
import { randomBytes } from "node:crypto";
import { Unpackr } from "msgpackr";
import { AttestationError, verifyAttestation, type VerifiedAttestation } from "../../../verifier/attestation";
import { VerificationError, verifyResponse, type VerifiedResponse } from "../../../verifier/response";
import { ed25519Jwk, jwkThumbprint, type Ed25519Jwk } from "../../../wire/keys";
import { MAX_BATCH_ENTITIES } from "../../../wire/names";
import { KEYID_PATTERN as KEYID, type TrustAnchor } from "./trust";

export type Format = "json" | "msgpack";
export type FeatureStatus = "PRESENT" | "NULL_VALUE" | "NOT_FOUND";
export type FeatureValue = string | number | boolean | null | Date | readonly number[];

/** Why a call failed. `code` is stable; branch on it, not on the message. */
export type ClientErrorCode = "no_trust_anchor" | "verification_failed" | "attestation_failed" | "unexpected_answer" | "timeout" | "network" | "server_error" | "bad_argument";

export class ExpressLaneError extends Error {
  constructor(
    readonly code: ClientErrorCode,
    message: string,
    readonly details: {
      /** HTTP status of the answer, when there was one. */
      readonly status?: number;
      /** The server's error code ({error:{code}}) or the verifier's / attestation's code. */
      readonly reason?: string;
      readonly cause?: unknown;
    } = {},
  ) {
    super(message);
    this.name = "ExpressLaneError";
  }
}

/** Proof attached to every result: which key signed it, when, for which nonce. */
export interface Verification {
  readonly keyid: string;
  /** Signer's clock at signing (seconds since epoch): the read time. */
  readonly created: number;
  readonly expires: number;
  readonly nonce: string;
  /**
   * The registry the signer built the answer with (signed body fields registry_version and
   * registry_digest; docs/views.md). Exposed, not enforced: compare with GET /v1/views or pin one.
   */
  readonly registry?: { readonly version: number; readonly digest: string };
}

/** One entity's answer. `found: false` with `error` for a missing entity (not_found) or a refused object. */
export interface FeatureRow {
  readonly view: string;
  readonly entity: string;
  readonly found: boolean;
  readonly eventTime?: Date;
  readonly writtenTime?: Date;
  /** The writer whose key sealed the stored object (named by the enclave, not the host). */
  readonly writtenBy?: string;
  /** P8: no newer version of this entity existed at this time (signed; the view's sequencer vouched). Undefined = unproven. */
  readonly freshAsOf?: Date;
  /** The checkpoint freshAsOf comes from. */
  readonly checkpointSeq?: number;
  readonly features: Readonly<Record<string, FeatureValue>>;
  readonly status: Readonly<Record<string, FeatureStatus>>;
  readonly error?: { readonly code: string; readonly message: string };
  readonly verification: Verification;
}

export interface RetryOptions {
  /** Attempts in all, first included. @default 4 */
  readonly attempts?: number;
  /** First backoff; doubles per attempt, full jitter. @default 50 */
  readonly baseDelayMs?: number;
  /** Backoff cap. @default 2000 */
  readonly maxDelayMs?: number;
  /** A Retry-After longer than this fails the call instead of sleeping. @default 30000 */
  readonly maxRetryAfterMs?: number;
}

export interface ClientOptions {
  /** Base URL of the lane, e.g. https://lane.example:8080 */
  readonly url: string;
  /** Required unless `trustOnFirstUse` (development). See ./trust.ts. */
  readonly trust?: TrustAnchor;
  /** Development only: take the key from /v1/signer unchecked. Must be said explicitly. */
  readonly trustOnFirstUse?: boolean;
  /** Sent as `x-api-key`. */
  readonly apiKey?: string;
  /** Answer format. @default "json" */
  readonly format?: Format;
  /** Per attempt. @default 5000 */
  readonly timeoutMs?: number;
  readonly retry?: RetryOptions;
  /** Batch chunks in flight at once (getMany). @default 8 */
  readonly concurrency?: number;
  /** Entities per batch request; never above the server's limit (100). @default 100 */
  readonly batchSize?: number;
  /** Clock skew allowed for created/expires, seconds. @default 5 */
  readonly skewSeconds?: number;
  /**
   * Freshness (docs/trust.md P8): reject an answer with any entity whose signed `fresh_as_of` is
   * null or more than this many seconds old (`stale_answer`). Default: the bound the answer
   * carries for its view (`max_staleness`, 60 s unless the registry says otherwise). `Infinity`
   * turns the check off — an explicit, loud opt-out (a warning is printed once per client).
   */
  readonly maxStaleness?: number;
  /** Injected for tests and custom transports. @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** Injected clock for tests (ms). @default Date.now */
  readonly now?: () => number;
}

export interface ReadOptions {
  /** Project these features; default all of the view's. */
  readonly features?: readonly string[];
  /** Per call: replaces ClientOptions.maxStaleness (seconds; Infinity = off). */
  readonly maxStaleness?: number;
  readonly signal?: AbortSignal;
}

/** What `attest()` established. */
export interface AttestedKey {
  /** The enclave's own key (the document's public_key). */
  readonly keyid: string;
  readonly jwk: Ed25519Jwk;
  /**
   * Lane signing keys the attested enclave says it signs with (its document's user_data,
   * wire/lane-key.ts), trusted too: KMS releases them only to attested enclaves of the image.
   */
  readonly laneKeyids: readonly string[];
  readonly moduleId: string;
  readonly pcrs: ReadonlyMap<number, Buffer>;
  readonly debug: boolean;
}

interface RawAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });
const ACCEPT: Record<Format, string> = { json: "application/json", msgpack: "application/msgpack" };
/** What we ask the signer to cover; it always signs its fixed superset (docs/envelope.md). */
const ACCEPT_SIGNATURE_COMPONENTS = '("@status" "content-type" "content-digest" "@method";req "@path";req "@query";req)';
/** Statuses the signer signs (a read answer or a per-entity refusal); anything else is a runtime error. */
const SIGNED_READ_STATUSES = new Set([200, 404, 502]);
const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => (clearTimeout(t), reject(signal.reason)), { once: true });
  });

/** Retry-After: delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function retryAfterMs(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

export class ExpressLaneClient {
  private readonly base: URL;
  private readonly fetchImpl: typeof fetch;
  private readonly now: () => number;
  private readonly format: Format;
  private readonly timeoutMs: number;
  private readonly retry: Required<RetryOptions>;
  private readonly concurrency: number;
  private readonly batchSize: number;
  private readonly skewSeconds: number;
  private warnedNoFreshness = false;
  /** Keys answers may be signed by, by keyid: from the anchor's JWKs, resolved keyids, attestation. */
  private readonly trusted = new Map<string, Ed25519Jwk>();
  /** One key refresh (attestation, keyid or TOFU lookup) at a time; concurrent callers share it. */
  private refreshing: Promise<void> | null = null;

  constructor(private readonly options: ClientOptions) {
    if (!options.trust && options.trustOnFirstUse !== true) {
      throw new ExpressLaneError(
        "no_trust_anchor",
        "no trust anchor: pass trust: pinnedKeys(...) or attested({root, measurements}); a key the lane hands out proves nothing (development only: trustOnFirstUse: true)",
      );
    }
    if (options.trust && options.trustOnFirstUse === true) throw new ExpressLaneError("bad_argument", "choose one trust anchor: trust or trustOnFirstUse, not both");
    this.base = new URL(options.url);
    this.fetchImpl = options.fetch ?? globalThis.fetch;
    this.now = options.now ?? Date.now;
    this.format = options.format ?? "json";
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.retry = { attempts: 4, baseDelayMs: 50, maxDelayMs: 2000, maxRetryAfterMs: 30_000, ...options.retry };
    this.concurrency = Math.max(1, options.concurrency ?? 8);
    this.batchSize = Math.min(MAX_BATCH_ENTITIES, Math.max(1, options.batchSize ?? MAX_BATCH_ENTITIES));
    this.skewSeconds = options.skewSeconds ?? 5;
    if (options.trust?.kind === "pinned-keys") for (const jwk of options.trust.jwks) this.trusted.set(jwkThumbprint(jwk), jwk);
  }

  /** The keyids answers are accepted from right now. */
  get trustedKeyids(): string[] {
    return [...this.trusted.keys()];
  }

  /**
   * Establish the trust anchor now (otherwise the first read does): with an attestation anchor,
   * fetch /v1/attestation with a fresh nonce and verify it (root, chain, PCR allowlist, nonce,
   * age) and trust the key inside; with pinned keyids, fetch /v1/signer and accept the key only if
   * its thumbprint is pinned. Returns the attested key (attestation anchors).
   */
  async attest(signal?: AbortSignal): Promise<AttestedKey | undefined> {
    const trust = this.options.trust;
    if (trust?.kind === "attestation") return this.attestNow(trust, signal);
    await this.refreshKeys(signal);
    return undefined;
  }

  /** One entity. A missing entity is `found: false` (a signed 404), not an exception. */
  async get(view: string, entity: string, options: ReadOptions = {}): Promise<FeatureRow> {
    checkName(view, "view");
    checkName(entity, "entity");
    const features = options.features;
    const path = `/v1/features/${encodeURIComponent(view)}/${encodeURIComponent(entity)}`;
    const query = features && features.length > 0 ? `?features=${features.map(encodeURIComponent).join(",")}` : "";
    const { body, verification } = await this.verifiedRequest("GET", path, query, undefined, options.signal, options.maxStaleness);
    const row = toRow(view, body, verification);
    if (row.view !== view || row.entity !== entity) throw new ExpressLaneError("unexpected_answer", "signed answer names another view or entity");
    return row;
  }

  /**
   * Many entities of one view, in input order: chunks of at most the server's batch limit (100)
   * as parallel batch requests (`concurrency` at a time), each verified against its own body.
   */
  async getMany(view: string, entities: readonly string[], options: ReadOptions = {}): Promise<FeatureRow[]> {
    checkName(view, "view");
    entities.forEach((e) => checkName(e, "entity"));
    const chunks: string[][] = [];
    for (let i = 0; i < entities.length; i += this.batchSize) chunks.push(entities.slice(i, i + this.batchSize));
    const results: FeatureRow[][] = new Array(chunks.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < chunks.length) {
        const i = next++;
        results[i] = await this.batch(view, chunks[i]!, options);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, chunks.length) }, worker));
    return results.flat();
  }

  private async batch(view: string, entities: readonly string[], options: ReadOptions): Promise<FeatureRow[]> {
    const sent = Buffer.from(JSON.stringify(options.features && options.features.length > 0 ? { entities, features: options.features } : { entities }), "utf8");
    const path = `/v1/features/${encodeURIComponent(view)}/batch`;
    const { body, verification } = await this.verifiedRequest("POST", path, "", sent, options.signal, options.maxStaleness);
    const b = body as { view?: unknown; results?: unknown };
    if (b.view !== view || !Array.isArray(b.results) || b.results.length !== entities.length) {
      throw new ExpressLaneError("unexpected_answer", "signed batch answer does not answer every entity of the request");
    }
    return b.results.map((r: unknown, i: number) => {
      const row = toRow(view, { view, ...(r as object) }, verification);
      if (row.entity !== entities[i]) throw new ExpressLaneError("unexpected_answer", `signed batch answer row ${i} is for another entity`);
      return row;
    });
  }

  /** Send, retry 503/429/network/timeouts with backoff, verify; returns the decoded body. */
  private async verifiedRequest(
    method: "GET" | "POST",
    path: string,
    query: string,
    body: Buffer | undefined,
    signal?: AbortSignal,
    maxStaleness: number | undefined = this.options.maxStaleness,
  ): Promise<{ body: unknown; verification: Verification }> {
    if (maxStaleness === Number.POSITIVE_INFINITY && !this.warnedNoFreshness) {
      this.warnedNoFreshness = true;
      process.emitWarning("express-lane: freshness check is OFF (maxStaleness: Infinity): answers may be rolled back to an old version without notice", { code: "EXPRESS_LANE_NO_FRESHNESS" });
    }
    await this.ensureKeys(signal);
    let lastError: ExpressLaneError | undefined;
    for (let attempt = 1; attempt <= this.retry.attempts; attempt++) {
      const nonce = randomBytes(18).toString("base64url");
      let answer: RawAnswer;
      try {
        answer = await this.send(method, path + query, nonce, body, signal);
      } catch (err) {
        if (signal?.aborted) throw err;
        lastError = err as ExpressLaneError;
        await this.backoff(attempt, undefined, signal);
        continue;
      }
      // Unsigned answers are runtime errors and carry no data (docs/envelope.md); a signed one of
      // any status is verified before its body is believed (200, signed 404 not_found, 502 refusals).
      if (answer.headers.signature === undefined || !SIGNED_READ_STATUSES.has(answer.status)) {
        const { code, message } = errorOf(answer);
        lastError = new ExpressLaneError("server_error", `${answer.status} ${code}: ${message}`, { status: answer.status, reason: code });
        if ((answer.status === 503 || answer.status === 429) && attempt < this.retry.attempts) {
          const after = retryAfterMs(answer.headers["retry-after"], this.now());
          if (after !== undefined && after > this.retry.maxRetryAfterMs) throw lastError;
          await this.backoff(attempt, after, signal);
          continue;
        }
        throw lastError;
      }
      const verified = await this.verify(answer, { method, path, query, body }, nonce, signal, maxStaleness);
      const decoded = decode(answer);
      const named = decoded as { registry_version?: unknown; registry_digest?: unknown } | null;
      const registry =
        typeof named === "object" && named !== null && typeof named.registry_version === "number" && typeof named.registry_digest === "string"
          ? { version: named.registry_version, digest: named.registry_digest }
          : undefined;
      return { body: decoded, verification: { keyid: verified.keyid, created: verified.created, expires: verified.expires, nonce, ...(registry ? { registry } : {}) } };
    }
    throw lastError ?? new ExpressLaneError("network", "no attempt was made");
  }

  private async backoff(attempt: number, retryAfter: number | undefined, signal?: AbortSignal): Promise<void> {
    if (attempt >= this.retry.attempts) return;
    const exp = Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** (attempt - 1));
    // Full jitter, but never earlier than the server asked.
    await sleep(Math.max(retryAfter ?? 0, Math.random() * exp), signal);
  }

  private async verify(
    answer: RawAnswer,
    request: { method: string; path: string; query: string; body?: Buffer },
    nonce: string,
    signal?: AbortSignal,
    maxStaleness?: number,
  ): Promise<VerifiedResponse> {
    const attemptVerify = () =>
      verifyResponse(answer, request, {
        key: [...this.trusted.values()],
        nonce,
        now: Math.floor(this.now() / 1000),
        skewSeconds: this.skewSeconds,
        ...(maxStaleness !== undefined ? { maxStaleness } : {}),
      });
    try {
      return attemptVerify();
    } catch (err) {
      if (!(err instanceof VerificationError)) throw err;
      // A key we do not know yet: the signer restarted (new key) or another enclave of the lane
      // answered. Only anchors that can learn keys safely re-resolve: attestation (a fresh
      // document), keyids (the thumbprint must match), TOFU (development). A plain JWK set cannot.
      if (err.code === "wrong_keyid" && this.canLearnKeys()) {
        await this.refreshKeys(signal);
        try {
          return attemptVerify();
        } catch (again) {
          if (again instanceof VerificationError) throw verificationFailed(again, answer.status);
          throw again;
        }
      }
      throw verificationFailed(err, answer.status);
    }
  }

  private canLearnKeys(): boolean {
    const t = this.options.trust;
    return this.options.trustOnFirstUse === true || t?.kind === "attestation" || (t?.kind === "pinned-keys" && t.keyids.length > 0);
  }

  private async ensureKeys(signal?: AbortSignal): Promise<void> {
    if (this.trusted.size === 0) await this.refreshKeys(signal);
  }

  private refreshKeys(signal?: AbortSignal): Promise<void> {
    this.refreshing ??= this.resolveKeys(signal).finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  private async resolveKeys(signal?: AbortSignal): Promise<void> {
    const trust = this.options.trust;
    if (!trust) {
      // trustOnFirstUse (development): whatever /v1/signer says.
      const jwk = await this.signerKey(signal);
      this.trusted.set(jwkThumbprint(jwk), jwk);
      return;
    }
    switch (trust.kind) {
      case "attestation":
        await this.attestNow(trust, signal);
        return;
      case "pinned-keys": {
        if (trust.keyids.length === 0) return;
        // A pinned keyid is the SHA-256 of the key: the lane may hand us the key, not choose it.
        const jwk = await this.signerKey(signal);
        const keyid = jwkThumbprint(jwk);
        if (trust.keyids.includes(keyid)) this.trusted.set(keyid, jwk);
        else if (this.trusted.size === 0) {
          throw new ExpressLaneError("verification_failed", `the lane's signer key is ${keyid}, pinned: ${trust.keyids.join(", ")}`, { reason: "wrong_keyid" });
        }
        return;
      }
      default: {
        const unknownKind: never = trust;
        throw new ExpressLaneError("bad_argument", `unknown trust anchor ${JSON.stringify(unknownKind)}`);
      }
    }
  }

  private async attestNow(trust: Extract<TrustAnchor, { kind: "attestation" }>, signal?: AbortSignal): Promise<AttestedKey> {
    const nonce = randomBytes(24).toString("base64url");
    const answer = await this.send("GET", `/v1/attestation?nonce=${nonce}`, undefined, undefined, signal, false);
    if (answer.status !== 200) {
      const { code, message } = errorOf(answer);
      throw new ExpressLaneError("attestation_failed", `attestation: ${answer.status} ${code}: ${message}`, { status: answer.status, reason: code });
    }
    let verified: VerifiedAttestation;
    try {
      const document = Buffer.from(String((JSON.parse(answer.body.toString("utf8")) as { document?: unknown }).document ?? ""), "base64");
      verified = verifyAttestation(document, {
        root: trust.root,
        measurements: trust.measurements,
        // The runtime hands the nonce text to the NSM as UTF-8 bytes.
        nonce: Buffer.from(nonce, "utf8"),
        maxAgeMs: trust.maxAgeMs,
        allowDebug: trust.allowDebug,
        now: new Date(this.now()),
      });
    } catch (err) {
      const reason = err instanceof AttestationError ? err.code : "MALFORMED";
      throw new ExpressLaneError("attestation_failed", `attestation document refused: ${(err as Error).message}`, { reason, cause: err });
    }
    if (verified.publicKey === null || verified.publicKey.length !== 32) {
      throw new ExpressLaneError("attestation_failed", "the attestation document carries no Ed25519 signing key", { reason: "PUBLIC_KEY_MISMATCH" });
    }
    const jwk = ed25519Jwk(verified.publicKey);
    const keyid = jwkThumbprint(jwk);
    this.trusted.set(keyid, jwk);
    // The enclave names the lane keys it signs with in user_data (enclave-authored, under the
    // document's signature); their public halves come from /v1/signer and are accepted only if
    // their thumbprints are the keyids the document names.
    const named = laneKeyidsOf(verified.userData);
    const laneKeyids: string[] = [];
    if (named.length > 0) {
      const info = await this.signerInfo(signal);
      for (const offered of info.lane_keys ?? []) {
        const lane = asJwk(offered?.jwk);
        if (lane && named.includes(jwkThumbprint(lane))) {
          this.trusted.set(jwkThumbprint(lane), lane);
          laneKeyids.push(jwkThumbprint(lane));
        }
      }
    }
    return { keyid, jwk, laneKeyids, moduleId: verified.moduleId, pcrs: verified.pcrs, debug: verified.debug };
  }

  private async signerInfo(signal?: AbortSignal): Promise<{ jwk?: unknown; lane_keys?: Array<{ jwk?: unknown }> }> {
    const answer = await this.send("GET", "/v1/signer", undefined, undefined, signal, false);
    try {
      if (answer.status === 200) return JSON.parse(answer.body.toString("utf8")) as { jwk?: unknown; lane_keys?: Array<{ jwk?: unknown }> };
    } catch {
      /* fall through */
    }
    throw new ExpressLaneError("server_error", `GET /v1/signer answered ${answer.status} without a key`, { status: answer.status });
  }

  private async signerKey(signal?: AbortSignal): Promise<Ed25519Jwk> {
    const info = await this.signerInfo(signal);
    const jwk = asJwk(info.jwk);
    if (!jwk) throw new ExpressLaneError("server_error", "GET /v1/signer answered without an Ed25519 key");
    return jwk;
  }

  private async send(method: string, target: string, nonce: string | undefined, body: Buffer | undefined, signal?: AbortSignal, negotiate = true): Promise<RawAnswer> {
    const headers: Record<string, string> = {};
    if (negotiate) headers.accept = ACCEPT[this.format];
    if (nonce !== undefined) headers["accept-signature"] = `sig1=${ACCEPT_SIGNATURE_COMPONENTS};nonce="${nonce}"`;
    if (body !== undefined) headers["content-type"] = "application/json";
    if (this.options.apiKey !== undefined) headers["x-api-key"] = this.options.apiKey;
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    try {
      const res = await this.fetchImpl(new URL(target, this.base), { method, headers, body, signal: combined });
      const out: Record<string, string> = {};
      res.headers.forEach((v, k) => (out[k.toLowerCase()] = v));
      return { status: res.status, headers: out, body: Buffer.from(await res.arrayBuffer()) };
    } catch (err) {
      if (signal?.aborted) throw err;
      if (timeout.aborted) throw new ExpressLaneError("timeout", `${method} ${target} timed out after ${this.timeoutMs} ms`, { cause: err });
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new ExpressLaneError("network", `${method} ${this.base.origin}${target}: ${cause?.code ?? cause?.message ?? (err as Error).message}`, { cause: err });
    }
  }
}

function asJwk(value: unknown): Ed25519Jwk | undefined {
  const v = value as Partial<Ed25519Jwk> | null | undefined;
  if (!v || v.kty !== "OKP" || v.crv !== "Ed25519" || typeof v.x !== "string" || Buffer.from(v.x, "base64url").length !== 32) return undefined;
  return { kty: "OKP", crv: "Ed25519", x: v.x };
}

/** `{"lane_keys": [keyid, …]}` in an attestation document's user_data (enclave/signer.ts attest). */
function laneKeyidsOf(userData: Buffer | null): string[] {
  if (!userData) return [];
  try {
    const parsed = JSON.parse(userData.toString("utf8")) as { lane_keys?: unknown };
    return Array.isArray(parsed.lane_keys) ? parsed.lane_keys.filter((k): k is string => typeof k === "string" && KEYID.test(k)) : [];
  } catch {
    return [];
  }
}

function verificationFailed(err: VerificationError, status: number): ExpressLaneError {
  return new ExpressLaneError("verification_failed", `answer (${status}) failed verification: ${err.code}: ${err.message}`, { status, reason: err.code, cause: err });
}

function checkName(value: unknown, what: string): void {
  if (typeof value !== "string" || value.length === 0) throw new ExpressLaneError("bad_argument", `${what} must be a non-empty string`);
}

function decode(answer: RawAnswer): unknown {
  try {
    return answer.headers["content-type"] === "application/msgpack" ? unpackr.unpack(answer.body) : JSON.parse(answer.body.toString("utf8"));
  } catch (err) {
    throw new ExpressLaneError("unexpected_answer", "signed answer body does not decode", { status: answer.status, cause: err });
  }
}

/** The {error:{code,message}} of an unsigned runtime error, or a stand-in when it has none. */
function errorOf(answer: RawAnswer): { code: string; message: string } {
  try {
    const e = (JSON.parse(answer.body.toString("utf8")) as { error?: { code?: unknown; message?: unknown } }).error;
    if (e && typeof e.code === "string") return { code: e.code, message: String(e.message ?? "") };
  } catch {
    /* not JSON: fall through */
  }
  return {
    code: `http_${answer.status}`,
    message: answer.body
      .toString("utf8")
      .slice(0, 200)
      .replace(/[^\x20-\x7e]/g, "?"),
  };
}

const asDate = (v: unknown): Date | undefined => (v instanceof Date ? v : typeof v === "string" ? new Date(v) : undefined);

function toRow(view: string, raw: unknown, verification: Verification): FeatureRow {
  const r = raw as {
    view?: string;
    entity?: unknown;
    found?: unknown;
    event_time?: unknown;
    written_time?: unknown;
    written_by?: unknown;
    fresh_as_of?: unknown;
    checkpoint_seq?: unknown;
    features?: Record<string, FeatureValue>;
    status?: Record<string, FeatureStatus>;
    error?: { code: string; message: string };
  };
  if (typeof r !== "object" || r === null || typeof r.entity !== "string" || typeof r.found !== "boolean") {
    throw new ExpressLaneError("unexpected_answer", "signed answer is not a feature read");
  }
  return {
    view: r.view ?? view,
    entity: r.entity,
    found: r.found,
    eventTime: asDate(r.event_time),
    writtenTime: asDate(r.written_time),
    writtenBy: typeof r.written_by === "string" ? r.written_by : undefined,
    freshAsOf: asDate(r.fresh_as_of),
    checkpointSeq: typeof r.checkpoint_seq === "number" ? r.checkpoint_seq : undefined,
    features: r.features ?? {},
    status: r.status ?? {},
    error: r.error,
    verification,
  };
}

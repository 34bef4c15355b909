/**
 * The one error catalog: every code the lane answers with, its HTTP status and its message.
 *
 * It lives in wire/ because both ends use it: the runtime (HTTP errors it makes itself), the
 * signer (error replies over the frame protocol, whose `status` field it fills from here, and the
 * fixed refusal texts that go into signed answers, P5), and the docs (docs/operations.md's error
 * table and docs/openapi.yaml's `ErrorCode` / `EntityErrorCode` are checked against this list, both
 * ways, by test/wire/errors.test.ts). A status is set nowhere else.
 *
 * `message` is the text a client sees when the thrower gives no details; a thrower's details
 * replace it (they say what was wrong with this request, never a secret or stored bytes).
 * `entity` marks a per-entity refusal inside a signed read answer: its text is fixed (the host
 * cannot choose it) and a single read refused so answers 502, whatever `status` says about the
 * same code failing a whole request.
 */

export type ErrorSource = "listener" | "server" | "gate" | "wire" | "registry" | "signer" | "sequencer";

export interface ErrorSpec {
  readonly status: number;
  readonly message: string;
  /** Who answers with it (docs/operations.md's "from" column). */
  readonly from: ErrorSource;
  /** Seconds a client is told to wait before retrying (Retry-After), where retrying helps. */
  readonly retryAfter?: number;
  /** The fixed text of this code as a per-entity refusal in a signed answer. */
  readonly entity?: string;
}

export const ERROR_CATALOG = {
  // The HTTP parser refused the request (runtime/http1.ts, or Node's: runtime/listener.ts).
  bad_request: { status: 400, from: "listener", message: "malformed HTTP request" },
  request_timeout: { status: 408, from: "listener", message: "the request did not arrive in time" },
  // RFC 9112 §6.3: a body without a Content-Length; the lane's server takes no Transfer-Encoding (no chunked bodies).
  length_required: { status: 411, from: "listener", message: "a request body needs a Content-Length (Transfer-Encoding is not accepted)" },
  headers_too_large: { status: 431, from: "listener", message: "request headers over the size limit" },

  // The route table and the request grammars (runtime/routes.ts, wire/request.ts, wire/write.ts, wire/feast.ts, wire/query.ts).
  not_found_route: { status: 404, from: "server", message: "no such route" },
  method_not_allowed: { status: 405, from: "server", message: "method not allowed on this route (see the Allow header)" },
  bad_view: { status: 400, from: "wire", message: "view name does not match its grammar" },
  bad_entity: { status: 400, from: "wire", message: "entity id does not match its grammar" },
  bad_feature: { status: 400, from: "wire", message: "feature name does not match its grammar" },
  bad_query: { status: 400, from: "wire", message: "malformed query string" },
  bad_accept_signature: { status: 400, from: "wire", message: "Accept-Signature is not a valid structured dictionary" },
  bad_body: { status: 400, from: "wire", message: "request body is malformed" },
  unknown_view: { status: 404, from: "wire", message: "no such feature view" },
  unknown_feature: { status: 400, from: "wire", message: "the view defines no such feature" },
  not_acceptable: { status: 406, from: "wire", message: "supported media types: application/json, application/msgpack" },
  unsupported_media_type: { status: 415, from: "wire", message: "request body must be application/json" },
  batch_too_large: { status: 413, from: "wire", message: "over the batch limits" },
  body_too_large: { status: 413, from: "wire", message: "request body over the size limit" },

  // Push rows (wire/registry.ts): per row in `_push`, the status of a single push.
  missing_entity: { status: 400, from: "registry", message: "row has no entity" },
  missing_event_time: { status: 400, from: "registry", message: "row has no event_time" },
  bad_event_time: { status: 400, from: "registry", message: "event_time is not a valid time" },
  future_event_time: { status: 400, from: "registry", message: "event_time is in the future" },
  implausible_event_time: { status: 400, from: "registry", message: "event_time is before 2000 (epoch seconds sent as milliseconds?)" },
  bad_value: { status: 400, from: "registry", message: "a feature value does not match its type" },
  bad_row: { status: 400, from: "registry", message: "row is not a valid push row" },
  duplicate_entity: { status: 400, from: "wire", message: "a second row for one entity in the same push" },

  // The gate (runtime/gate.ts), before any work.
  unauthenticated: { status: 401, from: "gate", message: "an API key is required (Authorization: Bearer <key> or x-api-key)" },
  forbidden: { status: 403, from: "gate", message: "this key's role may not call this route" },
  rate_limited: { status: 429, from: "gate", message: "rate limit exceeded for this API key" },
  overloaded: { status: 503, from: "gate", message: "too many requests in flight; retry shortly", retryAfter: 1 },

  // The runtime's own failures (runtime/server.ts).
  internal: { status: 500, from: "server", message: "internal error" },
  registry_publish_unavailable: { status: 501, from: "server", message: "this runtime does not forward registry documents" },
  push_not_supported: { status: 501, from: "server", message: "this runtime's store cannot write" },
  push_unavailable: { status: 503, from: "server", message: "this runtime has no write connection to the signer", retryAfter: 1 },
  signer_unavailable: { status: 503, from: "server", message: "signer unavailable", retryAfter: 1 },
  checkpoint_unheld: { status: 503, from: "signer", message: "the signer does not hold the checkpoint the read was proven against (it restarted); retry", retryAfter: 1 },
  checkpoint_pending: { status: 503, from: "server", message: "the view's newest checkpoint is being handed to the signer (start or signer restart); retry", retryAfter: 1 },
  store_unavailable: { status: 503, from: "server", message: "store unreachable", retryAfter: 1 },
  store_bad_response: { status: 502, from: "server", message: "the store answered something unusable" },
  store_timeout: { status: 504, from: "server", message: "store request timed out" },

  // The signer's refusals of a whole request (error replies; the runtime answers with their status).
  content_digest_mismatch: { status: 400, from: "signer", message: "Content-Digest is missing or not the body's SHA-256" },
  writer_signature_missing: { status: 401, from: "signer", message: "push carries no writer signature" },
  writer_signature_malformed: { status: 401, from: "signer", message: "writer signature is malformed" },
  writer_signature_stale: { status: 401, from: "signer", message: "writer signature created outside the accepted window" },
  writer_key_unknown: { status: 401, from: "signer", message: "the key directory lists no such write key" },
  writer_signature_invalid: { status: 401, from: "signer", message: "writer signature does not verify" },
  older_than_stored: { status: 409, from: "signer", message: "older than the stored version of this entity (newer event time wins)" },
  current_object_invalid: { status: 502, from: "signer", message: "the current object sent for a merge fails its seal or identity check; nothing merged" },
  current_object_missing: { status: 502, from: "signer", message: "the current object of this entity is missing from the write frame; nothing merged" },
  write_conflict: { status: 503, from: "signer", message: "the push kept losing its conditional write; retry the push", retryAfter: 1 },
  push_replayed: { status: 409, from: "signer", message: "this writer signature was already used" },
  push_replay_cache_full: { status: 503, from: "signer", message: "too many pushes within the signature window; retry shortly" },
  bad_write_ticket: { status: 400, from: "signer", message: "write ticket was not issued by this signer, was altered or expired" },
  bad_frame: { status: 500, from: "signer", message: "malformed frame" },
  frame_not_allowed: { status: 500, from: "signer", message: "frame kind not allowed on this connection" },
  hello_refused: { status: 503, from: "signer", message: "connection refused by the signer" },
  signer_busy: { status: 503, from: "signer", message: "too many requests in flight on this connection" },
  signer_worker_failed: { status: 503, from: "signer", message: "the signing thread that held this read failed; retry", retryAfter: 1 },
  signer_error: { status: 500, from: "signer", message: "signer failure" },
  bad_provisioning: { status: 400, from: "signer", message: "malformed key provisioning" },
  kms_provisioning_disabled: { status: 409, from: "signer", message: "this signer takes no KMS-wrapped keys" },
  seal_unwrap_failed: { status: 502, from: "signer", message: "no writer key could be unwrapped" },
  bad_key_directory: { status: 400, from: "signer", message: "key directory is malformed or not signed by an admin key" },
  key_directory_rollback: { status: 400, from: "signer", message: "key directory is older than the one the signer holds" },
  bad_registry_document: { status: 400, from: "signer", message: "registry document is malformed, for another lane or not signed by an admin key" },
  registry_rollback: { status: 409, from: "signer", message: "registry document is not newer than the one the signer holds" },
  key_commitment_mismatch: { status: 400, from: "signer", message: "keys do not match the directory's commitments" },
  // Writer checkpoints the host forwards (enclave/checkpoint-state.ts; per checkpoint in a ProvideCheckpoints reply).
  checkpoint_malformed: { status: 400, from: "signer", message: "sealed checkpoint is malformed" },
  checkpoint_wrong_lane: { status: 400, from: "signer", message: "checkpoint is for another lane" },
  checkpoint_key_unknown: { status: 400, from: "signer", message: "checkpoint sealed under a key that is not a held write key" },
  checkpoint_mac_invalid: { status: 400, from: "signer", message: "checkpoint MAC does not verify" },
  checkpoint_unknown_view: { status: 400, from: "signer", message: "checkpoint for a view the held registry does not define" },
  checkpoint_not_sequencer: { status: 400, from: "signer", message: "checkpoint sealed under a write key the key directory does not name as the view's sequencer" },
  checkpoint_future: { status: 400, from: "signer", message: "checkpoint as_of is in the future" },
  checkpoint_conflict: { status: 409, from: "signer", message: "a different checkpoint with a held seq (one sequencer per view)" },
  checkpoint_rolled_back: { status: 409, from: "signer", message: "checkpoint is older than the one the signer holds for the view" },

  // The checkpoint sequencer's endpoint (sequencer/server.ts; a writer-side service, not in the runtime's OpenAPI).
  // It also answers unknown_view (a view it does not own) and not_found_route.
  bad_report: { status: 400, from: "sequencer", message: "malformed write report" },
  report_signature_invalid: { status: 401, from: "sequencer", message: "the report is not signed by a writer key this sequencer accepts" },
  report_replayed: { status: 401, from: "sequencer", message: "this report was already accepted" },
  push_answer_unverified: { status: 401, from: "sequencer", message: "the push answer does not verify against the pinned lane key" },
  push_answers_off: { status: 404, from: "sequencer", message: "this sequencer pins no lane key (--key): it takes no push answers" },
  report_too_large: { status: 413, from: "sequencer", message: "the report is over the size limit" },
  publish_failed: {
    status: 503,
    from: "sequencer",
    message: "the report is applied and journalled but its checkpoint could not be sealed or published: the next one carries it; a retry is harmless",
  },

  // Per-entity refusals in signed answers (enclave/render.ts, enclave/seal.ts, enclave/high-water.ts).
  not_found: { status: 404, from: "signer", message: "no features stored for this entity", entity: "no features stored for this entity" },
  corrupt_object: { status: 502, from: "signer", message: "stored object is not a valid sealed object", entity: "stored object is not a valid sealed object" },
  seal_missing: { status: 502, from: "signer", message: "stored object carries no seal", entity: "stored object carries no seal" },
  seal_unknown_key: {
    status: 502,
    from: "signer",
    message: "object sealed under a key this signer does not hold",
    entity: "object sealed under a key this signer does not hold (unknown, revoked or not provisioned)",
  },
  seal_invalid: { status: 502, from: "signer", message: "seal does not verify", entity: "seal does not verify: object altered or sealed with another key" },
  object_mismatch: { status: 502, from: "signer", message: "sealed object belongs to another view or entity", entity: "sealed object belongs to another view or entity" },
  rolled_back: {
    status: 502,
    from: "signer",
    message: "an older version of this entity than one this signer has already served or sealed",
    entity: "an older version of this entity than one this signer has already served or sealed",
  },
  object_withheld: {
    status: 502,
    from: "signer",
    message: "the view's checkpoint says this entity has an object, but the host sent none",
    entity: "the view's checkpoint says this entity has an object, but the host sent none",
  },
  high_water_full: {
    status: 502,
    from: "signer",
    message: "this signer tracks no more entities",
    entity: "this signer tracks no more entities (P2 bound); it refuses new ones rather than risk serving a rolled-back version",
  },
  // A whole push fails with these (503); as per-entity refusals they are the `entity` texts.
  seal_key_unavailable: { status: 503, from: "signer", message: "signer has no key directory loaded", entity: "signer has no seal keys loaded" },
  key_directory_expired: {
    status: 503,
    from: "signer",
    message: "the signer's key directory has expired",
    entity: "the signer's key directory has expired; it verifies nothing until an admin publishes a new one",
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CATALOG;
/** Codes that can be per-entity refusals in a signed answer. */
export type EntityErrorCode = { [C in ErrorCode]: (typeof ERROR_CATALOG)[C] extends { entity: string } ? C : never }[ErrorCode];

const SPECS: Readonly<Record<string, ErrorSpec>> = ERROR_CATALOG;

export function isErrorCode(code: string): code is ErrorCode {
  return Object.prototype.hasOwnProperty.call(SPECS, code);
}

/** The catalog's status for a code; 500 for a code the catalog does not know (a bug, never a 2xx). */
export function statusOf(code: string): number {
  return isErrorCode(code) ? SPECS[code]!.status : 500;
}

/** The fixed text of a per-entity refusal. */
export function entityMessage(code: EntityErrorCode): string {
  return ERROR_CATALOG[code].entity;
}

/**
 * Every error the lane answers with: a catalog code and, optionally, details that replace the
 * catalog's message. Status and Retry-After come from the catalog.
 */
export class LaneError extends Error {
  readonly status: number;
  readonly retryAfterSeconds?: number;

  /** `retryAfterSeconds` overrides the catalog's for waits only the thrower knows (a rate limiter's refill). */
  constructor(
    readonly code: ErrorCode,
    details?: string,
    retryAfterSeconds?: number,
  ) {
    super(details ?? ERROR_CATALOG[code].message);
    this.name = "LaneError";
    const spec: ErrorSpec = ERROR_CATALOG[code];
    this.status = spec.status;
    const retry = retryAfterSeconds ?? spec.retryAfter;
    if (retry !== undefined) this.retryAfterSeconds = retry;
  }
}

/**
 * The signer protocol: length-prefixed binary frames over one long-lived stream (a Unix socket
 * locally; in production a local socket bridged to the enclave's vsock port).
 *
 *   frame   = length:u32be  request_id:u32be  kind:u8  payload
 *   length  = 5 + payload length (bytes after the length field)
 *   payload = one MessagePack value (the message for `kind`)
 *
 * Request ids let many requests be in flight on one connection; replies may come out of order.
 * Writers coalesce the frames produced in one event-loop turn into a single write (batching under
 * load without adding latency when idle).
 */
import { Packr, RESERVE_START_SPACE, Unpackr } from "msgpackr";
import { decodeProofList, encodeProofList, MAX_SEALED_CHECKPOINT_BYTES, ProofListError, proofListBytes, writeProofList, type WireProof } from "./checkpoint";
import { asBuffer } from "./msgpack-scan";
import type { Ed25519Jwk } from "./keys";
import type { RawReadRequest } from "./request";
import type { RawWriteRequest } from "./write";
import type { WriterSignatureHeaders } from "./writer-auth";

export const FRAME_HEADER_BYTES = 9;
/** A batch of 100 × 1 MiB objects would exceed this; the runtime bounds objects and batches first. */
export const MAX_FRAME_BYTES = 32 * 1024 * 1024;
/** Protocol version spoken in Hello (2: roles, typed frames, writer-authenticated pushes). */
export const FRAME_PROTOCOL_VERSION = 2;

export enum FrameKind {
  /** runtime → signer, first frame on every connection: Hello → HelloReply. Declares the role. */
  Hello = 7,
  /** runtime → signer: { } → KeyInfo (any role) */
  KeyInfo = 1,
  /** read role: SignReadRequest → SignedResponse */
  SignRead = 2,
  /** read and provision roles: AttestRequest → AttestResponse */
  Attest = 3,
  /** write role: SealWriteRequest → SealWriteResponse (a writer-signed push; the signer verifies, validates and seals) */
  SealWrite = 4,
  /**
   * provision role: ProvisionKeysRequest → ProvisionKeysResponse (the admin-signed key directory, and
   * in production KMS-wrapped writer keys + the instance role's temporary credentials; the signer
   * unwraps them with its own attestation against the KMS key pinned in its image)
   */
  ProvisionKeys = 5,
  /**
   * write role: SignWriteOutcomeRequest → SignedResponse (the push answer: only for rows this signer
   * sealed, proven by the ticket it issued with them, plus the store outcomes the host reports)
   */
  SignWriteOutcome = 6,
  /**
   * provision role: ProvisionRegistryRequest → ProvisionRegistryResponse (an admin-signed registry
   * document, wire/registry-document.ts; without one, just the registry the signer holds now)
   */
  ProvisionRegistry = 8,
  /**
   * provision role: ProvideCheckpointsRequest → ProvideCheckpointsResponse (writer-sealed
   * checkpoints of views' entity maps, wire/checkpoint.ts; the signer keeps, per view, the newest
   * few it accepted, and signs fresh_as_of from the one a read's proof is against)
   */
  ProvideCheckpoints = 9,
  /** signer → runtime: reply to the request with the same id */
  Reply = 0x40,
  /** signer → runtime: ErrorReply for the request with the same id */
  Error = 0x7f,
}

/**
 * What each connection may ask. The host opens one connection per role; a frame outside the
 * connection's role is refused (P7: the read path cannot provision keys or seal writes).
 */
export type ChannelRole = "read" | "write" | "provision";
export const CHANNEL_ROLES: readonly ChannelRole[] = ["read", "write", "provision"];
export const ROLE_FRAMES: Readonly<Record<ChannelRole, ReadonlySet<FrameKind>>> = {
  read: new Set([FrameKind.KeyInfo, FrameKind.SignRead, FrameKind.Attest]),
  write: new Set([FrameKind.KeyInfo, FrameKind.SealWrite, FrameKind.SignWriteOutcome]),
  provision: new Set([FrameKind.KeyInfo, FrameKind.ProvisionKeys, FrameKind.Attest, FrameKind.ProvisionRegistry, FrameKind.ProvideCheckpoints]),
};
/** Largest frame each role may send (bounded buffering per connection). */
export const ROLE_MAX_FRAME_BYTES: Readonly<Record<ChannelRole, number>> = {
  read: MAX_FRAME_BYTES,
  write: 4 * 1024 * 1024,
  provision: 1024 * 1024,
};

export interface Hello {
  readonly role: ChannelRole;
  readonly protocol: number;
}

export interface KeyInfo {
  readonly keyid: string;
  readonly alg: "ed25519";
  readonly jwk: Ed25519Jwk;
}

export interface HelloReply extends KeyInfo {
  readonly role: ChannelRole;
  readonly protocol: number;
}

/**
 * What the runtime sends for a read: the raw request facts (the signer re-parses them itself) and
 * the stored object bytes for each entity in request order, or null where the store had none.
 */
export interface SignReadRequest extends RawReadRequest {
  readonly objects: ReadonlyArray<Uint8Array | null>;
  /**
   * Entity-map proofs (wire/checkpoint.ts WireProof), parallel to `objects`; null or absent where
   * the host has none. The signer checks each against the checkpoint of that seq it holds and
   * signs fresh_as_of from it; without a valid one the entity's fresh_as_of is null.
   */
  readonly proofs?: ReadonlyArray<WireProof | null>;
  /**
   * Stage tracing (benchmarks, `--trace-stages`): ask for a SignerStageTrace trailer in the reply.
   * A signer started without stage tracing ignores it. Absent in production traffic.
   */
  readonly trace?: boolean;
}

/**
 * The signer's side of one traced read, in the signer's own monotonic clock (µs,
 * performance.now()): when the frame's bytes arrived, when the frame was decoded, when the answer
 * was built and signed. Only differences are meaningful; the runtime places the span on its own
 * clock from the frame's send and reply times (runtime/stage-trace.ts). `gc`: the signer's GC
 * pauses observed since its previous traced reply, [start µs, duration µs] in the same clock.
 * Not signed: it describes timing only and feeds the benchmark.
 */
export interface SignerStageTrace {
  readonly received: number;
  readonly decoded: number;
  readonly signed: number;
  readonly gc: ReadonlyArray<readonly [number, number]>;
}

/** A complete, signed HTTP answer made by the signer. The runtime copies it to the wire as is. */
export interface SignedResponse {
  readonly status: number;
  readonly contentType: string;
  readonly contentDigest: string;
  readonly signatureInput: string;
  readonly signature: string;
  readonly body: Uint8Array;
  /**
   * Error codes of entities the signer refused in this answer (corrupt_object, object_mismatch,
   * seal_*), one per refused entity; absent when none. The same codes are in the signed body; this
   * copy lets the runtime count lane_entity_errors_total without parsing bodies. Not signed: it
   * only feeds metrics.
   */
  readonly entityErrors?: readonly string[];
  /**
   * One entry per object the host sent, in the same order (feeds lane_entity_status_total and the
   * freshness histogram): what the answer says about that entity and, when an object was served,
   * its age at the signed read time (`created − event_time`, seconds, ≥ 0). Not signed; metrics only.
   */
  readonly served?: readonly ServedEntity[];
  /** Only when the request asked for it and the signer traces stages (SignReadRequest.trace). */
  readonly trace?: SignerStageTrace;
}

/** Per-entity outcome of a read, as the signer rendered it (metrics only). */
export const SERVED_STATUSES = ["found", "outside_max_age", "not_found", "refused"] as const;
export type ServedStatus = (typeof SERVED_STATUSES)[number];
export interface ServedEntity {
  readonly status: ServedStatus;
  /** Seconds from the object's event_time to the signed read time; absent when no object was served. */
  readonly ageSeconds?: number;
}

/** A push: the raw request facts and the writer's signature headers, forwarded untouched. */
export interface SealWriteRequest extends RawWriteRequest {
  readonly writerSignature: WriterSignatureHeaders;
  /**
   * The entities' current stored objects as the host fetched them (null: none stored). The signer
   * verifies each (seal, view, entity, P2 mark) before merging a row into it (wire/merge.ts);
   * an entity the host leaves out counts as absent.
   */
  readonly current?: ReadonlyArray<{ readonly entity: string; readonly object: Uint8Array | null }>;
  /**
   * A retry of a push whose conditional write lost a race: the ticket the signer issued for the
   * previous attempt (same request, re-sealed against freshly fetched objects). Bounded by
   * MAX_WRITE_ATTEMPTS and the ticket's lifetime; the nonce check is not repeated for it.
   */
  readonly retryOf?: WriteTicket;
}

export type SealedRow =
  | {
      readonly index: number;
      readonly entity: string;
      readonly event_time: number;
      readonly object: Uint8Array;
      readonly object_digest: string;
      /** The merge changed nothing: `object` is the current object as sent, nothing to store. */
      readonly unchanged?: boolean;
    }
  | { readonly index: number; readonly entity?: string; readonly error: { readonly code: string; readonly message: string } };

/**
 * What the signer vouches for after sealing a push; the host hands it back with the outcomes.
 * `mac` = HMAC under a key born in this signer process over everything else, so the host cannot
 * add, drop or alter a row, or claim a push the signer never sealed.
 */
export interface WriteTicket {
  readonly issued: number;
  /** The "now" the rows were validated at (a body-less delete's event time); a retry keeps it. */
  readonly parsedAt: number;
  readonly method: string;
  readonly path: string;
  readonly query: string;
  /** contentDigest() of the push body the signer verified. */
  readonly requestDigest: string;
  readonly view: string;
  readonly writer: string;
  readonly kid: string;
  readonly kind: "single" | "batch" | "delete";
  /** The registry the rows were validated against (named in the push answer). */
  readonly registryVersion: number;
  readonly registryDigest: string;
  /** 1 for the first seal of a request, +1 per retry (MAX_WRITE_ATTEMPTS). */
  readonly attempt: number;
  /** Per row in request order: [index, entity, event_time, object_digest] or [index, entity|"", error code, error message]. */
  readonly rows: ReadonlyArray<readonly [number, string, number, string] | readonly [number, string, string, string]>;
  readonly mac: Uint8Array;
}

/** Sealed objects (layout v2) for the valid rows, a reason for each rejected one; request order. */
export interface SealWriteResponse {
  readonly view: string;
  readonly kid: string;
  readonly writer: string;
  readonly rows: readonly SealedRow[];
  readonly ticket: WriteTicket;
}

/** What the host's conditional PUT did with one sealed row (host-reported; the answer says so). */
export interface WriteOutcome {
  readonly index: number;
  readonly result: "written" | "unchanged" | "skipped_older" | "conflict";
  /** Event time (ms) of the object now stored under the key. */
  readonly stored_event_time: number;
}

export interface SignWriteOutcomeRequest {
  readonly ticket: WriteTicket;
  readonly acceptSignature?: string;
  readonly outcomes: readonly WriteOutcome[];
}

export interface AttestRequest {
  readonly nonce?: Uint8Array;
}

export interface AttestResponse {
  /** COSE_Sign1 attestation document binding the signing key (public_key = raw Ed25519 key). */
  readonly document: Uint8Array;
  readonly keyid: string;
}

/**
 * The host hands the signer what it cannot make or use itself: the admin-signed key directory and,
 * in production, writer key ciphertexts (not secret) with temporary credentials that only let the
 * enclave *ask* KMS — the key policy answers only to the attested image. Kids already unwrapped are
 * reused without a KMS call (only while the directory lists them with the same commitment).
 */
export interface ProvisionKeysRequest {
  /** The signed key directory (wire/key-directory.ts), bytes as published. */
  readonly directory: Uint8Array;
  /** Must equal the region pinned in the image when given. */
  readonly region?: string;
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string };
  readonly wrapped?: ReadonlyArray<{ readonly kid: string; readonly ciphertextBlob: Uint8Array }>;
  /** Lane signing keys (wire/lane-key.ts): KMS blobs with the validity bound into their context. */
  readonly laneKeys?: ReadonlyArray<{ readonly kid: string; readonly ciphertextBlob: Uint8Array; readonly notBefore: number; readonly notAfter: number }>;
}

/** A lane signing key the signer holds: public half and validity (ms). */
export interface LaneKeyInfo extends KeyInfo {
  readonly notBefore: number;
  readonly notAfter: number;
}

export interface ProvisionKeysResponse {
  readonly lane: string;
  readonly epoch: number;
  readonly expires_at: number;
  /** Kids the signer now verifies with (directory ∩ keys it holds). */
  readonly kids: readonly string[];
  /** Kids the directory lists that the signer holds no key for (their objects are refused). */
  readonly missing: readonly string[];
  /** Kids unwrapped through KMS by this request. */
  readonly unwrapped: readonly string[];
  /** The lane signing keys the signer holds now (it signs with the valid one of the latest notBefore). */
  readonly laneKeys: readonly LaneKeyInfo[];
}

/** The host forwards a signed registry document it cannot make (absent: ask what is held). */
export interface ProvisionRegistryRequest {
  readonly document?: Uint8Array;
}

/** The registry the signer holds after the request: what every answer now names. */
export interface ProvisionRegistryResponse {
  readonly version: number;
  readonly digest: string;
  /** The signed document as accepted; absent for the image default (version 0). */
  readonly document?: Uint8Array;
}

/** The host forwards sealed checkpoints it cannot make (wire/checkpoint.ts); empty: ask what is held. */
export interface ProvideCheckpointsRequest {
  readonly checkpoints: readonly Uint8Array[];
}

/** Per view, the newest checkpoint the signer holds after the request; a reason per refused one. */
export interface ProvideCheckpointsResponse {
  readonly held: ReadonlyArray<{ readonly view: string; readonly seq: number; readonly as_of: number }>;
  readonly refused: ReadonlyArray<{ readonly index: number; readonly code: string; readonly message: string }>;
}

export interface ErrorReply {
  readonly code: string;
  readonly message: string;
  /** HTTP status the runtime should answer with. */
  readonly status: number;
}

export interface Frame {
  readonly id: number;
  readonly kind: FrameKind;
  readonly payload: Buffer;
  /**
   * Set by FrameDecoder on a frame that spanned chunks: `payload.buffer` holds this frame alone
   * (header at 0, payload from FRAME_HEADER_BYTES to its end) and nothing else refers to it, so its
   * consumer may transfer that ArrayBuffer to another thread instead of copying the payload.
   */
  readonly exclusive?: true;
}

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

export function encodeFrame(id: number, kind: FrameKind, message: unknown): Buffer {
  // msgpackr leaves the header's 9 bytes free in front of the payload (RESERVE_START_SPACE): the
  // frame is packed in place, no second buffer and no copy (a batch frame is ≈ 410 KB;
  // bench/micro/frame-encode.ts). msgpackr never writes over a buffer it returned: later packs go
  // after it or into a new one, so the frame stays valid while it waits in a FrameWriter queue.
  // A SignRead's proofs travel as one proof list (wire/checkpoint.ts), not as MessagePack maps;
  // bytes already encoded (a test's hostile list) pass as they are.
  if (kind === FrameKind.SignRead && Array.isArray((message as { proofs?: unknown }).proofs)) {
    message = { ...(message as SignReadRequest), proofs: encodeProofList((message as SignReadRequest).proofs!) };
  }
  const frame = packr.pack(message, RESERVE_START_SPACE | FRAME_HEADER_BYTES);
  frame.writeUInt32BE(frame.length - 4, 0);
  frame.writeUInt32BE(id >>> 0, 4);
  frame.writeUInt8(kind, 8);
  return frame;
}

// ---------------------------------------------------------------------------------------------
// SignRead without msgpackr's generic object walk: the runtime sends one per read, and packing it
// was ≈ 10 % of the runtime's busy CPU on a 10-feature read (docs/performance.md "Session 7:
// runtime read path"; bench/micro/sign-read-encode.ts). Same MessagePack map decodeSignRead reads
// (test/wire/sign-read-frame.test.ts decodes both encodings to the same request), written field by
// field into a buffer the caller owns (runtime/frame-slab.ts: one pooled slab, no per-frame
// allocation). Fields that are undefined are left out: decodeSignRead reads absent and undefined
// alike. Strings get a header wide enough for 3 bytes per UTF-16 unit (valid MessagePack, not
// always the shortest form), so no length pass over them is needed.

const keyBytes = (name: string): Buffer => Buffer.concat([Buffer.from([0xa0 | name.length]), Buffer.from(name, "latin1")]);
const SIGN_READ_KEYS = {
  method: keyBytes("method"),
  path: keyBytes("path"),
  query: keyBytes("query"),
  accept: keyBytes("accept"),
  acceptSignature: keyBytes("acceptSignature"),
  contentType: keyBytes("contentType"),
  body: keyBytes("body"),
  objects: keyBytes("objects"),
  proofs: keyBytes("proofs"),
  trace: keyBytes("trace"),
};

/** Bytes writeSignReadFrame needs at most for `request` (frame header included). */
export function signReadFrameBound(request: SignReadRequest): number {
  // Per field: key (≤ 17) + header (≤ 5) + content; strings at 3 bytes per UTF-16 unit.
  let n = FRAME_HEADER_BYTES + 1 + 10 * 22;
  n += 3 * (request.method.length + request.path.length + request.query.length);
  n += 3 * ((request.accept?.length ?? 0) + (request.acceptSignature?.length ?? 0) + (request.contentType?.length ?? 0));
  n += request.body?.length ?? 0;
  const objects = request.objects;
  n += 5 * objects.length;
  for (let i = 0; i < objects.length; i++) n += objects[i]?.length ?? 0;
  // The proofs: one bin (header ≤ 5) holding the proof list (wire/checkpoint.ts).
  if (request.proofs) n += 5 + proofListBytes(request.proofs);
  return n;
}

function putKey(target: Buffer, pos: number, key: Buffer): number {
  for (let i = 0; i < key.length; i++) target[pos + i] = key[i]!;
  return pos + key.length;
}

function putStr(target: Buffer, pos: number, value: string): number {
  const most = 3 * value.length;
  if (most < 32) {
    const n = value.length === 0 ? 0 : target.write(value, pos + 1);
    target[pos] = 0xa0 | n;
    return pos + 1 + n;
  }
  if (most < 0x100) {
    const n = target.write(value, pos + 2);
    target[pos] = 0xd9;
    target[pos + 1] = n;
    return pos + 2 + n;
  }
  if (most < 0x10000) {
    const n = target.write(value, pos + 3);
    target[pos] = 0xda;
    target.writeUInt16BE(n, pos + 1);
    return pos + 3 + n;
  }
  const n = target.write(value, pos + 5);
  target[pos] = 0xdb;
  target.writeUInt32BE(n, pos + 1);
  return pos + 5 + n;
}

function putBin(target: Buffer, pos: number, value: Uint8Array): number {
  const n = value.length;
  pos = putBinHeader(target, pos, n);
  if (n < 64) for (let i = 0; i < n; i++) target[pos + i] = value[i]!;
  else target.set(value, pos);
  return pos + n;
}

function putBinHeader(target: Buffer, pos: number, n: number): number {
  if (n < 0x100) {
    target[pos] = 0xc4;
    target[pos + 1] = n;
    pos += 2;
  } else if (n < 0x10000) {
    target[pos] = 0xc5;
    target.writeUInt16BE(n, pos + 1);
    pos += 3;
  } else {
    target[pos] = 0xc6;
    target.writeUInt32BE(n, pos + 1);
    pos += 5;
  }
  return pos;
}

function putArrayHeader(target: Buffer, pos: number, n: number): number {
  if (n < 16) {
    target[pos] = 0x90 | n;
    return pos + 1;
  }
  if (n < 0x10000) {
    target[pos] = 0xdc;
    target.writeUInt16BE(n, pos + 1);
    return pos + 3;
  }
  target[pos] = 0xdd;
  target.writeUInt32BE(n, pos + 1);
  return pos + 5;
}

/**
 * Write the SignRead frame for `request` at `offset` of `target` (at least signReadFrameBound bytes
 * free there); returns the offset after it.
 */
export function writeSignReadFrame(target: Buffer, offset: number, id: number, request: SignReadRequest): number {
  const K = SIGN_READ_KEYS;
  const mapAt = offset + FRAME_HEADER_BYTES;
  let pos = mapAt + 1;
  let fields = 4; // method, path, query, objects
  pos = putStr(target, putKey(target, pos, K.method), request.method);
  pos = putStr(target, putKey(target, pos, K.path), request.path);
  pos = putStr(target, putKey(target, pos, K.query), request.query);
  if (request.accept !== undefined) {
    pos = putStr(target, putKey(target, pos, K.accept), request.accept);
    fields++;
  }
  if (request.acceptSignature !== undefined) {
    pos = putStr(target, putKey(target, pos, K.acceptSignature), request.acceptSignature);
    fields++;
  }
  if (request.contentType !== undefined) {
    pos = putStr(target, putKey(target, pos, K.contentType), request.contentType);
    fields++;
  }
  if (request.body !== undefined) {
    pos = putBin(target, putKey(target, pos, K.body), request.body);
    fields++;
  }
  const objects = request.objects;
  pos = putArrayHeader(target, putKey(target, pos, K.objects), objects.length);
  for (let i = 0; i < objects.length; i++) {
    const o = objects[i];
    if (o === null || o === undefined) target[pos++] = 0xc0;
    else pos = putBin(target, pos, o);
  }
  const proofs = request.proofs;
  if (proofs !== undefined) {
    // The proof list written in place (no intermediate Buffer): bin header, then its records.
    pos = putBinHeader(target, putKey(target, pos, K.proofs), proofListBytes(proofs));
    pos = writeProofList(target, pos, proofs);
    fields++;
  }
  if (request.trace !== undefined) {
    pos = putKey(target, pos, K.trace);
    target[pos++] = request.trace ? 0xc3 : 0xc2;
    fields++;
  }
  target[mapAt] = 0x80 | fields;
  target.writeUInt32BE(pos - offset - 4, offset);
  target.writeUInt32BE(id >>> 0, offset + 4);
  target[offset + 8] = FrameKind.SignRead;
  return pos;
}

// ---------------------------------------------------------------------------------------------
// One typed decoder per frame kind, used by both ends: the signer decodes requests with them, the
// runtime decodes replies with them. A payload that does not have the kind's exact shape is a
// FrameFieldError (an error reply), never a partially trusted object.

export class FrameFieldError extends Error {
  readonly code = "bad_frame";
  constructor(message: string) {
    super(message);
    this.name = "FrameFieldError";
  }
}

type Fields = Record<string, unknown>;
const badField = (message: string): never => {
  throw new FrameFieldError(message);
};

function unpackMap(payload: Uint8Array): Fields {
  let value: unknown;
  try {
    value = unpackr.unpack(payload);
  } catch {
    return badField("payload is not MessagePack");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value) || value instanceof Uint8Array) return badField("payload must be a map");
  return value as Fields;
}

const MAX_TEXT = 64 * 1024;
function str(m: Fields, field: string, max = MAX_TEXT): string {
  const v = m[field];
  if (typeof v !== "string" || v.length > max) return badField(`${field} must be a string of at most ${max} characters`);
  return v;
}
function optStr(m: Fields, field: string, max = MAX_TEXT): string | undefined {
  return m[field] === undefined || m[field] === null ? undefined : str(m, field, max);
}
function bin(m: Fields, field: string, max = MAX_FRAME_BYTES): Buffer {
  const v = m[field];
  if (!(v instanceof Uint8Array) || v.length > max) return badField(`${field} must be bytes (at most ${max})`);
  return asBuffer(v);
}
function optBin(m: Fields, field: string, max = MAX_FRAME_BYTES): Buffer | undefined {
  return m[field] === undefined || m[field] === null ? undefined : bin(m, field, max);
}
function int(m: Fields, field: string): number {
  const v = m[field];
  if (typeof v !== "number" || !Number.isSafeInteger(v)) return badField(`${field} must be an integer`);
  return v;
}
function list(m: Fields, field: string, max: number): unknown[] {
  const v = m[field];
  if (!Array.isArray(v) || v.length > max) return badField(`${field} must be an array of at most ${max}`);
  return v;
}
function map(v: unknown, field: string): Fields {
  if (typeof v !== "object" || v === null || Array.isArray(v) || v instanceof Uint8Array) return badField(`${field} must be a map`);
  return v as Fields;
}
function oneOf<T extends string>(m: Fields, field: string, allowed: readonly T[]): T {
  const v = m[field];
  if (typeof v !== "string" || !(allowed as readonly string[]).includes(v)) return badField(`${field} must be one of ${allowed.join(", ")}`);
  return v as T;
}

/** Bounds a read frame may carry: entities per batch (wire/request MAX_BATCH_ENTITIES) with slack. */
const MAX_OBJECTS = 1000;
const MAX_ROWS = 1000;

export const decodeHello = (payload: Uint8Array): Hello => {
  const m = unpackMap(payload);
  return { role: oneOf(m, "role", CHANNEL_ROLES), protocol: int(m, "protocol") };
};

function decodeJwk(v: unknown): Ed25519Jwk {
  const m = map(v, "jwk");
  if (m.kty !== "OKP" || m.crv !== "Ed25519") return badField("jwk must be an Ed25519 OKP key");
  return { kty: "OKP", crv: "Ed25519", x: str(m, "x", 64) };
}

export const decodeKeyInfo = (payload: Uint8Array): KeyInfo => {
  const m = unpackMap(payload);
  if (m.alg !== "ed25519") badField("alg must be ed25519");
  return { keyid: str(m, "keyid", 128), alg: "ed25519", jwk: decodeJwk(m.jwk) };
};

export const decodeHelloReply = (payload: Uint8Array): HelloReply => {
  const m = unpackMap(payload);
  if (m.alg !== "ed25519") badField("alg must be ed25519");
  return { keyid: str(m, "keyid", 128), alg: "ed25519", jwk: decodeJwk(m.jwk), role: oneOf(m, "role", CHANNEL_ROLES), protocol: int(m, "protocol") };
};

export const decodeSignRead = (payload: Uint8Array): SignReadRequest => {
  const m = unpackMap(payload);
  const objects = list(m, "objects", MAX_OBJECTS).map((o, i) => {
    if (o === null || o === undefined) return null;
    if (!(o instanceof Uint8Array)) return badField(`objects[${i}] must be bytes or nil`);
    return asBuffer(o);
  });
  return {
    method: str(m, "method", 16),
    path: str(m, "path", 8192),
    query: str(m, "query", 8192),
    accept: optStr(m, "accept", 1024),
    acceptSignature: optStr(m, "acceptSignature", 4096),
    contentType: optStr(m, "contentType", 256),
    body: optBin(m, "body", 4 * 1024 * 1024),
    objects,
    ...(m.proofs === undefined || m.proofs === null ? {} : { proofs: decodeProofs(m, objects.length) }),
    // Stage tracing asked for (benchmarks); one comparison, no allocation, when not.
    trace: m.trace === true ? true : undefined,
  };
};

/** Bound on GC pauses one trailer may carry. */
export const MAX_TRACE_GC_EVENTS = 256;

function num(m: Fields, field: string): number {
  const v = m[field];
  if (typeof v !== "number" || !Number.isFinite(v)) return badField(`${field} must be a number`);
  return v;
}

function decodeSignerStageTrace(v: unknown): SignerStageTrace {
  const m = map(v, "trace");
  const gc = list(m, "gc", MAX_TRACE_GC_EVENTS).map((e, i): readonly [number, number] => {
    if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== "number" || typeof e[1] !== "number" || !Number.isFinite(e[0]) || !Number.isFinite(e[1]))
      return badField(`trace.gc[${i}] must be [start, duration]`);
    return [e[0], e[1]] as const;
  });
  return { received: num(m, "received"), decoded: num(m, "decoded"), signed: num(m, "signed"), gc };
}

export const decodeSignedResponse = (payload: Uint8Array): SignedResponse => {
  const m = unpackMap(payload);
  const errors = m.entityErrors === undefined ? undefined : list(m, "entityErrors", MAX_OBJECTS).map((c) => (typeof c === "string" ? c.slice(0, 64) : "unknown"));
  return {
    status: int(m, "status"),
    contentType: str(m, "contentType", 256),
    contentDigest: str(m, "contentDigest", 256),
    signatureInput: str(m, "signatureInput", 8192),
    signature: str(m, "signature", 1024),
    body: bin(m, "body"),
    ...(errors ? { entityErrors: errors } : {}),
    ...(m.served === undefined ? {} : { served: list(m, "served", MAX_OBJECTS).map((e, i) => decodeServed(e, i)) }),
    ...(m.trace === undefined ? {} : { trace: decodeSignerStageTrace(m.trace) }),
  };
};

function decodeServed(value: unknown, i: number): ServedEntity {
  const e = map(value, `served[${i}]`);
  const status = oneOf(e, "status", SERVED_STATUSES);
  if (e.ageSeconds === undefined || e.ageSeconds === null) return { status };
  if (typeof e.ageSeconds !== "number" || !Number.isFinite(e.ageSeconds) || e.ageSeconds < 0) return badField(`served[${i}].ageSeconds must be a number ≥ 0`);
  return { status, ageSeconds: e.ageSeconds };
}

export const decodeAttest = (payload: Uint8Array): AttestRequest => {
  const m = unpackMap(payload);
  const nonce = optBin(m, "nonce", 512);
  return nonce ? { nonce } : {};
};

export const decodeAttestResponse = (payload: Uint8Array): AttestResponse => {
  const m = unpackMap(payload);
  return { document: bin(m, "document", 64 * 1024), keyid: str(m, "keyid", 128) };
};

export const decodeSealWrite = (payload: Uint8Array): SealWriteRequest => {
  const m = unpackMap(payload);
  const w = map(m.writerSignature ?? {}, "writerSignature");
  return {
    method: str(m, "method", 16),
    path: str(m, "path", 8192),
    query: str(m, "query", 8192),
    contentType: optStr(m, "contentType", 256),
    body: optBin(m, "body", ROLE_MAX_FRAME_BYTES.write),
    writerSignature: { signatureInput: optStr(w, "signatureInput", 4096), signature: optStr(w, "signature", 4096), contentDigest: optStr(w, "contentDigest", 256) },
    ...(m.current === undefined || m.current === null
      ? {}
      : {
          current: list(m, "current", MAX_ROWS).map((c, i) => {
            const e = map(c, `current[${i}]`);
            return { entity: str(e, "entity", 1024), object: optBin(e, "object", ROLE_MAX_FRAME_BYTES.write) ?? null };
          }),
        }),
    ...(m.retryOf === undefined || m.retryOf === null ? {} : { retryOf: decodeWriteTicket(m.retryOf) }),
  };
};

/** Seal attempts per push (first + retries after a lost conditional write). */
export const MAX_WRITE_ATTEMPTS = 4;

function decodeTicketRow(v: unknown, i: number): WriteTicket["rows"][number] {
  if (!Array.isArray(v) || v.length !== 4 || typeof v[0] !== "number" || typeof v[1] !== "string" || typeof v[3] !== "string") return badField(`ticket.rows[${i}] malformed`);
  if (typeof v[2] === "number") return [v[0], v[1], v[2], v[3]] as const;
  if (typeof v[2] === "string") return [v[0], v[1], v[2], v[3]] as const;
  return badField(`ticket.rows[${i}] malformed`);
}

export function decodeWriteTicket(v: unknown): WriteTicket {
  const m = map(v, "ticket");
  return {
    issued: int(m, "issued"),
    parsedAt: int(m, "parsedAt"),
    method: str(m, "method", 16),
    path: str(m, "path", 8192),
    query: str(m, "query", 8192),
    requestDigest: str(m, "requestDigest", 128),
    view: str(m, "view", 128),
    writer: str(m, "writer", 64),
    kid: str(m, "kid", 64),
    kind: oneOf(m, "kind", ["single", "batch", "delete"] as const),
    registryVersion: int(m, "registryVersion"),
    registryDigest: str(m, "registryDigest", 64),
    attempt: int(m, "attempt"),
    rows: list(m, "rows", MAX_ROWS).map(decodeTicketRow),
    mac: bin(m, "mac", 64),
  };
}

export const decodeSealWriteResponse = (payload: Uint8Array): SealWriteResponse => {
  const m = unpackMap(payload);
  const rows = list(m, "rows", MAX_ROWS).map((r, i): SealedRow => {
    const row = map(r, `rows[${i}]`);
    if (row.error !== undefined) {
      const e = map(row.error, `rows[${i}].error`);
      return { index: int(row, "index"), entity: optStr(row, "entity", 1024), error: { code: str(e, "code", 64), message: str(e, "message", 1024) } };
    }
    return {
      index: int(row, "index"),
      entity: str(row, "entity", 1024),
      event_time: int(row, "event_time"),
      object: bin(row, "object"),
      object_digest: str(row, "object_digest", 64),
      ...(row.unchanged === true ? { unchanged: true } : {}),
    };
  });
  return { view: str(m, "view", 128), kid: str(m, "kid", 64), writer: str(m, "writer", 64), rows, ticket: decodeWriteTicket(m.ticket) };
};

const WRITE_RESULTS = ["written", "unchanged", "skipped_older", "conflict"] as const;

export const decodeSignWriteOutcome = (payload: Uint8Array): SignWriteOutcomeRequest => {
  const m = unpackMap(payload);
  const outcomes = list(m, "outcomes", MAX_ROWS).map((o, i): WriteOutcome => {
    const e = map(o, `outcomes[${i}]`);
    return { index: int(e, "index"), result: oneOf(e, "result", WRITE_RESULTS), stored_event_time: int(e, "stored_event_time") };
  });
  return { ticket: decodeWriteTicket(m.ticket), acceptSignature: optStr(m, "acceptSignature", 4096), outcomes };
};

export const decodeProvisionKeys = (payload: Uint8Array): ProvisionKeysRequest => {
  const m = unpackMap(payload);
  let credentials: ProvisionKeysRequest["credentials"];
  if (m.credentials !== undefined && m.credentials !== null) {
    const c = map(m.credentials, "credentials");
    credentials = {
      accessKeyId: str(c, "accessKeyId", 128),
      secretAccessKey: str(c, "secretAccessKey", 256),
      ...(c.sessionToken !== undefined && c.sessionToken !== null ? { sessionToken: str(c, "sessionToken", 4096) } : {}),
    };
  }
  const wrapped =
    m.wrapped === undefined || m.wrapped === null
      ? undefined
      : list(m, "wrapped", 64).map((w, i) => {
          const e = map(w, `wrapped[${i}]`);
          return { kid: str(e, "kid", 64), ciphertextBlob: bin(e, "ciphertextBlob", 6144) };
        });
  const laneKeys =
    m.laneKeys === undefined || m.laneKeys === null
      ? undefined
      : list(m, "laneKeys", 8).map((w, i) => {
          const e = map(w, `laneKeys[${i}]`);
          return { kid: str(e, "kid", 64), ciphertextBlob: bin(e, "ciphertextBlob", 6144), notBefore: int(e, "notBefore"), notAfter: int(e, "notAfter") };
        });
  return {
    directory: bin(m, "directory", 64 * 1024),
    region: optStr(m, "region", 64),
    ...(credentials ? { credentials } : {}),
    ...(wrapped ? { wrapped } : {}),
    ...(laneKeys ? { laneKeys } : {}),
  };
};

function decodeLaneKeyInfo(v: unknown, i: number): LaneKeyInfo {
  const m = map(v, `laneKeys[${i}]`);
  if (m.alg !== "ed25519") badField("alg must be ed25519");
  return { keyid: str(m, "keyid", 128), alg: "ed25519", jwk: decodeJwk(m.jwk), notBefore: int(m, "notBefore"), notAfter: int(m, "notAfter") };
}

export const decodeProvisionKeysResponse = (payload: Uint8Array): ProvisionKeysResponse => {
  const m = unpackMap(payload);
  const strings = (field: string): string[] => list(m, field, 64).map((s) => (typeof s === "string" ? s : badField(`${field} must list strings`)));
  return {
    lane: str(m, "lane", 64),
    epoch: int(m, "epoch"),
    expires_at: int(m, "expires_at"),
    kids: strings("kids"),
    missing: strings("missing"),
    unwrapped: strings("unwrapped"),
    laneKeys: (m.laneKeys === undefined ? [] : list(m, "laneKeys", 8)).map(decodeLaneKeyInfo),
  };
};

/** A signed registry document is at most MAX_SIGNED_REGISTRY_BYTES (wire/registry-document.ts). */
const MAX_REGISTRY_FRAME_DOCUMENT = 768 * 1024;

export const decodeProvisionRegistry = (payload: Uint8Array): ProvisionRegistryRequest => {
  const m = unpackMap(payload);
  const document = optBin(m, "document", MAX_REGISTRY_FRAME_DOCUMENT);
  return document ? { document } : {};
};

export const decodeProvisionRegistryResponse = (payload: Uint8Array): ProvisionRegistryResponse => {
  const m = unpackMap(payload);
  const version = int(m, "version");
  if (version < 0) badField("version must be ≥ 0");
  const document = optBin(m, "document", MAX_REGISTRY_FRAME_DOCUMENT);
  return { version, digest: str(m, "digest", 64), ...(document ? { document } : {}) };
};

// One record per object: at most a tag, a header, 256 siblings and a leaf each (wire/checkpoint.ts).
const MAX_PROOF_RECORD_BYTES = 9 + 256 * 32 + 72;

function decodeProofs(m: Fields, objects: number): Array<WireProof | null> {
  const bytes = bin(m, "proofs", Math.max(1, objects) * MAX_PROOF_RECORD_BYTES);
  try {
    return decodeProofList(bytes, objects);
  } catch (err) {
    if (err instanceof ProofListError) return badField(`proofs: ${err.message}`);
    throw err;
  }
}

/** Sealed checkpoints are at most MAX_SEALED_CHECKPOINT_BYTES; a host forwards at most this many at once. */
export const MAX_CHECKPOINTS_PER_FRAME = 256;

export const decodeProvideCheckpoints = (payload: Uint8Array): ProvideCheckpointsRequest => {
  const m = unpackMap(payload);
  return {
    checkpoints: list(m, "checkpoints", MAX_CHECKPOINTS_PER_FRAME).map((c, i) => {
      if (!(c instanceof Uint8Array) || c.length > MAX_SEALED_CHECKPOINT_BYTES) return badField(`checkpoints[${i}] must be bytes (at most ${MAX_SEALED_CHECKPOINT_BYTES})`);
      return asBuffer(c);
    }),
  };
};

export const decodeProvideCheckpointsResponse = (payload: Uint8Array): ProvideCheckpointsResponse => {
  const m = unpackMap(payload);
  return {
    held: list(m, "held", 4096).map((h, i) => {
      const f = map(h, `held[${i}]`);
      return { view: str(f, "view", 256), seq: int(f, "seq"), as_of: int(f, "as_of") };
    }),
    refused: list(m, "refused", MAX_CHECKPOINTS_PER_FRAME).map((r, i) => {
      const f = map(r, `refused[${i}]`);
      return { index: int(f, "index"), code: str(f, "code", 64), message: str(f, "message", 2048) };
    }),
  };
};

export const decodeErrorReply = (payload: Uint8Array): ErrorReply => {
  const m = unpackMap(payload);
  return { code: str(m, "code", 64), message: str(m, "message", 2048), status: int(m, "status") };
};

/** Untyped decode, for tests that look at raw replies. Production code uses the typed decoders. */
export function decodePayload<T>(frame: Frame): T {
  return unpackr.unpack(frame.payload) as T;
}

export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FrameError";
  }
}

/**
 * Incremental decoder: feed it stream chunks, get whole frames. Whole frames inside one chunk are
 * sliced, not copied. A frame that spans chunks (a 100-entity batch is ≈ 410 KB, delivered in
 * 64 KB reads) is collected as a list and copied once, when its last byte has arrived — not once
 * per chunk, which copied ≈ 1.8 MB per batch frame — into a buffer of its own that holds that frame
 * and nothing else (`Frame.exclusive`): the signer hands such a frame's memory to a signing worker
 * without copying it again (enclave/sign-workers.ts). The bytes after it in the last chunk are
 * decoded from that chunk, as usual.
 */
export class FrameDecoder {
  private buffer: Buffer = Buffer.alloc(0);
  /** Chunks received after `buffer` while waiting for the rest of a frame. */
  private parts: Buffer[] = [];
  private held = 0;
  /** Bytes the incomplete frame at the start of the held data needs in all (0 = not yet known). */
  private needed = 0;

  /** Mutable: a connection raises it once its role is known (enclave/signer.ts). */
  constructor(public maxFrameBytes = MAX_FRAME_BYTES) {}

  push(chunk: Buffer): Frame[] {
    const frames: Frame[] = [];
    if (this.held === 0) {
      this.buffer = chunk;
    } else {
      this.parts.push(chunk);
      this.held += chunk.length;
      if (this.needed === 0) {
        // The length itself was incomplete: join what is held (a few bytes and this chunk) and split it.
        this.buffer = Buffer.concat([this.buffer, ...this.parts], this.held);
      } else {
        if (this.held < this.needed) return [];
        // The frame is complete: its bytes, and only its bytes, into a buffer of its own.
        const whole = Buffer.allocUnsafeSlow(this.needed);
        let at = this.buffer.copy(whole, 0);
        for (const part of this.parts) at += part.copy(whole, at, 0, Math.min(part.length, this.needed - at));
        frames.push({ id: whole.readUInt32BE(4), kind: whole.readUInt8(8) as FrameKind, payload: whole.subarray(FRAME_HEADER_BYTES), exclusive: true });
        // Whatever follows it came in this last chunk.
        this.buffer = chunk.subarray(chunk.length - (this.held - this.needed));
      }
      this.parts = [];
    }
    let offset = 0;
    this.needed = 0;
    while (this.buffer.length - offset >= 4) {
      const length = this.buffer.readUInt32BE(offset);
      if (length < 5 || length > this.maxFrameBytes) throw new FrameError(`frame length ${length} out of range`);
      if (this.buffer.length - offset < 4 + length) {
        this.needed = 4 + length;
        break;
      }
      const id = this.buffer.readUInt32BE(offset + 4);
      const kind = this.buffer.readUInt8(offset + 8) as FrameKind;
      frames.push({ id, kind, payload: this.buffer.subarray(offset + FRAME_HEADER_BYTES, offset + 4 + length) });
      offset += 4 + length;
    }
    this.buffer = offset === this.buffer.length ? Buffer.alloc(0) : this.buffer.subarray(offset);
    this.held = this.buffer.length;
    return frames;
  }

  /** Bytes held for an incomplete frame. */
  get pending(): number {
    return this.held;
  }
}

/** Coalesces frames queued in one event-loop turn into one write (one syscall, one bridge hop). */
export class FrameWriter {
  private queue: Buffer[] = [];
  private scheduled = false;

  /** `onFlush` (stage tracing only): called right after each coalesced write. */
  constructor(
    private readonly write: (data: Buffer) => void,
    private readonly onFlush?: () => void,
  ) {}

  send(frame: Buffer): void {
    this.queue.push(frame);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const queue = this.queue;
    if (queue.length === 0) return;
    this.queue = [];
    this.write(queue.length === 1 ? queue[0] : Buffer.concat(queue));
    if (this.onFlush !== undefined) this.onFlush();
  };

  /** Drop anything queued (the connection is gone; callers fail their pending requests). */
  clear(): void {
    this.queue = [];
  }
}

/**
 * The signer: the only code that holds the signing key. In production it runs inside a Nitro
 * Enclave; locally it is the same code in a separate process. The whole trust story is here
 * (docs/trust.md states it as properties P1–P7):
 *
 *   1. The key is born in this process (SigningKey.generate) and never leaves it. The attestation
 *      document binds it: NSM puts our raw public key into `public_key`, next to the PCRs.
 *   2. Every answer is produced and signed here, bound to the whole request: status, content type
 *      and digest of the answer, the request's method, path and query, and for requests with a body
 *      the digest of the body we parsed (P3). The host only moves bytes.
 *   3. We sign only data an authorized writer wrote (P1): every stored object carries a seal under
 *      its writer's key, which we verify with the object's view and entity before a value goes
 *      into an answer. Pushes are sealed only after the writer's own request signature verifies
 *      (wire/writer-auth.ts), fresh and not replayed, under that writer's key; the answer names the
 *      writer (`written_by`).
 *   4. Which writer keys exist is decided by an admin, not the host (P4): an admin-signed key
 *      directory with a forward-only epoch and an expiry (enclave/key-state.ts); key material is
 *      used only if it matches the directory's commitment; in production it arrives KMS-wrapped and
 *      only this attested image can unwrap it (enclave/key-provisioning.ts).
 *   5. We never go back (P2): an entity version older than one this process served, or sealed and
 *      was told is stored (or was shown as an entity's current object), is
 *      refused (enclave/high-water.ts).
 *   6. Push answers are signed only for rows we sealed, proven by the ticket we issued with them
 *      (P3); what the store did with them is the host's report and labelled as such.
 *   7. The channel has roles (P7): each connection declares read, write or provision in its first
 *      frame and may send only that role's frames, each decoded by its one typed decoder
 *      (wire/frames.ts), with bounded frames, in-flight work and connections.
 *
 * The host is untrusted: every frame is validated; a bad frame gets an error reply, never a
 * signature over something we did not build.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, Server, Socket } from "node:net";
import { SigningKey } from "./key";
import { encodeBody, renderFeast, renderRead, type EntityGuard } from "./render";
import type { SealKeyring } from "./seal";
import { SealProvisioningError, type KeyProvisioner } from "./key-provisioning";
import { KeyStateError } from "./key-state";
import { RegistryStateError, type RegistryState } from "./registry-state";
import { defaultRegistryRef, viewDocumentFromSpec, type RegistryRef } from "../wire/registry-document";
import { HighWaterMarks, NonceCache } from "./high-water";
import type { LaneKeys } from "./lane-keys";
import type { Nsm } from "./nsm/types";
import { GcPauses, nowUs } from "./stage-trace";
import { SharedHighWaterMarks } from "./shared-high-water";
import { SignWorkerPool, type SignWorkerScript, type SignWorkerState } from "./sign-workers";
import { CheckpointState, VerifiedLookups, type CheckpointLookup } from "./checkpoint-state";
import { contentDigest, DEFAULT_SIGNATURE_VALIDITY_S, serializeSignatureParams, signatureBase, signatureHeaders } from "../wire/envelope";
import {
  AttestRequest,
  AttestResponse,
  ChannelRole,
  decodeAttest,
  decodeHello,
  decodeProvideCheckpoints,
  decodeProvisionKeys,
  decodeProvisionRegistry,
  decodeSealWrite,
  decodeSignRead,
  decodeSignWriteOutcome,
  encodeFrame,
  ErrorReply,
  Frame,
  FrameDecoder,
  FrameFieldError,
  FrameKind,
  FrameWriter,
  FRAME_PROTOCOL_VERSION,
  HelloReply,
  MAX_WRITE_ATTEMPTS,
  ProvideCheckpointsRequest,
  ProvideCheckpointsResponse,
  ProvisionKeysRequest,
  ProvisionKeysResponse,
  ProvisionRegistryRequest,
  ProvisionRegistryResponse,
  ROLE_FRAMES,
  ROLE_MAX_FRAME_BYTES,
  SealedRow,
  SealWriteRequest,
  SealWriteResponse,
  SignedResponse,
  SignReadRequest,
  SignWriteOutcomeRequest,
  WriteOutcome,
  WriteTicket,
} from "../wire/frames";
import type { Registry } from "../wire/registry";
import { MAX_NONCE_LENGTH, parseAcceptSignature, parseReadRequest } from "../wire/request";
import { entityMessage, LaneError, statusOf, type ErrorCode } from "../wire/errors";
import { parseWriteRequest } from "../wire/write";
import { mergeRow } from "../wire/merge";
import type { FeatureObject } from "../wire/object";
import { isFeastRequest, parseFeastRequest } from "../wire/feast";
import { parseWriterSignature, WriterAuthError, writerMac, WRITER_SIGNATURE_FUTURE_SKEW_S, WRITER_SIGNATURE_MAX_AGE_S } from "../wire/writer-auth";

/** Where the signer gets its current keyring: KeyState in production and dev, a fixed one in unit tests. */
export interface KeyringSource {
  readonly keyring: SealKeyring | null;
  /**
   * Whether the held key directory names `kid` as a sequencer of `view` (P8). Absent only for a
   * fixed keyring — unit tests and micro-benchmarks; the entry points always provision through a
   * key directory (enclave/serve.ts) — where any write key of the keyring may seal checkpoints.
   */
  maySequence?(kid: string, view: string): boolean;
}

export interface SignerOptions {
  readonly key?: SigningKey;
  readonly nsm?: Nsm;
  /** Signature validity (expires - created), seconds. */
  readonly validitySeconds?: number;
  /** Clock, injectable for tests. Milliseconds since epoch. */
  readonly now?: () => number;
  /** The writer keys to verify and seal with. Without a keyring every stored object and push is refused. */
  readonly keys?: KeyringSource;
  /** Accepts key directories and key material from the host (FrameKind.ProvisionKeys). */
  readonly provisioner?: KeyProvisioner;
  /** Lane signing keys: when one is valid, answers are signed with it instead of our own key (one trust anchor per lane). */
  readonly laneKeys?: LaneKeys;
  /** Feature views, fixed (unit tests). Either this or `registryState` (the entry points pass the image default through it). */
  readonly registry?: Registry;
  /** Admin-signed registry documents the host delivers (FrameKind.ProvisionRegistry), over the image default. */
  readonly registryState?: RegistryState;
  /** With `registry`: the version and digest answers name (a signing worker mirrors its parent's). @default version 0, the registry's own digest */
  readonly registryRef?: RegistryRef;
  /** Entities tracked for P2 (enclave/high-water.ts). */
  readonly maxTrackedEntities?: number;
  /**
   * Benchmarks only: answer reads that ask for it (SignReadRequest.trace) with a timing trailer
   * (enclave/stage-trace.ts). Off: one check per stream chunk, no clock read. @default false
   */
  readonly traceStages?: boolean;
  /** P2's table, when the caller shares one (a signing worker thread: enclave/sign-worker.ts). */
  readonly highWater?: HighWaterMarks | SharedHighWaterMarks;
  /**
   * Signing threads (`--workers`): 1 answers reads on this thread, as always; N ≥ 2 answers them on
   * N worker threads with this signer's key and a shared high-water table (enclave/sign-workers.ts).
   * @default 1
   */
  readonly workers?: number;
  /** Where the worker code is (tests; default: enclave/sign-workers.ts defaultWorkerScript). */
  readonly workerScript?: SignWorkerScript;
  /**
   * The lane whose checkpoints this signer accepts (P8; default: the key state's trust lane).
   * Without one every checkpoint is refused and every answer's fresh_as_of is null.
   */
  readonly checkpointLane?: string;
  /** P8: how many verified proof outcomes this thread remembers (0: every proof is checked). @default VERIFIED_LOOKUPS_MAX */
  readonly verifiedLookupsMax?: number;
  /** A signing worker: the main thread's held checkpoints (read only; the main thread accepts). */
  readonly checkpoints?: CheckpointLookup;
}

/** Limits on what one host can make us hold (P7): a restart would change the signing key. */
export const CHANNEL_LIMITS = {
  /** Connections per role, and in all. */
  connectionsPerRole: { read: 16, write: 8, provision: 2 } as Readonly<Record<ChannelRole, number>>,
  maxConnections: 26,
  /** Until Hello arrives a connection may send only this much. */
  helloMaxBytes: 1024,
  /** Async work (attestation, provisioning) in flight per connection. */
  maxPendingPerConnection: 8,
  /** Stop reading a connection whose replies the host is not reading. */
  maxUnreadReplyBytes: 64 * 1024 * 1024,
} as const;

/** Tickets older than this cannot be turned into a signed push answer. */
export const WRITE_TICKET_TTL_MS = 60_000;

/** The fixed texts of refusals that go into signed answers (signer-authored only, P5; wire/errors.ts). */
const GUARD_MESSAGES = {
  rolled_back: entityMessage("rolled_back"),
  high_water_full: entityMessage("high_water_full"),
} as const;

/** Any coded refusal becomes an error reply whose status is the catalog's; anything else is signer_error. */
function errorFrame(id: number, err: unknown): Buffer {
  const coded =
    err instanceof LaneError ||
    err instanceof SealProvisioningError ||
    err instanceof FrameFieldError ||
    err instanceof KeyStateError ||
    err instanceof WriterAuthError ||
    err instanceof RegistryStateError;
  const reply: ErrorReply = coded ? { code: err.code, message: err.message, status: statusOf(err.code) } : errorReply("signer_error");
  return encodeFrame(id, FrameKind.Error, reply);
}

/** The frame for an answer that comes later (attestation, provisioning): its reply, or the error it failed with. */
function replyFrameLater(id: number, answer: Promise<unknown>): Promise<Buffer> {
  return answer.then(
    (reply) => encodeFrame(id, FrameKind.Reply, reply),
    (err: unknown) => errorFrame(id, err),
  );
}

/** An error reply with the catalog's status and (unless given) message. */
function errorReply(code: ErrorCode, message?: string): ErrorReply {
  const e = new LaneError(code, message);
  return { code: e.code, message: e.message, status: e.status };
}

type TicketBody = Omit<WriteTicket, "mac">;

export class Signer {
  readonly key: SigningKey;
  private readonly nsm?: Nsm;
  private readonly validitySeconds: number;
  private readonly now: () => number;
  private readonly keys: KeyringSource;
  private readonly provisioner?: KeyProvisioner;
  private readonly laneKeys?: LaneKeys;
  private readonly fixed: { readonly registry: Registry; readonly ref: RegistryRef };
  private readonly registryState?: RegistryState;
  readonly highWater: HighWaterMarks | SharedHighWaterMarks;
  private readonly nonces = new NonceCache((WRITER_SIGNATURE_MAX_AGE_S + 2 * WRITER_SIGNATURE_FUTURE_SKEW_S) * 1000);
  /** Born here, never leaves: write tickets are MACs only this process can make. */
  private readonly ticketKey = randomBytes(32);
  private readonly connections: Record<ChannelRole | "pending", number> = { read: 0, write: 0, provision: 0, pending: 0 };
  private readonly guard: EntityGuard;
  /** Present only when stage tracing is on. */
  private readonly gcPauses?: GcPauses;
  /** Present only with workers ≥ 2. */
  readonly workerPool?: SignWorkerPool;
  /** What the workers were last given (identity of the keyring, lane keys version). */
  private workerKeyring: SealKeyring | null = null;
  private workerLaneKeys = -1;
  private workerRegistry = "";
  /** P8: the checkpoints this thread accepts (absent in a signing worker, which reads `checkpointLookup`). */
  readonly checkpointState?: CheckpointState;
  private readonly checkpointLookup: CheckpointLookup;
  /** P8: proof outcomes this thread has verified (enclave/checkpoint-state.ts VerifiedLookups). */
  private readonly verifiedLookups: VerifiedLookups;

  constructor(options: SignerOptions) {
    this.key = options.key ?? SigningKey.generate();
    this.nsm = options.nsm;
    this.validitySeconds = options.validitySeconds ?? DEFAULT_SIGNATURE_VALIDITY_S;
    this.now = options.now ?? Date.now;
    this.provisioner = options.provisioner;
    this.laneKeys = options.laneKeys ?? options.provisioner?.laneKeys;
    this.keys = options.keys ?? options.provisioner?.state ?? { keyring: null };
    // A fixed registry (unit tests) is named like an image default: version 0, its own digest.
    if (!options.registry && !options.registryState) throw new Error("a Signer needs its views: a registry or a registry state");
    this.fixed = options.registry
      ? { registry: options.registry, ref: options.registryRef ?? defaultRegistryRef(options.registry.all.map(viewDocumentFromSpec)) }
      : options.registryState!.current;
    this.registryState = options.registryState;
    const workers = options.workers ?? 1;
    if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw new Error("workers must be an integer in 1..64");
    this.verifiedLookups = new VerifiedLookups(options.verifiedLookupsMax);
    if (options.checkpoints) this.checkpointLookup = options.checkpoints;
    else {
      this.checkpointState = new CheckpointState({
        lane: options.checkpointLane ?? options.provisioner?.state.trust.lane,
        keyring: () => this.keys.keyring,
        registry: () => this.registryNow().registry,
        maySequence: (kid, view) => (this.keys.maySequence ? this.keys.maySequence(kid, view) : this.keys.keyring?.writeKey(kid) !== undefined),
        now: this.now,
      });
      this.checkpointLookup = this.checkpointState.held;
    }
    this.highWater = options.highWater ?? (workers > 1 ? new SharedHighWaterMarks(options.maxTrackedEntities) : new HighWaterMarks(options.maxTrackedEntities));
    if (options.traceStages) this.gcPauses = new GcPauses();
    if (workers > 1) {
      const shared = this.highWater as SharedHighWaterMarks;
      this.workerKeyring = this.keys.keyring;
      this.workerLaneKeys = this.laneKeys?.version ?? 0;
      this.workerRegistry = this.registryNow().ref.digest;
      this.workerPool = new SignWorkerPool(
        workers,
        { key: this.key.threadKey(), validitySeconds: this.validitySeconds, highWater: shared.handle, traceStages: options.traceStages === true },
        this.workerState(),
        options.workerScript,
      );
    }
    this.guard = (view, entity, eventTime) => {
      const verdict = this.highWater.admit(view, entity, eventTime);
      return verdict === "ok" ? null : { code: verdict, message: GUARD_MESSAGES[verdict] };
    };
  }

  /**
   * The registry this request is answered with, read once per request (a document accepted
   * meanwhile applies from the next one) and named in the answer.
   */
  private registryNow(): { readonly registry: Registry; readonly ref: RegistryRef } {
    if (this.registryState) return this.registryState.current;
    return this.fixed;
  }

  /** The registry every answer names now (version, digest). */
  get registryRef(): RegistryRef {
    return this.registryNow().ref;
  }

  /** Build and sign the HTTP answer for one read. Throws LaneError for malformed input. */
  signRead(raw: SignReadRequest): SignedResponse {
    // The signed read time: max age (OUTSIDE_MAX_AGE) is judged against the `created` we sign.
    const created = Math.floor(this.now() / 1000);
    const { registry, ref } = this.registryNow();
    const ctx = {
      seals: this.keys.keyring,
      readTimeMs: created * 1000,
      registry,
      registryRef: ref,
      guard: this.guard,
      checkpoints: this.checkpointLookup,
      verifiedLookups: this.verifiedLookups,
    };
    // Our own grammar, or Feast's (POST /get-online-features): both re-parsed from the exact request we sign.
    const request = isFeastRequest(raw.method, raw.path) ? parseFeastRequest(raw, registry) : parseReadRequest(raw, registry);
    const rendered = request.kind === "feast" ? renderFeast(request, raw.objects, ctx, raw.proofs) : renderRead(request, raw.objects, ctx, raw.proofs);
    // The metrics copies go on the signed answer as it is (no second object per read).
    const signed: { -readonly [K in keyof SignedResponse]: SignedResponse[K] } = this.signAnswer(rendered, raw, request.signature, created);
    if (rendered.entityErrors.length > 0) signed.entityErrors = rendered.entityErrors;
    signed.served = rendered.served;
    return signed;
  }

  /** The key state workers sign with: the same objects this thread holds, cloned in memory. */
  private workerState(): SignWorkerState {
    const keyring = this.keys.keyring;
    return {
      keyring: keyring ? { keys: keyring.entries(), activeKid: keyring.activeKid, expiresAt: keyring.expiresAt } : null,
      laneKeys: (this.laneKeys?.list(this.now()) ?? []).map((h) => ({ kid: h.key.keyid, privateKey: h.key.threadKey(), notBefore: h.notBefore, notAfter: h.notAfter })),
      // The views this thread answers with now: workers answer with the same registry and name it.
      registry: (({ registry, ref }) => ({ views: registry.all.map(viewDocumentFromSpec), ref }))(this.registryNow()),
      checkpoints: this.checkpointState?.held.snapshot() ?? [],
    };
  }

  /** Before a read goes to a worker: give the workers any key change provisioning made since. */
  private syncWorkers(pool: SignWorkerPool): void {
    const keyring = this.keys.keyring;
    const lane = this.laneKeys?.version ?? 0;
    const registry = this.registryNow().ref.digest;
    if (keyring === this.workerKeyring && lane === this.workerLaneKeys && registry === this.workerRegistry) return;
    this.workerKeyring = keyring;
    this.workerLaneKeys = lane;
    this.workerRegistry = registry;
    pool.setState(this.workerState());
  }

  /** Stop the signing workers (tests; the process exits otherwise). */
  async close(): Promise<void> {
    await this.workerPool?.close();
    this.gcPauses?.stop();
  }

  /** signRead with the timing trailer (stage tracing): the same answer, plus when it was made. */
  private signReadTraced(request: SignReadRequest, received: number, gc: GcPauses): SignedResponse {
    const decoded = nowUs();
    const signed = this.signRead(request);
    return { ...signed, trace: { received, decoded, signed: nowUs(), gc: gc.take() } };
  }

  /** RFC 9421 over an answer this signer built, bound to the request it was built for. */
  private signAnswer(
    answer: { status: number; contentType: string; body: Buffer },
    request: { method: string; path: string; query: string; body?: Uint8Array; bodyDigest?: string },
    signature: { label: string; nonce?: string },
    created = Math.floor(this.now() / 1000),
  ): SignedResponse {
    const digest = contentDigest(answer.body);
    // A request with a body (POST) is covered by its digest: the host cannot swap the batch (P3).
    const requestContentDigest = request.bodyDigest ?? (request.method === "POST" ? contentDigest(request.body ?? new Uint8Array(0)) : undefined);
    // The lane key when one is valid now (every host of the lane signs with it), else our own.
    const key = this.laneKeys?.current(created * 1000) ?? this.key;
    const params = serializeSignatureParams({
      created,
      expires: created + this.validitySeconds,
      keyid: key.keyid,
      nonce: signature.nonce,
      requestHasBody: requestContentDigest !== undefined,
    });
    const base = signatureBase(
      { status: answer.status, contentType: answer.contentType, contentDigest: digest, method: request.method, path: request.path, query: request.query, requestContentDigest },
      params,
    );
    const headers = signatureHeaders(signature.label, params, key.sign(base));
    return { status: answer.status, contentType: answer.contentType, contentDigest: digest, ...headers, body: answer.body };
  }

  private ticketMac(t: TicketBody): Buffer {
    const text = JSON.stringify([
      t.issued,
      t.parsedAt,
      t.method,
      t.path,
      t.query,
      t.requestDigest,
      t.view,
      t.writer,
      t.kid,
      t.kind,
      t.registryVersion,
      t.registryDigest,
      t.attempt,
      t.rows,
    ]);
    return createHmac("sha256", this.ticketKey).update("express-lane/write-ticket/v1\n").update(text).digest();
  }

  /**
   * Push API (P1): verify the writer's request signature with the writer's own key, refuse stale
   * or replayed signatures, validate each row against the registry built into this image, and seal
   * the valid ones under that writer's key. The host gets sealed bytes to store and a ticket that
   * lets it ask for the signed answer later; it never sees a key.
   */
  sealWrite(request: SealWriteRequest): SealWriteResponse {
    const now = this.now();
    const keyring = this.keys.keyring;
    if (!keyring) throw new LaneError("seal_key_unavailable", "signer has no key directory loaded");
    if (now >= keyring.expiresAt) throw new LaneError("key_directory_expired", "the signer's key directory has expired");
    const auth = parseWriterSignature(request, request.writerSignature, Math.floor(now / 1000));
    const writeKey = keyring.writeKey(auth.kid);
    if (!writeKey) throw new WriterAuthError("writer_key_unknown", "keyid is not a write key in the current key directory (unknown, verify-only or revoked)");
    if (!timingSafeEqual(writerMac(writeKey.key, auth.base), auth.mac)) throw new WriterAuthError("writer_signature_invalid", "writer signature does not verify");
    let attempt = 1;
    let parseTime = now;
    if (request.retryOf) {
      // A retry after a lost conditional write: only for a ticket we issued for this very request,
      // within its lifetime and the attempt bound. The rows are re-derived from the same body (and,
      // for a body-less delete, the same time), so a retry re-applies exactly what the writer signed.
      const prior = this.checkTicket(request.retryOf);
      if (
        prior.method !== request.method ||
        prior.path !== request.path ||
        prior.query !== request.query ||
        prior.requestDigest !== contentDigest(request.body ?? new Uint8Array(0)) ||
        prior.kid !== auth.kid
      ) {
        throw new LaneError("bad_write_ticket", "retry ticket is for another request");
      }
      if (prior.attempt >= MAX_WRITE_ATTEMPTS) throw new LaneError("write_conflict", `still conflicting after ${MAX_WRITE_ATTEMPTS} attempts; retry the push`);
      attempt = prior.attempt + 1;
      parseTime = prior.parsedAt;
    }
    const { registry, ref } = this.registryNow();
    const parsed = parseWriteRequest(request, registry, parseTime);
    if (!request.retryOf) {
      const replay = this.nonces.check(auth.kid, auth.nonce, now);
      if (replay === "replayed") throw new LaneError("push_replayed", "this writer signature was already used");
      if (replay === "full") throw new LaneError("push_replay_cache_full", "too many pushes within the signature window; retry shortly");
    }
    const current = new Map<string, Uint8Array | null>();
    for (const c of request.current ?? []) {
      if (current.has(c.entity)) throw new LaneError("bad_body", "two current objects for one entity");
      current.set(c.entity, c.object);
    }
    const rows = parsed.rows.map((row, index): SealedRow => {
      if (!row.ok) return { index, entity: row.entity, error: row.error };
      const refuse = (code: string, message: string): SealedRow => ({ index, entity: row.entity, error: { code, message } });
      // A host that sends current objects must account for every entity (null = none stored): an
      // entity left out is a runtime that could not parse the push (say, a registry that differs
      // from ours), and merging it from nothing would silently drop its other features.
      if (request.current !== undefined && !current.has(row.entity))
        return refuse("current_object_missing", "the host sent no current object (nor its absence) for this entity; nothing was merged");
      const bytes = current.get(row.entity) ?? null;
      let base: FeatureObject | null = null;
      if (bytes !== null) {
        // The host chose these bytes: merge only into an object a listed key sealed for this very
        // (view, entity), and not one older than a version we have already served or sealed (P2).
        const opened = keyring.open(bytes, parsed.view, row.entity, null, now);
        if (!opened.ok) return refuse("current_object_invalid", `the current stored object was refused (${opened.code}): ${opened.message}`);
        const verdict = this.highWater.admit(parsed.view, row.entity, opened.object.event_time);
        if (verdict !== "ok") return refuse(verdict, GUARD_MESSAGES[verdict]);
        base = opened.object;
      } else {
        // No current object: if we have seen a version newer than this row, the host withheld it.
        const mark = this.highWater.mark(parsed.view, row.entity);
        if (mark !== undefined && row.event_time < mark) {
          return refuse(
            "older_than_stored",
            `event_time ${new Date(row.event_time).toISOString()} is older than a version of this entity this signer has served or sealed (${new Date(mark).toISOString()}); newer event time wins`,
          );
        }
      }
      const merged = mergeRow(parsed.view, base, row, parsed.mode);
      if (!merged.ok) return refuse(merged.code, merged.message);
      if (merged.unchanged) {
        const object = Buffer.from(bytes!.buffer, bytes!.byteOffset, bytes!.byteLength);
        return { index, entity: row.entity, event_time: row.event_time, object, object_digest: createHash("sha256").update(object).digest("base64"), unchanged: true };
      }
      // The mark (P2) is raised when the host reports this version stored (signWriteOutcome), not
      // here: a sealed version that loses its conditional write never existed in the store, and
      // must not make the object that won look rolled back to the retry that merges into it.
      const object = keyring.seal({ ...merged.object, written_time: now }, auth.kid);
      return { index, entity: row.entity, event_time: row.event_time, object, object_digest: createHash("sha256").update(object).digest("base64") };
    });
    const body: TicketBody = {
      issued: now,
      parsedAt: parseTime,
      method: request.method,
      path: request.path,
      query: request.query,
      requestDigest: contentDigest(request.body ?? new Uint8Array(0)),
      view: parsed.view,
      writer: writeKey.writer,
      kid: auth.kid,
      kind: parsed.kind,
      registryVersion: ref.version,
      registryDigest: ref.digest,
      attempt,
      rows: rows.map((r) => ("error" in r ? ([r.index, r.entity ?? "", r.error.code, r.error.message] as const) : ([r.index, r.entity, r.event_time, r.object_digest] as const))),
    };
    return { view: parsed.view, kid: auth.kid, writer: writeKey.writer, rows, ticket: { ...body, mac: this.ticketMac(body) } };
  }

  /** A ticket this signer issued, unaltered, within its lifetime; else bad_write_ticket. */
  private checkTicket(ticket: WriteTicket): TicketBody {
    const { mac, ...body } = ticket;
    if (mac.length !== 32 || !timingSafeEqual(Buffer.from(mac), this.ticketMac(body)))
      throw new LaneError("bad_write_ticket", "write ticket was not issued by this signer or was altered");
    if (this.now() - ticket.issued > WRITE_TICKET_TTL_MS || ticket.issued > this.now()) throw new LaneError("bad_write_ticket", "write ticket expired");
    return body;
  }

  /**
   * The push answer, signed (P3): only for a ticket this signer issued (so only rows it sealed,
   * with the digests of the objects it made), within its lifetime. From the host we take only what
   * it alone knows — what each conditional PUT did — and the answer says so.
   */
  signWriteOutcome(request: SignWriteOutcomeRequest): SignedResponse {
    const { ticket } = request;
    this.checkTicket(ticket);
    const signature = parseAcceptSignature(request.acceptSignature);
    const outcomes = new Map<number, WriteOutcome>();
    for (const o of request.outcomes) {
      if (outcomes.has(o.index)) throw new LaneError("bad_body", `two outcomes for row ${o.index}`);
      outcomes.set(o.index, o);
    }
    const results = ticket.rows.map((row) => {
      const [index, entity, third, fourth] = row;
      if (typeof third === "string") return { entity, result: "rejected", error: { code: third, message: fourth } };
      const outcome = outcomes.get(index);
      if (!outcome) throw new LaneError("bad_body", `no store outcome for row ${index}`);
      outcomes.delete(index);
      // A version the host says it stored raises the entity's mark (P2): from now on an older one
      // is refused, for reads and as a merge base. A host that under-reports only keeps a mark low
      // that it could keep low anyway by not storing the object; over-reporting only fails closed.
      if (outcome.result === "written" || outcome.result === "unchanged") this.highWater.admit(ticket.view, entity, third);
      return {
        entity,
        result: outcome.result,
        written_by: ticket.writer,
        event_time: new Date(third).toISOString(),
        object_digest: fourth,
        stored_event_time: new Date(outcome.stored_event_time).toISOString(),
      };
    });
    if (outcomes.size > 0) throw new LaneError("bad_body", "outcomes for rows that were not sealed");
    const answerTo = { method: ticket.method, path: ticket.path, query: ticket.query, bodyDigest: ticket.requestDigest };
    if (ticket.kind !== "batch") {
      const r = results[0];
      if (!r || r.result === "rejected") throw new LaneError("bad_body", "a rejected single row has no signed answer");
      const answer = {
        view: ticket.view,
        registry_version: ticket.registryVersion,
        registry_digest: ticket.registryDigest,
        kid: ticket.kid,
        ...r,
        ...(ticket.kind === "delete" ? { deleted: true } : {}),
        outcome_reported_by: "host",
      };
      return this.signAnswer({ status: r.result === "written" ? 201 : 200, ...encodeBody("json", answer) }, answerTo, signature);
    }
    const summary = { written: 0, unchanged: 0, skipped_older: 0, conflict: 0, rejected: 0 };
    for (const r of results) summary[r.result as keyof typeof summary]++;
    return this.signAnswer(
      {
        status: 200,
        ...encodeBody("json", {
          view: ticket.view,
          registry_version: ticket.registryVersion,
          registry_digest: ticket.registryDigest,
          kid: ticket.kid,
          written_by: ticket.writer,
          summary,
          results,
          outcome_reported_by: "host",
        }),
      },
      answerTo,
      signature,
    );
  }

  /** The writer key ids the signer verifies with now; empty before a key directory. */
  get sealKids(): string[] {
    return this.keys.keyring?.kids ?? [];
  }

  /** Key directory and key material from the host (enclave/key-provisioning.ts). */
  async provisionKeys(message: ProvisionKeysRequest): Promise<ProvisionKeysResponse> {
    if (!this.provisioner) throw new SealProvisioningError("kms_provisioning_disabled", "this signer takes no key provisioning");
    return this.provisioner.provision(message);
  }

  /**
   * A registry document from the host (enclave/registry-state.ts), or none: the registry held now.
   * A refusal leaves the held registry unchanged.
   */
  provisionRegistry(message: ProvisionRegistryRequest): ProvisionRegistryResponse {
    if (!this.registryState) throw new RegistryStateError("bad_registry_document", "this signer serves a fixed registry and takes no registry documents");
    const held = message.document ? this.registryState.accept(message.document) : this.registryState.current;
    return { version: held.ref.version, digest: held.ref.digest, ...(held.signed ? { document: held.signed } : {}) };
  }

  /**
   * Writer checkpoints from the host (P8, enclave/checkpoint-state.ts): each accepted or refused on
   * its own. Accepted ones reach every signing worker before this reply goes out (messages to a
   * worker are ordered), so a read the host proves against them after the reply finds them held.
   */
  provideCheckpoints(message: ProvideCheckpointsRequest): ProvideCheckpointsResponse {
    if (!this.checkpointState) throw new LaneError("bad_body", "a signing worker takes no checkpoints");
    const before = this.checkpointState.version;
    const reply = this.checkpointState.provide(message.checkpoints);
    if (this.workerPool !== undefined && this.checkpointState.version !== before) this.workerPool.setCheckpoints(this.checkpointState.held.snapshot());
    return reply;
  }

  /** A fresh attestation document whose public_key is our signing key. */
  async attest(message: AttestRequest): Promise<AttestResponse> {
    if (!this.nsm) throw new LaneError("bad_body", "this signer has no NSM configured");
    const nonce = message.nonce ? Buffer.from(message.nonce) : undefined;
    if (nonce && nonce.length > MAX_NONCE_LENGTH) throw new LaneError("bad_query", `nonce longer than ${MAX_NONCE_LENGTH} bytes`);
    // user_data names the lane keys this enclave signs with: an attested consumer may trust them
    // (KMS releases them only to the measured image), and pin one key for the whole lane.
    const lane = (this.laneKeys?.list(this.now()) ?? []).map((h) => h.key.keyid);
    // ... and the registry it answers with now, so an attested consumer sees which views it serves.
    const ref = this.registryNow().ref;
    const userData = Buffer.from(JSON.stringify({ ...(lane.length > 0 ? { lane_keys: lane } : {}), registry_version: ref.version, registry_digest: ref.digest }), "utf8");
    const document = await this.nsm.attest({ publicKey: this.key.publicKeyRaw, nonce, userData });
    return { document, keyid: this.key.keyid };
  }

  /**
   * Answer one frame of a connection in `role`; never throws (a failure is an Error frame for that
   * request id). Reads are answered synchronously, without a promise hop on the hot path.
   */
  handle(frame: Frame, role: ChannelRole, receivedAt = 0): Buffer | Promise<Buffer> {
    try {
      if (!ROLE_FRAMES[role].has(frame.kind)) {
        return encodeFrame(frame.id, FrameKind.Error, errorReply("frame_not_allowed", `frame kind ${frame.kind} is not allowed on a ${role} connection`));
      }
      switch (frame.kind) {
        case FrameKind.KeyInfo:
          return encodeFrame(frame.id, FrameKind.Reply, this.key.info);
        case FrameKind.SignRead: {
          const request = decodeSignRead(frame.payload);
          if (request.trace === true && this.gcPauses !== undefined) return encodeFrame(frame.id, FrameKind.Reply, this.signReadTraced(request, receivedAt, this.gcPauses));
          return encodeFrame(frame.id, FrameKind.Reply, this.signRead(request));
        }
        case FrameKind.SealWrite:
          return encodeFrame(frame.id, FrameKind.Reply, this.sealWrite(decodeSealWrite(frame.payload)));
        case FrameKind.SignWriteOutcome:
          return encodeFrame(frame.id, FrameKind.Reply, this.signWriteOutcome(decodeSignWriteOutcome(frame.payload)));
        case FrameKind.ProvisionKeys:
          return replyFrameLater(frame.id, this.provisionKeys(decodeProvisionKeys(frame.payload)));
        case FrameKind.ProvisionRegistry:
          return encodeFrame(frame.id, FrameKind.Reply, this.provisionRegistry(decodeProvisionRegistry(frame.payload)));
        case FrameKind.ProvideCheckpoints:
          return encodeFrame(frame.id, FrameKind.Reply, this.provideCheckpoints(decodeProvideCheckpoints(frame.payload)));
        case FrameKind.Attest:
          return replyFrameLater(frame.id, this.attest(decodeAttest(frame.payload)));
        default:
          return encodeFrame(frame.id, FrameKind.Error, errorReply("bad_frame", `unknown frame kind ${frame.kind}`));
      }
    } catch (err) {
      return errorFrame(frame.id, err);
    }
  }

  /**
   * Serve one connection: Hello first (declares the role), then frames of that role, replies
   * coalesced per event-loop turn. Bounded: frame size by role, async work in flight, unread reply
   * bytes (the socket is paused until the host reads), connections per role.
   */
  serveConnection(socket: Socket): void {
    socket.setNoDelay(true);
    const decoder = new FrameDecoder(CHANNEL_LIMITS.helloMaxBytes);
    const writer = new FrameWriter((data) => {
      if (!socket.write(data) && socket.writableLength > CHANNEL_LIMITS.maxUnreadReplyBytes) socket.pause();
    });
    socket.on("drain", () => socket.resume());
    let role: ChannelRole | null = null;
    let pending = 0;
    this.connections.pending++;
    let counted: ChannelRole | "pending" = "pending";
    const drop = (): void => {
      socket.destroy();
    };
    socket.on("data", (chunk: Buffer) => {
      const receivedAt = this.gcPauses === undefined ? 0 : nowUs();
      let frames: Frame[];
      try {
        frames = decoder.push(chunk);
      } catch {
        // A broken stream cannot be resynchronised: drop the connection, the runtime reconnects.
        drop();
        return;
      }
      // Reads for the signing workers: gathered over this chunk, one message per worker (sign-workers.ts).
      let forWorkers: Frame[] | undefined;
      for (const frame of frames) {
        if (role === null) {
          if (frame.kind !== FrameKind.Hello) return drop();
          let hello;
          try {
            hello = decodeHello(frame.payload);
          } catch {
            return drop();
          }
          if (hello.protocol !== FRAME_PROTOCOL_VERSION || this.connections[hello.role] >= CHANNEL_LIMITS.connectionsPerRole[hello.role]) {
            writer.send(
              encodeFrame(
                frame.id,
                FrameKind.Error,
                errorReply("hello_refused", `protocol ${FRAME_PROTOCOL_VERSION} only; at most ${CHANNEL_LIMITS.connectionsPerRole[hello.role]} ${hello.role} connections`),
              ),
            );
            socket.end();
            return;
          }
          role = hello.role;
          this.connections.pending--;
          this.connections[role]++;
          counted = role;
          decoder.maxFrameBytes = ROLE_MAX_FRAME_BYTES[role];
          const reply: HelloReply = { ...this.key.info, role, protocol: FRAME_PROTOCOL_VERSION };
          writer.send(encodeFrame(frame.id, FrameKind.Reply, reply));
          continue;
        }
        if (this.workerPool !== undefined && role === "read" && frame.kind === FrameKind.SignRead) {
          (forWorkers ??= []).push(frame);
          continue;
        }
        const reply = this.handle(frame, role, receivedAt);
        if (Buffer.isBuffer(reply)) writer.send(reply);
        else if (pending >= CHANNEL_LIMITS.maxPendingPerConnection) {
          void reply.catch(() => undefined);
          writer.send(encodeFrame(frame.id, FrameKind.Error, errorReply("signer_busy", "too many requests in flight on this connection")));
        } else {
          pending++;
          void reply.then((r) => {
            pending--;
            writer.send(r);
          });
        }
      }
      if (forWorkers !== undefined && this.workerPool !== undefined) {
        this.syncWorkers(this.workerPool);
        this.workerPool.signMany(forWorkers, receivedAt, (replies) => writer.send(replies));
      }
    });
    socket.on("error", () => socket.destroy());
    socket.on("close", () => {
      writer.clear();
      this.connections[counted]--;
    });
  }

  async listen(path: string): Promise<Server> {
    await this.workerPool?.ready();
    const server = createServer((socket) => this.serveConnection(socket));
    server.maxConnections = CHANNEL_LIMITS.maxConnections;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, () => {
        server.off("error", reject);
        resolve(server);
      });
    });
  }
}

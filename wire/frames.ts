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
import { Packr, Unpackr } from "msgpackr";
import type { Ed25519Jwk } from "./keys";
import type { RawReadRequest } from "./request";
import type { RawWriteRequest } from "./write";

export const FRAME_HEADER_BYTES = 9;
/** A batch of 100 × 1 MiB objects would exceed this; the runtime bounds objects and batches first. */
export const MAX_FRAME_BYTES = 32 * 1024 * 1024;

export enum FrameKind {
  /** runtime → signer: { } → KeyInfo */
  KeyInfo = 1,
  /** runtime → signer: SignReadRequest → SignedResponse */
  SignRead = 2,
  /** runtime → signer: AttestRequest → AttestResponse */
  Attest = 3,
  /** runtime → signer: SealWriteRequest → SealWriteResponse (push API; the signer validates and seals) */
  SealWrite = 4,
  /**
   * runtime → signer: ProvisionSealKeysRequest → ProvisionSealKeysResponse (production: KMS-wrapped
   * seal keys + the instance role's temporary credentials; the signer unwraps them with its own
   * attestation against the seal KMS key pinned in its image — enclave/seal-provisioning.ts)
   */
  ProvisionSealKeys = 5,
  /**
   * runtime → signer: SignWriteOutcomeRequest → SignedResponse (the push answer: the signer rebuilds
   * it from the request it validated and sealed plus the store outcomes the host reports, and signs it)
   */
  SignWriteOutcome = 6,
  /** signer → runtime: reply to the request with the same id */
  Reply = 0x40,
  /** signer → runtime: ErrorReply for the request with the same id */
  Error = 0x7f,
}

export interface KeyInfo {
  readonly keyid: string;
  readonly alg: "ed25519";
  readonly jwk: Ed25519Jwk;
}

/**
 * What the runtime sends for a read: the raw request facts (the signer re-parses them itself) and
 * the stored object bytes for each entity in request order, or null where the store had none.
 */
export interface SignReadRequest extends RawReadRequest {
  readonly objects: ReadonlyArray<Uint8Array | null>;
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
}

/** A push: the raw request facts; the signer re-parses and validates them (wire/write.ts). */
export type SealWriteRequest = RawWriteRequest;

export type SealedRow =
  | { readonly index: number; readonly entity: string; readonly event_time: number; readonly object: Uint8Array }
  | { readonly index: number; readonly entity?: string; readonly error: { readonly code: string; readonly message: string } };

/** Sealed objects (layout v2) for the valid rows, a reason for each rejected one; request order. */
export interface SealWriteResponse {
  readonly view: string;
  readonly kid: string;
  readonly rows: readonly SealedRow[];
}

/** What the host's conditional PUT did with one sealed row (host-reported; the answer says so). */
export interface WriteOutcome {
  readonly index: number;
  readonly result: "written" | "unchanged" | "skipped_older";
  /** Event time (ms) of the object now stored under the key. */
  readonly stored_event_time: number;
}

export interface SignWriteOutcomeRequest extends RawWriteRequest {
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
 * The host hands the signer what it cannot use itself: seal key ciphertexts (not secret) and
 * temporary credentials that only let the enclave *ask* KMS — the key policy answers only to the
 * attested image. `wrapped` is the full set the signer should hold (first = active unless the image
 * pins one); kids already unwrapped are reused without a KMS call, so re-sending is idempotent.
 */
export interface ProvisionSealKeysRequest {
  /** Must equal the region pinned in the image when given. */
  readonly region?: string;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string };
  readonly wrapped: ReadonlyArray<{ readonly kid: string; readonly ciphertextBlob: Uint8Array }>;
}

export interface ProvisionSealKeysResponse {
  /** Seal key ids the signer now verifies with, and the one it seals pushes with. */
  readonly kids: readonly string[];
  readonly activeKid: string;
  /** Kids unwrapped through KMS by this request (the rest were already held). */
  readonly unwrapped: readonly string[];
  /** The pinned seal KMS key ARN (from the measured image). */
  readonly keyArn: string;
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
}

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

export function encodeFrame(id: number, kind: FrameKind, message: unknown): Buffer {
  const payload = packr.pack(message);
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  frame.writeUInt32BE(5 + payload.length, 0);
  frame.writeUInt32BE(id >>> 0, 4);
  frame.writeUInt8(kind, 8);
  payload.copy(frame, FRAME_HEADER_BYTES);
  return frame;
}

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
 * 64 KB reads) is collected as a list and concatenated once, when its last byte has arrived —
 * not once per chunk, which copied ≈ 1.8 MB per batch frame.
 */
export class FrameDecoder {
  private buffer: Buffer = Buffer.alloc(0);
  /** Chunks received after `buffer` while waiting for the rest of a frame. */
  private parts: Buffer[] = [];
  private held = 0;
  /** Bytes the incomplete frame at the start of the held data needs in all (0 = not yet known). */
  private needed = 0;

  constructor(private readonly maxFrameBytes = MAX_FRAME_BYTES) {}

  push(chunk: Buffer): Frame[] {
    if (this.held === 0) {
      this.buffer = chunk;
    } else {
      this.parts.push(chunk);
      this.held += chunk.length;
      if (this.needed !== 0 && this.held < this.needed) return []; // 0: the length itself is still incomplete
      this.buffer = Buffer.concat([this.buffer, ...this.parts], this.held);
      this.parts = [];
    }
    const frames: Frame[] = [];
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

  constructor(private readonly write: (data: Buffer) => void) {}

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
  };

  /** Drop anything queued (the connection is gone; callers fail their pending requests). */
  clear(): void {
    this.queue = [];
  }
}

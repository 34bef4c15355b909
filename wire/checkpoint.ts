/**
 * Writer checkpoints (issue #16, docs/trust.md "P8 Provable freshness"): a view's sequencer — the one
 * writer that owns the view's entity map (wire/entity-map.ts) — vouches, under its writer key, that
 * `root` holds the newest object of every entity of `view` whose write it had learned of by `as_of`.
 * The host carries checkpoints (it cannot make one: it has no writer key) and proofs against them;
 * the enclave accepts a checkpoint only from a "write" key of its key directory, only for its own
 * lane, and only with a seq above the one it holds for the view; then it signs, per entity served,
 * `fresh_as_of` = the as_of of the checkpoint the entity's proof is against.
 *
 *   sealed checkpoint = msgpack { v: 1, body: bin, seal: { kid: str, mac: bin } }
 *   body              = msgpack { v: 1, lane, view, seq, as_of, root: bin(32), entities }
 *   mac               = HMAC-SHA256(writer key[kid], CHECKPOINT_DOMAIN || kid || 0x0a || body)
 *
 * CHECKPOINT_DOMAIN differs from the object seal's domain (wire/object.ts SEAL_DOMAIN), so a
 * checkpoint MAC can never be presented as an object seal or the other way round.
 *
 * Leaf value of an entity in the map (40 bytes):
 *   value = int64_be(event_time ms of the entity's current object) || SHA-256(sealed object bytes)
 * A tombstone is an object like any other (its digest is the leaf); a purged entity has no leaf.
 * The event time lets the enclave tell "the served object is newer than what the checkpoint knew"
 * (a write after as_of: still no newer version existed at as_of) from "the served object is older
 * than the checkpoint's" (a roll-back: refused).
 *
 * Proof on the wire (SignReadRequest.proofs, one per object, parallel to `objects`):
 *   { seq, siblings: bin(32·depth, root-down), leaf_key?: bin(32), leaf_value?: bin(40) }
 * `seq` names the held checkpoint of the entity's view the proof is against.
 *
 * Shared by the sequencer (seals), the host (forwards, builds proofs) and the enclave (verifies);
 * no key storage and no I/O here.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { Packr } from "msgpackr";
import { DIGEST_BYTES, KEY_BYTES, MAX_PROOF_DEPTH, VALUE_BYTES, type EntityMapProof, type PackedEntityMapProof } from "./entity-map";
import { LANE_NAME } from "./key-directory";
import { SEAL_KID } from "./object";
import { asBuffer } from "./msgpack-scan";

export const CHECKPOINT_VERSION = 1;
export const CHECKPOINT_DOMAIN = "express-lane/checkpoint/v1\n";
export const CHECKPOINT_MAC_BYTES = 32;
/** A sealed checkpoint is ~200 bytes; bound what anyone parses. */
export const MAX_SEALED_CHECKPOINT_BYTES = 1024;
/** A checkpoint's as_of may be this far ahead of the enclave's clock (writer clock skew). */
export const CHECKPOINT_FUTURE_SKEW_MS = 30_000;
/**
 * An object the map does not hold, served with an absence proof, is accepted as "written after the
 * checkpoint" only if it was sealed at most this long before as_of (a write is reported to the
 * sequencer a little after it is sealed); an older one is a purged entity put back or a write never
 * reported, and is refused.
 */
export const CHECKPOINT_REPORT_WINDOW_MS = 60_000;
/** View names as the registry allows them (wire/names.ts validates; this only bounds the length). */
const MAX_VIEW_NAME = 128;

export interface Checkpoint {
  readonly v: typeof CHECKPOINT_VERSION;
  /** The lane whose key directory lists the sealing key (an enclave refuses another lane's). */
  readonly lane: string;
  readonly view: string;
  /** Starts at 1 and only moves forward; a heartbeat is a new seq with the same root. */
  readonly seq: number;
  /** ms since epoch: every write the sequencer learned of before this time is in `root`. */
  readonly as_of: number;
  /** The entity map's root (wire/entity-map.ts). */
  readonly root: Buffer;
  /** Number of entities in the map (informational; not checked by proofs). */
  readonly entities: number;
}

export interface SealedCheckpoint {
  readonly checkpoint: Checkpoint;
  readonly kid: string;
  /** The body's exact bytes (what the MAC covers). */
  readonly body: Buffer;
  readonly mac: Buffer;
}

export class CheckpointFormatError extends Error {
  readonly code = "checkpoint_malformed";
  constructor(message: string) {
    super(message);
    this.name = "CheckpointFormatError";
  }
}

const packr = new Packr({ useRecords: false, moreTypes: false });
const bad = (message: string): never => {
  throw new CheckpointFormatError(message);
};

function checkpointMacInput(kid: string, body: Uint8Array): Buffer {
  if (!SEAL_KID.test(kid)) bad(`checkpoint kid must match ${SEAL_KID.source}`);
  return Buffer.concat([Buffer.from(`${CHECKPOINT_DOMAIN}${kid}\n`, "utf8"), body]);
}

function checkCheckpoint(c: Checkpoint): Checkpoint {
  if (c.v !== CHECKPOINT_VERSION) bad(`checkpoint version ${String(c.v)} is not ${CHECKPOINT_VERSION}`);
  if (typeof c.lane !== "string" || !LANE_NAME.test(c.lane)) bad("checkpoint lane is not a lane name");
  if (typeof c.view !== "string" || c.view.length === 0 || c.view.length > MAX_VIEW_NAME) bad("checkpoint view is not a view name");
  if (!Number.isSafeInteger(c.seq) || c.seq < 1) bad("checkpoint seq must be a positive integer");
  if (!Number.isSafeInteger(c.as_of) || c.as_of < 0) bad("checkpoint as_of must be integer milliseconds");
  if (!Buffer.isBuffer(c.root) || c.root.length !== DIGEST_BYTES) bad(`checkpoint root must be ${DIGEST_BYTES} bytes`);
  if (!Number.isSafeInteger(c.entities) || c.entities < 0) bad("checkpoint entities must be a count");
  return c;
}

/** The sequencer's side: the sealed bytes of a checkpoint under its writer key. */
export function sealCheckpoint(checkpoint: Omit<Checkpoint, "v">, kid: string, key: Uint8Array): Buffer {
  const c = checkCheckpoint({ v: CHECKPOINT_VERSION, ...checkpoint });
  const body = packr.pack({ v: c.v, lane: c.lane, view: c.view, seq: c.seq, as_of: c.as_of, root: c.root, entities: c.entities });
  const mac = createHmac("sha256", key).update(checkpointMacInput(kid, body)).digest();
  return packr.pack({ v: CHECKPOINT_VERSION, body, seal: { kid, mac } });
}

/** Parses a sealed checkpoint's shape (no key involved: the enclave checks the MAC). Never trusts it. */
export function parseSealedCheckpoint(bytes: Uint8Array): SealedCheckpoint {
  if (!(bytes instanceof Uint8Array) || bytes.length > MAX_SEALED_CHECKPOINT_BYTES) bad(`a sealed checkpoint is at most ${MAX_SEALED_CHECKPOINT_BYTES} bytes`);
  let outer: unknown;
  let inner: unknown;
  try {
    outer = packr.unpack(bytes);
  } catch {
    return bad("sealed checkpoint is not MessagePack");
  }
  const o = outer as Record<string, unknown> | null;
  if (typeof o !== "object" || o === null || o.v !== CHECKPOINT_VERSION) return bad("sealed checkpoint must be a v1 map");
  const body = asBuffer(o.body);
  const seal = o.seal as Record<string, unknown> | null | undefined;
  const mac = asBuffer(seal?.mac);
  if (body === null || typeof seal !== "object" || seal === null || typeof seal.kid !== "string" || mac === null || mac.length !== CHECKPOINT_MAC_BYTES) {
    return bad("sealed checkpoint needs body and seal {kid, mac}");
  }
  try {
    inner = packr.unpack(body);
  } catch {
    return bad("checkpoint body is not MessagePack");
  }
  const b = inner as Record<string, unknown> | null;
  if (typeof b !== "object" || b === null) return bad("checkpoint body must be a map");
  const root = asBuffer(b.root);
  const checkpoint = checkCheckpoint({
    v: b.v as typeof CHECKPOINT_VERSION,
    lane: b.lane as string,
    view: b.view as string,
    seq: b.seq as number,
    as_of: b.as_of as number,
    root: root === null ? (undefined as unknown as Buffer) : Buffer.from(root),
    entities: b.entities as number,
  });
  if (!SEAL_KID.test(seal.kid)) bad(`checkpoint kid must match ${SEAL_KID.source}`);
  return { checkpoint, kid: seal.kid, body, mac };
}

/** The enclave's side: whether `key` (the directory's key for sealed.kid) made this checkpoint. */
export function checkpointMacValid(sealed: SealedCheckpoint, key: Uint8Array): boolean {
  const expected = createHmac("sha256", key).update(checkpointMacInput(sealed.kid, sealed.body)).digest();
  return timingSafeEqual(expected, sealed.mac);
}

/** The 40-byte leaf value of an entity whose current object is `sealedObject` (event time in ms). */
export function entityMapValue(eventTimeMs: number, sealedObject: Uint8Array): Buffer {
  if (!Number.isSafeInteger(eventTimeMs)) throw new RangeError("event time must be integer milliseconds");
  const value = Buffer.alloc(VALUE_BYTES);
  value.writeBigInt64BE(BigInt(eventTimeMs), 0);
  createHash("sha256").update(sealedObject).digest().copy(value, 8);
  return value;
}

export function parseEntityMapValue(value: Uint8Array): { readonly eventTimeMs: number; readonly digest: Buffer } {
  if (value.length !== VALUE_BYTES) throw new RangeError(`an entity map value is ${VALUE_BYTES} bytes`);
  const b = asBuffer(value)!;
  return { eventTimeMs: Number(b.readBigInt64BE(0)), digest: b.subarray(8) };
}

/** A proof as it travels in SignReadRequest.proofs (docs/object-layout.md "Entity map"). */
export interface WireProof {
  /** The held checkpoint (of the entity's view) the proof is against. */
  readonly seq: number;
  /** Sibling hashes root-down, concatenated (32 bytes each). */
  readonly siblings: Uint8Array;
  readonly leaf_key?: Uint8Array;
  readonly leaf_value?: Uint8Array;
}

export function toWireProof(seq: number, proof: EntityMapProof | PackedEntityMapProof): WireProof {
  // EntityMap.provePacked's siblings are already one Buffer (the host's hot path); a verifier-shaped proof is joined.
  const siblings = Buffer.isBuffer(proof.siblings) ? proof.siblings : Buffer.concat(proof.siblings as readonly Buffer[]);
  return proof.leaf ? { seq, siblings, leaf_key: proof.leaf.key, leaf_value: proof.leaf.value } : { seq, siblings };
}

// ---- The proof list: SignReadRequest.proofs on the wire ----
//
// One byte string per SignRead, one record per object in order (MessagePack maps cost the runtime
// ≈ 3 µs per proof to pack and the signer as much to unpack — a 100-entity batch's ≈ 0.3 ms each
// way; bench/micro/proof-list.ts):
//
//   record = 0x00                                                     no proof for this object
//          | 0x01 seq:u48 n:u16 siblings:n×32                         the path ends empty (absence)
//          | 0x02 seq:u48 n:u16 siblings:n×32 leaf_key:32 leaf_value:40  the path ends at a leaf
//
// Integers big-endian; n ≤ MAX_PROOF_DEPTH; nothing after the last record. Every record that
// decodes is well-formed in size; whether it proves anything is the signer's check (fromWireProof,
// verifyEntityMapProof).

const PROOF_NONE = 0x00;
const PROOF_ABSENT = 0x01;
const PROOF_LEAF = 0x02;
/** seq travels in 48 bits (a checkpoint a second for 8.9 million years). */
const MAX_WIRE_SEQ = 2 ** 48 - 1;

export class ProofListError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProofListError";
  }
}

/** Bytes the proof list of `proofs` takes (throws RangeError on a proof no record can carry). */
export function proofListBytes(proofs: ReadonlyArray<WireProof | null | undefined>): number {
  let size = 0;
  for (const p of proofs) {
    if (p === null || p === undefined) size += 1;
    else {
      if (!Number.isSafeInteger(p.seq) || p.seq < 0 || p.seq > MAX_WIRE_SEQ) throw new RangeError("proof seq must be an integer in [0, 2^48)");
      if (p.siblings.length % DIGEST_BYTES !== 0 || p.siblings.length / DIGEST_BYTES > MAX_PROOF_DEPTH) throw new RangeError("proof siblings must be ≤ 256 × 32 bytes");
      const leaf = p.leaf_key !== undefined || p.leaf_value !== undefined;
      if (leaf && (p.leaf_key?.length !== KEY_BYTES || p.leaf_value?.length !== VALUE_BYTES)) throw new RangeError("a proof's leaf is a 32-byte key and a 40-byte value");
      size += 9 + p.siblings.length + (leaf ? KEY_BYTES + VALUE_BYTES : 0);
    }
  }
  return size;
}

/** Writes the proof list at `at` (room checked by the caller with proofListBytes, which also checks the proofs); returns the end. */
export function writeProofList(out: Buffer, at: number, proofs: ReadonlyArray<WireProof | null | undefined>): number {
  for (const p of proofs) {
    if (p === null || p === undefined) {
      out[at++] = PROOF_NONE;
      continue;
    }
    const leaf = p.leaf_key !== undefined;
    out[at] = leaf ? PROOF_LEAF : PROOF_ABSENT;
    out.writeUIntBE(p.seq, at + 1, 6);
    out.writeUInt16BE(p.siblings.length / DIGEST_BYTES, at + 7);
    out.set(p.siblings, at + 9);
    at += 9 + p.siblings.length;
    if (leaf) {
      out.set(p.leaf_key!, at);
      out.set(p.leaf_value!, at + KEY_BYTES);
      at += KEY_BYTES + VALUE_BYTES;
    }
  }
  return at;
}

/** The runtime's side: the proofs of one SignRead as one byte string (throws RangeError on a proof no record can carry). */
export function encodeProofList(proofs: ReadonlyArray<WireProof | null | undefined>): Buffer {
  const out = Buffer.allocUnsafe(proofListBytes(proofs));
  writeProofList(out, 0, proofs);
  return out;
}

/**
 * The signer's side: exactly `count` records (hostile bytes: any other shape is a ProofListError,
 * which the frame decoder turns into bad_frame). The proofs are views into `bytes`: the signer
 * copies what it keeps (verifyEntityMapProof copies a leaf value it returns).
 */
export function decodeProofList(bytes: Uint8Array, count: number): Array<WireProof | null> {
  const b = asBuffer(bytes)!;
  const proofs: Array<WireProof | null> = [];
  let at = 0;
  const need = (n: number, what: string) => {
    if (at + n > b.length) throw new ProofListError(`proof list truncated in ${what} of proof ${proofs.length}`);
  };
  while (proofs.length < count) {
    need(1, "the tag");
    const tag = b[at]!;
    if (tag === PROOF_NONE) {
      at += 1;
      proofs.push(null);
      continue;
    }
    if (tag !== PROOF_ABSENT && tag !== PROOF_LEAF) throw new ProofListError(`proof ${proofs.length} has an unknown tag ${tag}`);
    need(9, "the header");
    const seq = b.readUIntBE(at + 1, 6);
    const n = b.readUInt16BE(at + 7);
    if (n > MAX_PROOF_DEPTH) throw new ProofListError(`proof ${proofs.length} has ${n} siblings (at most ${MAX_PROOF_DEPTH})`);
    at += 9;
    need(n * DIGEST_BYTES, "the siblings");
    const siblings = b.subarray(at, at + n * DIGEST_BYTES);
    at += n * DIGEST_BYTES;
    if (tag === PROOF_ABSENT) {
      proofs.push({ seq, siblings });
      continue;
    }
    need(KEY_BYTES + VALUE_BYTES, "the leaf");
    proofs.push({ seq, siblings, leaf_key: b.subarray(at, at + KEY_BYTES), leaf_value: b.subarray(at + KEY_BYTES, at + KEY_BYTES + VALUE_BYTES) });
    at += KEY_BYTES + VALUE_BYTES;
  }
  if (at !== b.length) throw new ProofListError(`${b.length - at} bytes after the last of ${count} proofs`);
  return proofs;
}

/** Splits a wire proof back into the verifier's shape; null when its sizes are wrong (hostile input). */
export function fromWireProof(wire: WireProof): EntityMapProof | null {
  const s = asBuffer(wire.siblings);
  if (s === null || s.length % DIGEST_BYTES !== 0) return null;
  const siblings: Buffer[] = [];
  for (let i = 0; i < s.length; i += DIGEST_BYTES) siblings.push(s.subarray(i, i + DIGEST_BYTES));
  if (wire.leaf_key === undefined && wire.leaf_value === undefined) return { siblings };
  const key = wire.leaf_key === undefined ? null : asBuffer(wire.leaf_key);
  const value = wire.leaf_value === undefined ? null : asBuffer(wire.leaf_value);
  if (key === null || value === null || key.length !== KEY_BYTES || value.length !== VALUE_BYTES) return null;
  return { siblings, leaf: { key, value } };
}

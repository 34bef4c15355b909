/**
 * A view's published checkpoint log (issue #16, docs/object-layout.md "Checkpoint log"): what the
 * view's sequencer writes to the store so every host can rebuild the view's entity map
 * (wire/entity-map.ts) and carry the sequencer's sealed checkpoints (wire/checkpoint.ts) to its
 * enclave. Both ends use this module: the sequencer (sequencer/server.ts) encodes, the runtime's
 * follower (runtime/checkpoint-follower.ts) decodes.
 *
 * Nothing here is trusted by anyone but its author: the store is the hostile host's. A host checks
 * that the map it rebuilt has the root the sealed checkpoint names before it proves against it (a
 * tampered delta or snapshot only makes it fall back to a snapshot, then stop proving — fresh_as_of
 * ages), and the enclave checks the checkpoint's MAC, lane, view and forward-only seq.
 *
 * Keys, under the deployment's key prefix (the same one entity objects use):
 *
 *   {prefix}_lane/checkpoints/{view}/head                        the newest sealed checkpoint + pointers
 *   {prefix}_lane/checkpoints/{view}/delta/{seq:016}             entity → value (or null) changed at seq
 *   {prefix}_lane/checkpoints/{view}/snapshot/{seq:016}/{part:06} every entity at seq, in parts
 *
 * Entity objects live at `{prefix}{view}/{base64url(entity)}` with view `^[a-z][a-z0-9_]{0,62}$`
 * (docs/object-layout.md "Key"): no view starts with `_`, so nothing under `_lane/` can ever be an
 * entity object's key (the fleet registry copy, `_lane/registry.json`, lives there too).
 *
 *   head     = msgpack { v: 1, view, seq, checkpoint: bin (sealed), last_change: int, snapshot: {seq, parts} | nil }
 *   delta    = msgpack { v: 1, view, seq, prev: int, root: bin(32), changes: [[entity, bin(40) | nil], …] }
 *   snapshot = msgpack { v: 1, view, seq, part, parts, root: bin(32), entries: [[entity, bin(40)], …] }
 *
 * `last_change` is the seq of the newest delta (0: none), each delta's `prev` the seq of the one
 * before it (0: the first), so a follower at change c walks back from last_change to c and applies
 * forward; heartbeats (same root, new seq) write only the head. A snapshot at seq s holds the map
 * after every delta ≤ s; deltas name the root after them, so a follower can tell where it diverged.
 */
import { Packr } from "msgpackr";
import { DIGEST_BYTES, VALUE_BYTES } from "./entity-map";
import { MAX_SEALED_CHECKPOINT_BYTES } from "./checkpoint";
import { asBuffer } from "./msgpack-scan";

export const CHECKPOINT_LOG_VERSION = 1;
export const CHECKPOINT_LOG_PREFIX = "_lane/checkpoints/";
/** Changes per delta object and entries per snapshot part: a part stays ≤ ~5 MB even with 256-byte entity ids. */
export const MAX_LOG_ENTRIES = 16_384;
/** Any log object a follower parses is at most this large. */
export const MAX_LOG_OBJECT_BYTES = 8 * 1024 * 1024;
/** Snapshot parts per snapshot (16,384 × 4,096 ≈ 67 M entities). */
export const MAX_SNAPSHOT_PARTS = 4096;
/** Entity ids are 1–256 UTF-8 bytes (wire/names.ts); a log never carries longer ones. */
const MAX_ENTITY_BYTES = 256;
const VIEW = /^[a-z][a-z0-9_]{0,62}$/;

export class CheckpointLogError extends Error {
  readonly code = "checkpoint_log_malformed";
  constructor(message: string) {
    super(message);
    this.name = "CheckpointLogError";
  }
}

const bad = (message: string): never => {
  throw new CheckpointLogError(message);
};
const packr = new Packr({ useRecords: false, moreTypes: false });
const pad = (n: number, width: number): string => String(n).padStart(width, "0");

function checkView(view: string): string {
  if (typeof view !== "string" || !VIEW.test(view)) bad("log view is not a view name");
  return view;
}

export function checkpointLogKeys(view: string, prefix = "") {
  const base = `${prefix}${CHECKPOINT_LOG_PREFIX}${checkView(view)}/`;
  return {
    head: `${base}head`,
    delta: (seq: number): string => `${base}delta/${pad(seq, 16)}`,
    snapshotPart: (seq: number, part: number): string => `${base}snapshot/${pad(seq, 16)}/${pad(part, 6)}`,
  };
}

export interface LogHead {
  readonly view: string;
  /** The sealed checkpoint's seq (checked against the sealed bytes by the follower). */
  readonly seq: number;
  /** The sealed checkpoint (wire/checkpoint.ts), as the sequencer made it. */
  readonly checkpoint: Buffer;
  /** Seq of the newest delta; 0 when the map never changed. */
  readonly last_change: number;
  /** The newest snapshot, if any. */
  readonly snapshot: { readonly seq: number; readonly parts: number } | null;
}

export interface LogDelta {
  readonly view: string;
  readonly seq: number;
  /** The delta before this one (0: none). */
  readonly prev: number;
  /** The map's root after this delta. */
  readonly root: Buffer;
  /** entity → its new 40-byte value (wire/checkpoint.ts entityMapValue), or null: removed. */
  readonly changes: ReadonlyArray<readonly [string, Buffer | null]>;
}

export interface LogSnapshotPart {
  readonly view: string;
  readonly seq: number;
  readonly part: number;
  readonly parts: number;
  /** The map's root at seq (every part repeats it). */
  readonly root: Buffer;
  readonly entries: ReadonlyArray<readonly [string, Buffer]>;
}

const seqOk = (n: unknown, min = 0): n is number => Number.isSafeInteger(n) && (n as number) >= min;

function unpack(bytes: Uint8Array, what: string): Record<string, unknown> {
  if (!(bytes instanceof Uint8Array) || bytes.length > MAX_LOG_OBJECT_BYTES) bad(`${what} is at most ${MAX_LOG_OBJECT_BYTES} bytes`);
  let m: unknown;
  try {
    m = packr.unpack(bytes);
  } catch {
    return bad(`${what} is not MessagePack`);
  }
  if (typeof m !== "object" || m === null || Array.isArray(m) || (m as Record<string, unknown>).v !== CHECKPOINT_LOG_VERSION) bad(`${what} must be a v1 map`);
  return m as Record<string, unknown>;
}

function expectView(m: Record<string, unknown>, view: string, what: string): string {
  if (m.view !== view) bad(`${what} is for another view`);
  return view;
}

function entity(v: unknown, what: string): string {
  if (typeof v !== "string" || v.length === 0 || Buffer.byteLength(v, "utf8") > MAX_ENTITY_BYTES) bad(`${what}: entity must be 1–${MAX_ENTITY_BYTES} bytes of text`);
  return v as string;
}

function value(v: unknown, what: string): Buffer {
  const b = asBuffer(v);
  if (b === null || b.length !== VALUE_BYTES) bad(`${what}: value must be ${VALUE_BYTES} bytes`);
  return Buffer.from(b!);
}

function root(v: unknown, what: string): Buffer {
  const b = asBuffer(v);
  if (b === null || b.length !== DIGEST_BYTES) bad(`${what}: root must be ${DIGEST_BYTES} bytes`);
  return Buffer.from(b!);
}

function list(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v) || v.length > MAX_LOG_ENTRIES) bad(`${what} must be a list of at most ${MAX_LOG_ENTRIES}`);
  return v as unknown[];
}

export function encodeLogHead(h: LogHead): Buffer {
  checkView(h.view);
  if (!seqOk(h.seq, 1) || !seqOk(h.last_change) || h.last_change > h.seq) bad("head seqs out of range");
  if (h.snapshot && (!seqOk(h.snapshot.seq, 1) || !seqOk(h.snapshot.parts, 1) || h.snapshot.parts > MAX_SNAPSHOT_PARTS)) bad("head snapshot out of range");
  return packr.pack({ v: CHECKPOINT_LOG_VERSION, view: h.view, seq: h.seq, checkpoint: h.checkpoint, last_change: h.last_change, snapshot: h.snapshot ?? null });
}

export function decodeLogHead(bytes: Uint8Array, view: string): LogHead {
  const m = unpack(bytes, "checkpoint log head");
  expectView(m, view, "checkpoint log head");
  const checkpoint = asBuffer(m.checkpoint);
  if (checkpoint === null || checkpoint.length > MAX_SEALED_CHECKPOINT_BYTES) bad("head checkpoint must be a sealed checkpoint");
  if (!seqOk(m.seq, 1) || !seqOk(m.last_change) || (m.last_change as number) > (m.seq as number)) bad("head seqs out of range");
  let snapshot: LogHead["snapshot"] = null;
  if (m.snapshot !== null && m.snapshot !== undefined) {
    const s = m.snapshot as Record<string, unknown>;
    if (typeof s !== "object" || !seqOk(s.seq, 1) || !seqOk(s.parts, 1) || (s.parts as number) > MAX_SNAPSHOT_PARTS || (s.seq as number) > (m.seq as number)) {
      bad("head snapshot out of range");
    }
    snapshot = { seq: s.seq as number, parts: s.parts as number };
  }
  return { view, seq: m.seq as number, checkpoint: Buffer.from(checkpoint!), last_change: m.last_change as number, snapshot };
}

export function encodeLogDelta(d: LogDelta): Buffer {
  checkView(d.view);
  if (!seqOk(d.seq, 1) || !seqOk(d.prev) || d.prev >= d.seq) bad("delta seqs out of range");
  if (d.changes.length > MAX_LOG_ENTRIES) bad(`a delta carries at most ${MAX_LOG_ENTRIES} changes`);
  return packr.pack({ v: CHECKPOINT_LOG_VERSION, view: d.view, seq: d.seq, prev: d.prev, root: d.root, changes: d.changes.map(([e, v]) => [e, v]) });
}

export function decodeLogDelta(bytes: Uint8Array, view: string, seq: number): LogDelta {
  const m = unpack(bytes, "checkpoint log delta");
  expectView(m, view, "checkpoint log delta");
  if (m.seq !== seq) bad(`delta at seq ${seq} names another seq`);
  if (!seqOk(m.prev) || (m.prev as number) >= seq) bad("delta prev must be below its seq");
  const changes = list(m.changes, "delta changes").map((c, i): readonly [string, Buffer | null] => {
    if (!Array.isArray(c) || c.length !== 2) bad(`delta change ${i} must be [entity, value|nil]`);
    const [e, v] = c as unknown[];
    return [entity(e, `delta change ${i}`), v === null || v === undefined ? null : value(v, `delta change ${i}`)];
  });
  return { view, seq, prev: m.prev as number, root: root(m.root, "delta"), changes };
}

export function encodeLogSnapshotPart(p: LogSnapshotPart): Buffer {
  checkView(p.view);
  if (!seqOk(p.seq, 1) || !seqOk(p.parts, 1) || p.parts > MAX_SNAPSHOT_PARTS || !seqOk(p.part) || p.part >= p.parts) bad("snapshot part out of range");
  if (p.entries.length > MAX_LOG_ENTRIES) bad(`a snapshot part carries at most ${MAX_LOG_ENTRIES} entries`);
  return packr.pack({ v: CHECKPOINT_LOG_VERSION, view: p.view, seq: p.seq, part: p.part, parts: p.parts, root: p.root, entries: p.entries.map(([e, v]) => [e, v]) });
}

export function decodeLogSnapshotPart(bytes: Uint8Array, view: string, seq: number, part: number, parts: number): LogSnapshotPart {
  const m = unpack(bytes, "checkpoint log snapshot");
  expectView(m, view, "checkpoint log snapshot");
  if (m.seq !== seq || m.part !== part || m.parts !== parts) bad(`snapshot part ${part}/${parts} at seq ${seq} names another position`);
  const entries = list(m.entries, "snapshot entries").map((c, i): readonly [string, Buffer] => {
    if (!Array.isArray(c) || c.length !== 2) bad(`snapshot entry ${i} must be [entity, value]`);
    const [e, v] = c as unknown[];
    return [entity(e, `snapshot entry ${i}`), value(v, `snapshot entry ${i}`)];
  });
  return { view, seq, part, parts, root: root(m.root, "snapshot"), entries };
}

/**
 * Which writer checkpoints this enclave holds, and what they say about each entity it serves
 * (docs/trust.md "P8 Provable freshness"; the sealed format is wire/checkpoint.ts).
 *
 *   sealed checkpoint (host)  →  accepted only if: it parses; it is for this lane; its kid is a
 *                                "write" key of the held key directory whose material we hold and
 *                                its MAC verifies under it; its view is in the held registry and
 *                                the directory names that key as the view's sequencer; its
 *                                as_of is not beyond now + CHECKPOINT_FUTURE_SKEW_MS; its seq is
 *                                above the newest held for the view (the newest seq with the same
 *                                body is an idempotent re-send; any lower seq is refused, even a
 *                                genuine one replayed) and its as_of not below that one's
 *
 * Per view we keep the newest CHECKPOINTS_PER_VIEW accepted checkpoints (seq → root, as_of), so a
 * read whose proof was built against the previous checkpoint still verifies while the host catches
 * up. Seq only moves forward; nothing persists (a restarted enclave starts empty: every answer says
 * fresh_as_of null until the host forwards a checkpoint, which it cannot make).
 *
 * `freshnessOf` is the per-object rule table of the contract, pure: the signer calls it for every
 * entity it renders (enclave/render.ts). `VerifiedLookups` remembers what verified proofs showed, so
 * a hot entity's path is hashed once per map root, not once per read.
 */
import { timingSafeEqual } from "node:crypto";
import { hash } from "node:crypto";
import {
  CHECKPOINT_FUTURE_SKEW_MS,
  CHECKPOINT_REPORT_WINDOW_MS,
  CheckpointFormatError,
  checkpointMacValid,
  parseEntityMapValue,
  parseSealedCheckpoint,
  type SealedCheckpoint,
} from "../wire/checkpoint";
import { entityMapKey, verifyEntityMapProof, type EntityMapProof, type ProofResult } from "../wire/entity-map";
import type { ProvideCheckpointsResponse } from "../wire/frames";
import type { Registry } from "../wire/registry";
import { entityMessage } from "../wire/errors";
import type { SealKeyring } from "./seal";

/** Accepted checkpoints kept per view (older seqs fall out; proofs against them yield null). */
export const CHECKPOINTS_PER_VIEW = 8;

/** Why a sealed checkpoint was refused (wire/errors.ts has each code's status and text). */
export type CheckpointRefusal =
  | "checkpoint_malformed"
  | "checkpoint_wrong_lane"
  | "checkpoint_key_unknown"
  | "checkpoint_mac_invalid"
  | "checkpoint_unknown_view"
  | "checkpoint_not_sequencer"
  | "checkpoint_future"
  | "checkpoint_conflict"
  | "checkpoint_rolled_back";

/** One accepted checkpoint, as the read path needs it. */
export interface HeldCheckpoint {
  readonly view: string;
  readonly seq: number;
  readonly as_of: number;
  readonly root: Buffer;
}

/** What a read path asks: the held checkpoint of `view` with this seq, if any. */
export interface CheckpointLookup {
  get(view: string, seq: number): HeldCheckpoint | undefined;
}

/**
 * The table itself (view → newest few seq → checkpoint). The main thread owns the one that
 * accepts; signing workers get copies (snapshot → fromSnapshot) before the ProvideCheckpoints
 * reply goes out (enclave/sign-workers.ts).
 */
export class HeldCheckpoints implements CheckpointLookup {
  private readonly views = new Map<string, Map<number, HeldCheckpoint & { readonly body?: Buffer }>>();

  get(view: string, seq: number): HeldCheckpoint | undefined {
    return this.views.get(view)?.get(seq);
  }

  /** The newest held checkpoint of a view (the highest seq). */
  newest(view: string): (HeldCheckpoint & { readonly body?: Buffer }) | undefined {
    const byseq = this.views.get(view);
    if (!byseq) return undefined;
    let best: (HeldCheckpoint & { readonly body?: Buffer }) | undefined;
    for (const c of byseq.values()) if (!best || c.seq > best.seq) best = c;
    return best;
  }

  add(c: HeldCheckpoint, body?: Buffer): void {
    let byseq = this.views.get(c.view);
    if (!byseq) this.views.set(c.view, (byseq = new Map()));
    byseq.set(c.seq, { view: c.view, seq: c.seq, as_of: c.as_of, root: Buffer.from(c.root), ...(body ? { body } : {}) });
    // Seqs arrive in increasing order (the acceptor refuses lower ones), so the first key is the oldest.
    while (byseq.size > CHECKPOINTS_PER_VIEW) byseq.delete(byseq.keys().next().value as number);
  }

  /** Newest per view, for the ProvideCheckpoints reply. */
  heldSummary(): ProvideCheckpointsResponse["held"] {
    const out: Array<{ view: string; seq: number; as_of: number }> = [];
    for (const view of this.views.keys()) {
      const n = this.newest(view)!;
      out.push({ view, seq: n.seq, as_of: n.as_of });
    }
    return out;
  }

  /** Everything held, structured-clone friendly (a worker thread's copy; no bodies, no MACs). */
  snapshot(): HeldCheckpoint[] {
    const out: HeldCheckpoint[] = [];
    for (const byseq of this.views.values()) for (const c of byseq.values()) out.push({ view: c.view, seq: c.seq, as_of: c.as_of, root: c.root });
    return out;
  }

  static fromSnapshot(list: readonly HeldCheckpoint[]): HeldCheckpoints {
    const table = new HeldCheckpoints();
    for (const c of [...list].sort((a, b) => a.seq - b.seq)) table.add({ ...c, root: Buffer.from(c.root) });
    return table;
  }
}

export interface CheckpointTrust {
  /** The lane the key directory is for (the image's trust config). Undefined: nothing is accepted. */
  readonly lane: string | undefined;
  /** The held keyring (the key directory ∩ held material); null before a directory. */
  keyring(): SealKeyring | null;
  /** The held registry: a checkpoint for a view it does not define is refused. */
  registry(): Registry;
  /** Whether the held key directory names `kid` as a sequencer of `view` (its `sequences`, wire/key-directory.ts). */
  maySequence(kid: string, view: string): boolean;
  readonly now: () => number;
}

export type AcceptResult =
  { readonly ok: true; readonly checkpoint: HeldCheckpoint; readonly changed: boolean } | { readonly ok: false; readonly code: CheckpointRefusal; readonly message: string };

/** The enclave's acceptor of sealed checkpoints (FrameKind.ProvideCheckpoints). */
export class CheckpointState {
  readonly held = new HeldCheckpoints();
  /** Bumped on every accepted new checkpoint (workers are re-sent the table when it moves). */
  version = 0;

  constructor(private readonly trust: CheckpointTrust) {}

  accept(bytes: Uint8Array): AcceptResult {
    const refuse = (code: CheckpointRefusal, message: string): AcceptResult => ({ ok: false, code, message });
    let sealed: SealedCheckpoint;
    try {
      sealed = parseSealedCheckpoint(bytes);
    } catch (err) {
      if (err instanceof CheckpointFormatError) return refuse("checkpoint_malformed", err.message);
      throw err;
    }
    const c = sealed.checkpoint;
    if (this.trust.lane === undefined || c.lane !== this.trust.lane)
      return refuse("checkpoint_wrong_lane", `checkpoint is for lane ${c.lane}, this signer serves ${this.trust.lane ?? "(no lane)"}`);
    const keyring = this.trust.keyring();
    const now = this.trust.now();
    const writeKey = keyring && now < keyring.expiresAt ? keyring.writeKey(sealed.kid) : undefined;
    if (!writeKey)
      return refuse("checkpoint_key_unknown", "checkpoint kid is not a write key of the held key directory (unknown, verify-only, revoked, not provisioned or expired)");
    if (!checkpointMacValid(sealed, writeKey.key)) return refuse("checkpoint_mac_invalid", "checkpoint MAC does not verify under its writer key");
    if (!this.trust.registry().get(c.view)) return refuse("checkpoint_unknown_view", `the held registry defines no view ${JSON.stringify(c.view)}`);
    // Any writer may write a view's objects (P1); only its sequencer may say what the view holds.
    if (!this.trust.maySequence(sealed.kid, c.view))
      return refuse("checkpoint_not_sequencer", `key ${sealed.kid} is not named in the key directory as a sequencer of view ${JSON.stringify(c.view)}`);
    if (c.as_of > now + CHECKPOINT_FUTURE_SKEW_MS) return refuse("checkpoint_future", "checkpoint as_of is in the future");
    const newest = this.held.newest(c.view);
    if (newest) {
      // Any lower seq is refused, even one still held with the same bytes: a replay never moves state.
      if (c.seq < newest.seq) return refuse("checkpoint_rolled_back", `checkpoint seq ${c.seq} is older than the held seq ${newest.seq} of view ${c.view}`);
      if (c.seq === newest.seq) {
        const body = newest.body!;
        if (body.length === sealed.body.length && timingSafeEqual(body, sealed.body)) return { ok: true, checkpoint: newest, changed: false }; // idempotent re-send
        return refuse("checkpoint_conflict", `a different checkpoint with the held seq ${c.seq} of view ${c.view}: one sequencer per view`);
      }
      if (c.as_of < newest.as_of) return refuse("checkpoint_rolled_back", `checkpoint as_of goes back in time (held seq ${newest.seq} is newer)`);
    }
    const held: HeldCheckpoint = { view: c.view, seq: c.seq, as_of: c.as_of, root: c.root };
    this.held.add(held, Buffer.from(sealed.body));
    this.version++;
    return { ok: true, checkpoint: held, changed: true };
  }

  /** The ProvideCheckpoints answer: each one accepted or refused (with its index), then what is held. */
  provide(list: readonly Uint8Array[]): ProvideCheckpointsResponse {
    const refused: Array<{ index: number; code: string; message: string }> = [];
    list.forEach((bytes, index) => {
      const r = this.accept(bytes);
      if (!r.ok) refused.push({ index, code: r.code, message: r.message });
    });
    return { held: this.held.heldSummary(), refused };
  }
}

// ---- The per-object rule table ----

/** What the host served for the entity: the verified object's times and its exact sealed bytes, or none. */
export interface ServedObject {
  readonly eventTimeMs: number;
  readonly writtenTimeMs: number;
  readonly bytes: Uint8Array;
  /** The seal that verified over these bytes' body (enclave/seal.ts open): lets VerifiedLookups skip re-hashing an object it matched before. */
  readonly seal?: { readonly kid: string; readonly mac: Buffer };
}

export type Freshness =
  /** No newer version existed at as_of (checkpoint seq). */
  | { readonly kind: "fresh"; readonly asOf: number; readonly seq: number }
  /** No valid proof against a held checkpoint: the value is served, fresh_as_of is null (consumers reject). */
  | { readonly kind: "unproven" }
  /** The checkpoint contradicts what the host served: a signed per-entity refusal, never the value. */
  | { readonly kind: "refused"; readonly code: "rolled_back" | "object_withheld" };

export const UNPROVEN: Freshness = { kind: "unproven" };

/** Signer-authored fixed texts of the two refusals (P5: the host cannot choose them). */
export const FRESHNESS_MESSAGES = {
  rolled_back: "the view's checkpoint vouches for a newer version of this entity (or none) than the object served: an older object was put back",
  object_withheld: entityMessage("object_withheld"),
} as const;

/**
 * The contract's table. `checkpoint` = held[view][proof.seq] (undefined when not held), `key` =
 * entityMapKey(view, entity), `served` = the verified object or null (the host sent none).
 * Costs one SHA-256 per path node (~20) and, only when the leaf's event time equals or exceeds the
 * object's, one SHA-256 of the served bytes.
 */
export function freshnessOf(checkpoint: HeldCheckpoint | undefined, key: Uint8Array, proof: EntityMapProof | null, served: ServedObject | null): Freshness {
  if (checkpoint === undefined || proof === null) return UNPROVEN;
  return freshnessVerdict(checkpoint, verifyEntityMapProof(checkpoint.root, key, proof), served);
}

/** The table's verdict once the proof is checked (freshnessOf; VerifiedLookups hands a remembered check). */
export function freshnessVerdict(checkpoint: HeldCheckpoint, checked: ProofResult, served: ServedObject | null, lookups?: VerifiedLookups): Freshness {
  if (!checked.ok) return UNPROVEN;
  const fresh: Freshness = { kind: "fresh", asOf: checkpoint.as_of, seq: checkpoint.seq };
  if (checked.present) {
    if (served === null) return { kind: "refused", code: "object_withheld" };
    const leaf = parseEntityMapValue(checked.value);
    // Written after the checkpoint: at as_of, nothing newer than it existed either.
    if (served.eventTimeMs > leaf.eventTimeMs) return fresh;
    if (served.eventTimeMs === leaf.eventTimeMs && (lookups ? lookups.isLeafObject(leaf.digest, served) : sha256Is(leaf.digest, served.bytes))) return fresh;
    return { kind: "refused", code: "rolled_back" };
  }
  if (served === null) return fresh;
  // A new entity sealed shortly before (or after) as_of and not yet in the map: fresh as of as_of.
  if (served.writtenTimeMs >= checkpoint.as_of - CHECKPOINT_REPORT_WINDOW_MS) return fresh;
  return { kind: "refused", code: "rolled_back" };
}

function sha256Is(digest: Buffer, bytes: Uint8Array): boolean {
  return (hash("sha256", bytes, "buffer") as Buffer).equals(digest);
}

/** Remembered lookups per signing thread: ≈ 200 B each (two 32-byte keys as a string, the 40-byte value), ≈ 6.5 MB at the bound. */
export const VERIFIED_LOOKUPS_MAX = 32_768;

/**
 * What verified proofs showed: (map root, entity key) → present with value, or absent. A map root
 * commits to exactly one answer per key (SHA-256 collision resistance), so once one proof for the
 * pair verified, the answer is a fact about the root, true under every checkpoint with that root
 * (the sequencer's heartbeats re-seal an unchanged root every second) and whatever proof the host
 * sends next — a later malformed or forged proof for the pair changes nothing, because the
 * outcome it could prove is already known. Only verified outcomes are kept (a failed check is the
 * host's proof, not the root's answer). Bounded; the oldest entry goes first.
 */
export class VerifiedLookups {
  private readonly entries = new Map<string, Extract<ProofResult, { ok: true }>>();
  /** Seal (kid, MAC) → the leaf digest the sealed bytes were hashed and found equal to (isLeafObject). */
  private readonly matched = new Map<string, Buffer>();

  constructor(private readonly capacity: number = VERIFIED_LOOKUPS_MAX) {}

  get size(): number {
    return this.entries.size;
  }

  /** The check of `key` under `root`: remembered, or `proof()`'s verified now (null proof: unproven, not remembered). */
  check(root: Buffer, key: Uint8Array, proof: () => EntityMapProof | null): ProofResult {
    return this.remembered(this.rootId(root) + "\u0001" + Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString("latin1"), root, () => key, proof);
  }

  /**
   * The same check for the entity `entity` of view `view` (key = entityMapKey(view, entity)), named
   * by its names instead of its key: a remembered outcome costs no SHA-256 for the key — the key is
   * derived only when a proof must be verified. The id (root ‖ 0x02 ‖ view ‖ 0x00 ‖ entity) is
   * injective — the root is 32 bytes, a view name has no NUL (wire/names.ts), the tags keep these
   * ids apart from check()'s — and names exactly the pair (root, entityMapKey(view, entity)).
   */
  checkEntity(root: Buffer, view: string, entity: string, proof: () => EntityMapProof | null): ProofResult {
    return this.remembered(this.rootId(root) + "\u0002" + view + "\u0000" + entity, root, () => entityMapKey(view, entity), proof);
  }

  private remembered(id: string, root: Buffer, key: () => Uint8Array, proof: () => EntityMapProof | null): ProofResult {
    const known = this.entries.get(id);
    if (known !== undefined) return known;
    const path = proof();
    if (path === null) return { ok: false, reason: "malformed" };
    const checked = verifyEntityMapProof(root, key(), path);
    if (checked.ok && this.capacity > 0) {
      if (this.entries.size >= this.capacity) this.entries.delete(this.entries.keys().next().value as string);
      this.entries.set(id, checked);
    }
    return checked;
  }

  /** A root's bytes as an id prefix, converted once per root (a batch proves against one checkpoint); compared by content, kept as a copy. */
  private rootId(root: Buffer): string {
    if (this.lastRoot === undefined || !root.equals(this.lastRoot)) {
      this.lastRoot = Buffer.from(root);
      this.lastRootId = root.toString("latin1");
    }
    return this.lastRootId;
  }
  private lastRoot: Buffer | undefined;
  private lastRootId = "";

  /**
   * Whether the served object is the one whose SHA-256 a leaf names. Hashed once per object: the
   * seal that just verified over the served body names that body (two bodies under one MAC would
   * be an HMAC-SHA256 collision under the writer's key), so an object whose seal was matched to this
   * digest before carries the same body — the same view, entity, times, writer and features — and
   * needs no second pass over its bytes. (Its envelope bytes could differ only in encoding, which no
   * answer shows.) A digest the seal was not matched to is hashed: a rollback always is.
   */
  isLeafObject(digest: Buffer, served: ServedObject): boolean {
    const id = served.seal === undefined || this.capacity === 0 ? undefined : served.seal.kid + "\u0000" + served.seal.mac.toString("latin1");
    if (id !== undefined && this.matched.get(id)?.equals(digest) === true) return true;
    if (!sha256Is(digest, served.bytes)) return false;
    if (id !== undefined) {
      if (this.matched.size >= this.capacity) this.matched.delete(this.matched.keys().next().value as string);
      this.matched.set(id, digest);
    }
    return true;
  }
}

/**
 * The authenticated entity map of a view: a sparse Merkle tree from entity to the digest of its
 * current sealed object, so a writer can vouch for "this is the newest object of every entity (or
 * there is none)" with one 32-byte root per checkpoint, and the host can prove it per entity with a
 * short path that the enclave checks (docs/object-layout.md, "Entity map").
 *
 * Format (language-neutral; every hash is SHA-256, `||` is concatenation):
 *
 *   key(view, entity)  = H("express-lane/entity-map/key/v1" || 0x00 || view || 0x00 || utf8(entity))
 *                        256 bits, read most significant bit first: bit d picks the child at depth d
 *                        (0 = left, 1 = right).
 *   leaf(key, value)   = H(0x00 || key || value)          value = 40 bytes: event_time (int64 BE, ms)
 *                                                       || SHA-256(sealed object bytes) (wire/checkpoint.ts)
 *   node(left, right)  = H(0x01 || left || right)
 *   EMPTY              = 32 zero bytes                     (a subtree with no entity)
 *
 * The tree is canonical: a subtree holding no entity is EMPTY, a subtree holding exactly one entity
 * is that entity's leaf hash (wherever it sits), any other subtree is node(left, right). So the
 * root depends only on the set of (key, value) pairs, and the path to an entity is as deep as the
 * longest common key prefix it shares with another entity (≈ log2(n), ~20 for a million), not 256.
 *
 * Proof for key k: `siblings` from the root down (siblings[d] is the hash of the subtree next to
 * the path at depth d) and the `leaf` the path ends at: k's own leaf (inclusion), another key's
 * leaf that shares k's first siblings.length bits (k is absent: two entities would have forced a
 * node there), or none (the path ends in EMPTY: absent). The verifier recomputes the root bottom-up.
 * Soundness rests on SHA-256 collision resistance and the 0x00/0x01 domain separation of leaves and
 * nodes (a leaf can never be read as a node). Non-canonical paths (a node with an EMPTY sibling over
 * a single leaf) cannot hash to a canonical root without a collision, so the verifier need not
 * reject them explicitly.
 */
import { hash } from "node:crypto";

export const KEY_BYTES = 32;
export const DIGEST_BYTES = 32;
/** A leaf's value: the object's event time (int64 big-endian ms) then SHA-256 of its sealed bytes (wire/checkpoint.ts). */
export const VALUE_BYTES = 40;
/** The deepest a proof can be: one bit per level of a 256-bit key. */
export const MAX_PROOF_DEPTH = 256;
export const EMPTY: Buffer = Buffer.alloc(DIGEST_BYTES);

const KEY_DOMAIN = Buffer.from("express-lane/entity-map/key/v1\0", "utf8");
// One 65-byte scratch buffer and the one-shot crypto.hash (Node ≥ 20.12): ≈ 1.5× faster than a
// createHash().update()×3 chain per node, and a proof check is ~20 of these per entity
// (bench/micro/entity-map.ts). Synchronous use only, so sharing it is safe. The digest is taken
// as latin1 text and turned into a Buffer: on Node 20 that is ≈ 1.6× faster than asking
// crypto.hash for a "buffer" (which allocates through createUnsafeBuffer per call; measured in
// bench/micro/freshness.ts, where node hashes were the largest share of the signer's proof cost).
const digestOf = (data: Uint8Array): Buffer => Buffer.from(hash("sha256", data, "binary"), "latin1");
const scratch = Buffer.alloc(1 + 2 * DIGEST_BYTES);
const leafScratch = Buffer.alloc(1 + KEY_BYTES + VALUE_BYTES);
const pathScratch = Buffer.alloc(DIGEST_BYTES);

// Key input assembled in one scratch buffer and hashed one-shot (per entity served, on the host and
// in the enclave): ~10× cheaper than a createHash().update()×4 chain over the same bytes. Names
// longer than it (views ≤ 64, entity ids ≤ 256 UTF-8 bytes by wire/names.ts) grow it.
let keyScratch = Buffer.alloc(2048);
KEY_DOMAIN.copy(keyScratch, 0);

export function entityMapKey(view: string, entity: string): Buffer {
  const need = KEY_DOMAIN.length + 1 + 3 * (view.length + entity.length);
  if (need > keyScratch.length) {
    keyScratch = Buffer.alloc(need);
    KEY_DOMAIN.copy(keyScratch, 0);
  }
  let at = KEY_DOMAIN.length;
  at += keyScratch.write(view, at, "utf8");
  keyScratch[at++] = 0x00;
  at += keyScratch.write(entity, at, "utf8");
  return digestOf(keyScratch.subarray(0, at));
}

function tagged(tag: 0x01, a: Uint8Array, b: Uint8Array): Buffer {
  scratch[0] = tag;
  scratch.set(a, 1);
  scratch.set(b, 1 + DIGEST_BYTES);
  return digestOf(scratch);
}

export function leafHash(key: Uint8Array, value: Uint8Array): Buffer {
  leafScratch[0] = 0x00;
  leafScratch.set(key, 1);
  leafScratch.set(value, 1 + KEY_BYTES);
  return digestOf(leafScratch);
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  return tagged(0x01, left, right);
}

/** Bit `depth` of a 256-bit key, most significant first. */
export function keyBit(key: Uint8Array, depth: number): 0 | 1 {
  return ((key[depth >> 3] >> (7 - (depth & 7))) & 1) as 0 | 1;
}

/** How many leading bits two keys share (256 when equal). */
export function commonPrefixBits(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < KEY_BYTES; i++) {
    const x = a[i] ^ b[i];
    if (x !== 0) return i * 8 + Math.clz32(x) - 24;
  }
  return KEY_BYTES * 8;
}

export interface EntityMapLeaf {
  readonly key: Buffer;
  readonly value: Buffer;
}

export interface EntityMapProof {
  /** Sibling hashes from the root down; the path's depth is siblings.length. */
  readonly siblings: readonly Buffer[];
  /** The leaf the path ends at, or undefined when it ends in an empty subtree. */
  readonly leaf?: EntityMapLeaf;
}

/** A proof as provePacked makes it: the siblings concatenated (32 bytes each, root-down). */
export interface PackedEntityMapProof {
  readonly siblings: Buffer;
  readonly leaf?: EntityMapLeaf;
}

export type ProofResult =
  | { readonly ok: true; readonly present: true; readonly value: Buffer }
  | { readonly ok: true; readonly present: false }
  | { readonly ok: false; readonly reason: "malformed" | "wrong_key" | "root_mismatch" };

/**
 * Checks a proof for `key` against `root`. Returns the value the map holds for key (present) or
 * that it holds none (absent); never throws on hostile input.
 */
export function verifyEntityMapProof(root: Uint8Array, key: Uint8Array, proof: EntityMapProof): ProofResult {
  const { siblings, leaf } = proof;
  if (!Array.isArray(siblings) || siblings.length > MAX_PROOF_DEPTH || key.length !== KEY_BYTES || root.length !== DIGEST_BYTES) return { ok: false, reason: "malformed" };
  for (const s of siblings) if (!(s instanceof Uint8Array) || s.length !== DIGEST_BYTES) return { ok: false, reason: "malformed" };
  if (leaf !== undefined && (!(leaf.key instanceof Uint8Array) || leaf.key.length !== KEY_BYTES || !(leaf.value instanceof Uint8Array) || leaf.value.length !== VALUE_BYTES)) {
    return { ok: false, reason: "malformed" };
  }
  const depth = siblings.length;
  // The leaf must sit where key's path leads: it shares key's first `depth` bits.
  if (leaf && commonPrefixBits(leaf.key, key) < depth) return { ok: false, reason: "wrong_key" };
  // Bottom-up in the one scratch buffer: each level's digest is written straight into the slot the
  // next level reads (left or right by the key's bit), so a proof check allocates no Buffer per
  // level (the enclave runs this per entity served; bench/micro/freshness.ts).
  pathScratch.set(leaf ? leafHash(leaf.key, leaf.value) : EMPTY, 0);
  for (let d = depth - 1; d >= 0; d--) {
    const right = keyBit(key, d) === 1;
    scratch[0] = 0x01;
    scratch.set(siblings[d]!, right ? 1 : 1 + DIGEST_BYTES);
    scratch.set(pathScratch, right ? 1 + DIGEST_BYTES : 1);
    pathScratch.write(hash("sha256", scratch, "binary"), 0, "latin1");
  }
  if (!pathScratch.equals(root)) return { ok: false, reason: "root_mismatch" };
  if (leaf && leaf.key.equals(key)) return { ok: true, present: true, value: Buffer.from(leaf.value) };
  return { ok: true, present: false };
}

// ---- The tree (writers and hosts hold it; the enclave only verifies proofs) ----
//
// Held in a slot pool rather than one JS object per leaf and node: a view's map lives in every
// runtime and in its sequencer, and objects with Buffers cost ≈ 785 B per entity (a c7g.large's
// 4 GiB held ≈ 4 M entities; bench/micro/entity-map.ts). A slot is 32 bytes of hash in `hashes`
// plus two int32 in `links`: a node's children (NONE for an empty subtree), or a leaf's record
// (LEAF_TAG | index into `records`, 72 bytes: key then value). Freed slots and records are reused.
// Every Buffer the map hands out is a copy: slots are rewritten in place and the pool moves when
// it grows.

const NONE = -1;
/** Sibling slots of the path being proven (a path is at most MAX_PROOF_DEPTH deep); synchronous use only. */
const pathSlots = new Int32Array(MAX_PROOF_DEPTH);
const LEAF_TAG = 0x40000000;
const RECORD_BYTES = KEY_BYTES + VALUE_BYTES;
const INITIAL_SLOTS = 64;

/**
 * A view's entity map in memory: set/delete by key, root, proofs. Updates cost one hash per level
 * of the path (≈ log2 n), so a writer can keep the map current while it writes.
 */
export class EntityMap {
  private hashes = Buffer.alloc(INITIAL_SLOTS * DIGEST_BYTES);
  /** The same bytes as 32-bit words: proofs copy siblings a word at a time (see provePacked). */
  private hashes32 = new Uint32Array(this.hashes.buffer, this.hashes.byteOffset, this.hashes.length >>> 2);
  /** Per slot: [left, right] of a node, or [LEAF_TAG | record, 0] of a leaf. */
  private links = new Int32Array(INITIAL_SLOTS * 2);
  private records = Buffer.alloc(INITIAL_SLOTS * RECORD_BYTES);
  private records32 = new Uint32Array(this.records.buffer, this.records.byteOffset, this.records.length >>> 2);
  private slotsUsed = 0;
  private recordsUsed = 0;
  private readonly freeSlots: number[] = [];
  private readonly freeRecords: number[] = [];
  private root = NONE;
  private count = 0;

  get size(): number {
    return this.count;
  }

  rootHash(): Buffer {
    return this.root === NONE ? Buffer.from(EMPTY) : Buffer.from(this.hashes.subarray(this.root * DIGEST_BYTES, (this.root + 1) * DIGEST_BYTES));
  }

  get(key: Uint8Array): Buffer | undefined {
    let t = this.root;
    for (let d = 0; t !== NONE; d++) {
      if (this.isLeaf(t)) return this.keyIs(t, key) ? Buffer.from(this.valueOf(t)) : undefined;
      t = keyBit(key, d) === 0 ? this.links[2 * t]! : this.links[2 * t + 1]!;
    }
    return undefined;
  }

  /** Sets key's value (the digest of the entity's current object, or of its tombstone). */
  set(key: Uint8Array, value: Uint8Array): void {
    if (key.length !== KEY_BYTES || value.length !== VALUE_BYTES) throw new RangeError(`entity map keys are ${KEY_BYTES} bytes and values ${VALUE_BYTES}`);
    this.root = this.insert(this.root, key, value, 0);
  }

  /** Removes key (the entity has no object any more). Returns whether it was there. */
  delete(key: Uint8Array): boolean {
    if (key.length !== KEY_BYTES) return false;
    const before = this.count;
    this.root = this.remove(this.root, key, 0);
    return this.count < before;
  }

  prove(key: Uint8Array): EntityMapProof {
    const packed = this.provePacked(key);
    const siblings: Buffer[] = [];
    for (let at = 0; at < packed.siblings.length; at += DIGEST_BYTES) siblings.push(packed.siblings.subarray(at, at + DIGEST_BYTES));
    return packed.leaf ? { siblings, leaf: packed.leaf } : { siblings };
  }

  /**
   * The proof with its siblings concatenated root-down, as it travels (wire/checkpoint.ts
   * toWireProof takes either shape): one Buffer per proof, siblings and leaf in it — the host
   * proves every entity it serves.
   */
  provePacked(key: Uint8Array): PackedEntityMapProof {
    let depth = 0;
    let t = this.root;
    for (; t !== NONE && !this.isLeaf(t); depth++) {
      const right = keyBit(key, depth) === 1;
      pathSlots[depth] = right ? this.links[2 * t]! : this.links[2 * t + 1]!;
      t = right ? this.links[2 * t + 1]! : this.links[2 * t]!;
    }
    const out = Buffer.allocUnsafe(depth * DIGEST_BYTES + (t === NONE ? 0 : RECORD_BYTES));
    const r = t === NONE ? 0 : this.recordAt(t);
    const at = depth * DIGEST_BYTES;
    if ((out.byteOffset & 3) === 0) {
      // Word copies: a 32-byte Buffer.copy costs ≈ 0.2–0.3 µs in argument checks, eight Uint32
      // assignments ≈ 0.03 µs — the host builds one proof per entity it serves (100 per batch;
      // bench/micro/entity-map-ab.ts). Slot pools are Buffer.alloc'd (offset 0); `out` comes from
      // Node's pool, whose offsets are 8-byte aligned, so this branch is the one taken.
      const o32 = new Uint32Array(out.buffer, out.byteOffset, out.length >>> 2);
      const h32 = this.hashes32;
      for (let d = 0; d < depth; d++) {
        const sibling = pathSlots[d]!;
        const o = d * 8;
        if (sibling === NONE) for (let k = 0; k < 8; k++) o32[o + k] = 0;
        else for (let k = 0, s = sibling * 8; k < 8; k++) o32[o + k] = h32[s + k]!;
      }
      if (t !== NONE) for (let k = 0, o = at >>> 2, s = r >>> 2; k < RECORD_BYTES >>> 2; k++) o32[o + k] = this.records32[s + k]!;
    } else {
      for (let d = 0; d < depth; d++) {
        const sibling = pathSlots[d]!;
        if (sibling === NONE) out.fill(0, d * DIGEST_BYTES, (d + 1) * DIGEST_BYTES);
        else this.hashes.copy(out, d * DIGEST_BYTES, sibling * DIGEST_BYTES, (sibling + 1) * DIGEST_BYTES);
      }
      if (t !== NONE) this.records.copy(out, at, r, r + RECORD_BYTES);
    }
    const siblings = out.subarray(0, at);
    if (t === NONE) return { siblings };
    return { siblings, leaf: { key: out.subarray(at, at + KEY_BYTES), value: out.subarray(at + KEY_BYTES, at + RECORD_BYTES) } };
  }

  // ---- slots ----

  private isLeaf(t: number): boolean {
    // NONE (−1) has every bit set: a leaf's first link is LEAF_TAG | record, never negative.
    const first = this.links[2 * t]!;
    return first >= LEAF_TAG;
  }

  private recordAt(t: number): number {
    return (this.links[2 * t]! & ~LEAF_TAG) * RECORD_BYTES;
  }

  private keyIs(t: number, key: Uint8Array): boolean {
    const r = this.recordAt(t);
    return this.records.compare(key, 0, KEY_BYTES, r, r + KEY_BYTES) === 0;
  }

  private valueOf(t: number): Buffer {
    const r = this.recordAt(t) + KEY_BYTES;
    return this.records.subarray(r, r + VALUE_BYTES);
  }

  private newSlot(): number {
    const free = this.freeSlots.pop();
    if (free !== undefined) return free;
    // A child index must stay below LEAF_TAG, which marks a leaf's record (≈ 2.5 slots per entity).
    if (this.slotsUsed >= LEAF_TAG) throw new RangeError("entity map is full (2^30 slots)");
    if (this.slotsUsed * DIGEST_BYTES === this.hashes.length) {
      const hashes = Buffer.alloc(this.hashes.length * 2);
      this.hashes.copy(hashes);
      this.hashes = hashes;
      this.hashes32 = new Uint32Array(hashes.buffer, hashes.byteOffset, hashes.length >>> 2);
      const links = new Int32Array(this.links.length * 2);
      links.set(this.links);
      this.links = links;
    }
    return this.slotsUsed++;
  }

  private freeSlot(t: number): void {
    if (this.isLeaf(t)) this.freeRecords.push(this.recordAt(t) / RECORD_BYTES);
    this.freeSlots.push(t);
  }

  private newLeaf(key: Uint8Array, value: Uint8Array): number {
    let record = this.freeRecords.pop();
    if (record === undefined) {
      if (this.recordsUsed * RECORD_BYTES === this.records.length) {
        const records = Buffer.alloc(this.records.length * 2);
        this.records.copy(records);
        this.records = records;
        this.records32 = new Uint32Array(records.buffer, records.byteOffset, records.length >>> 2);
      }
      record = this.recordsUsed++;
    }
    const t = this.newSlot();
    this.links[2 * t] = LEAF_TAG | record;
    this.links[2 * t + 1] = 0;
    this.records.set(key, record * RECORD_BYTES);
    this.records.set(value, record * RECORD_BYTES + KEY_BYTES);
    this.rehashLeaf(t);
    return t;
  }

  private newNode(left: number, right: number): number {
    const t = this.newSlot();
    this.links[2 * t] = left;
    this.links[2 * t + 1] = right;
    this.rehashNode(t);
    return t;
  }

  private rehashLeaf(t: number): void {
    const r = this.recordAt(t);
    leafScratch[0] = 0x00;
    this.records.copy(leafScratch, 1, r, r + RECORD_BYTES);
    this.hashes.write(hash("sha256", leafScratch, "binary"), t * DIGEST_BYTES, "latin1");
  }

  private rehashNode(t: number): void {
    scratch[0] = 0x01;
    this.hashInto(this.links[2 * t]!, 1);
    this.hashInto(this.links[2 * t + 1]!, 1 + DIGEST_BYTES);
    this.hashes.write(hash("sha256", scratch, "binary"), t * DIGEST_BYTES, "latin1");
  }

  private hashInto(t: number, at: number): void {
    if (t === NONE) scratch.fill(0, at, at + DIGEST_BYTES);
    else this.hashes.copy(scratch, at, t * DIGEST_BYTES, (t + 1) * DIGEST_BYTES);
  }

  // ---- updates (recursive by depth, like the format's definition) ----

  private insert(t: number, key: Uint8Array, value: Uint8Array, depth: number): number {
    if (t === NONE) {
      this.count++;
      return this.newLeaf(key, value);
    }
    if (this.isLeaf(t)) {
      if (this.keyIs(t, key)) {
        const r = this.recordAt(t) + KEY_BYTES;
        if (this.records.compare(value, 0, VALUE_BYTES, r, r + VALUE_BYTES) !== 0) {
          this.records.set(value, r);
          this.rehashLeaf(t);
        }
        return t;
      }
      this.count++;
      return this.split(t, this.newLeaf(key, value), depth);
    }
    // The child first, then the store: inserting may grow the pool and replace `this.links`
    // (`this.links[i] = this.insert(…)` would write into the old array).
    const side = 2 * t + keyBit(key, depth);
    const child = this.insert(this.links[side]!, key, value, depth + 1);
    this.links[side] = child;
    this.rehashNode(t);
    return t;
  }

  private remove(t: number, key: Uint8Array, depth: number): number {
    if (t === NONE) return NONE;
    if (this.isLeaf(t)) {
      if (!this.keyIs(t, key)) return t;
      this.count--;
      this.freeSlot(t);
      return NONE;
    }
    const side = 2 * t + keyBit(key, depth);
    const child = this.remove(this.links[side]!, key, depth + 1);
    this.links[side] = child;
    const left = this.links[2 * t]!;
    const right = this.links[2 * t + 1]!;
    // Keep the tree canonical: a node left with a single leaf and nothing else becomes that leaf.
    if (left === NONE && (right === NONE || this.isLeaf(right))) {
      this.freeSlot(t);
      return right;
    }
    if (right === NONE && this.isLeaf(left)) {
      this.freeSlot(t);
      return left;
    }
    this.rehashNode(t);
    return t;
  }

  /** Two distinct leaves under one position at `depth`: nodes down to the first bit where they differ. */
  private split(a: number, b: number, depth: number): number {
    const ra = this.recordAt(a);
    const rb = this.recordAt(b);
    const aKey = this.records.subarray(ra, ra + KEY_BYTES);
    const differ = commonPrefixBits(aKey, this.records.subarray(rb, rb + KEY_BYTES));
    const aLeft = keyBit(aKey, differ) === 0;
    // (newNode grows only the slot pools, never `records`, so aKey stays a view of a's key.)
    let node = aLeft ? this.newNode(a, b) : this.newNode(b, a);
    for (let d = differ - 1; d >= depth; d--) node = keyBit(aKey, d) === 0 ? this.newNode(node, NONE) : this.newNode(NONE, node);
    return node;
  }
}

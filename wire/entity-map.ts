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

function commonPrefixBits(a: Uint8Array, b: Uint8Array): number {
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

interface Leaf {
  readonly kind: 0;
  readonly key: Buffer;
  value: Buffer;
  hash: Buffer;
}
interface Node {
  readonly kind: 1;
  left: Tree;
  right: Tree;
  hash: Buffer;
}
type Tree = Leaf | Node | null;

const hashOf = (t: Tree): Buffer => (t === null ? EMPTY : t.hash);

function makeLeaf(key: Buffer, value: Buffer): Leaf {
  return { kind: 0, key, value, hash: leafHash(key, value) };
}

function makeNode(left: Tree, right: Tree): Node {
  return { kind: 1, left, right, hash: nodeHash(hashOf(left), hashOf(right)) };
}

/**
 * A view's entity map in memory: set/delete by key, root, proofs. Updates cost one hash per level
 * of the path (≈ log2 n), so a writer can keep the map current while it writes.
 */
export class EntityMap {
  private root: Tree = null;
  private count = 0;

  get size(): number {
    return this.count;
  }

  rootHash(): Buffer {
    return hashOf(this.root);
  }

  get(key: Uint8Array): Buffer | undefined {
    let t = this.root;
    for (let d = 0; t !== null; d++) {
      if (t.kind === 0) return t.key.equals(key) ? t.value : undefined;
      t = keyBit(key, d) === 0 ? t.left : t.right;
    }
    return undefined;
  }

  /** Sets key's value (the digest of the entity's current object, or of its tombstone). */
  set(key: Uint8Array, value: Uint8Array): void {
    if (key.length !== KEY_BYTES || value.length !== VALUE_BYTES) throw new RangeError(`entity map keys are ${KEY_BYTES} bytes and values ${VALUE_BYTES}`);
    const k = Buffer.from(key);
    const v = Buffer.from(value);
    this.root = this.insert(this.root, k, v, 0);
  }

  private insert(t: Tree, key: Buffer, value: Buffer, depth: number): Tree {
    if (t === null) {
      this.count++;
      return makeLeaf(key, value);
    }
    if (t.kind === 0) {
      if (t.key.equals(key)) {
        if (!t.value.equals(value)) {
          t.value = value;
          t.hash = leafHash(key, value);
        }
        return t;
      }
      this.count++;
      return split(t, makeLeaf(key, value), depth);
    }
    if (keyBit(key, depth) === 0) t.left = this.insert(t.left, key, value, depth + 1);
    else t.right = this.insert(t.right, key, value, depth + 1);
    t.hash = nodeHash(hashOf(t.left), hashOf(t.right));
    return t;
  }

  /** Removes key (the entity has no object any more). Returns whether it was there. */
  delete(key: Uint8Array): boolean {
    const before = this.count;
    this.root = this.remove(this.root, Buffer.from(key), 0);
    return this.count < before;
  }

  private remove(t: Tree, key: Buffer, depth: number): Tree {
    if (t === null) return null;
    if (t.kind === 0) {
      if (!t.key.equals(key)) return t;
      this.count--;
      return null;
    }
    if (keyBit(key, depth) === 0) t.left = this.remove(t.left, key, depth + 1);
    else t.right = this.remove(t.right, key, depth + 1);
    // Keep the tree canonical: a node left with a single leaf and nothing else becomes that leaf.
    if (t.left === null && (t.right === null || t.right.kind === 0)) return t.right;
    if (t.right === null && t.left !== null && t.left.kind === 0) return t.left;
    t.hash = nodeHash(hashOf(t.left), hashOf(t.right));
    return t;
  }

  prove(key: Uint8Array): EntityMapProof {
    const siblings: Buffer[] = [];
    let t = this.root;
    for (let d = 0; t !== null && t.kind === 1; d++) {
      const right = keyBit(key, d) === 1;
      siblings.push(hashOf(right ? t.left : t.right));
      t = right ? t.right : t.left;
    }
    return t === null ? { siblings } : { siblings, leaf: { key: t.key, value: t.value } };
  }
}

/** Two distinct leaves under one position at `depth`: nodes down to the first bit where they differ. */
function split(a: Leaf, b: Leaf, depth: number): Node {
  const differ = commonPrefixBits(a.key, b.key);
  let node: Node = keyBit(a.key, differ) === 0 ? makeNode(a, b) : makeNode(b, a);
  for (let d = differ - 1; d >= depth; d--) node = keyBit(a.key, d) === 0 ? makeNode(node, null) : makeNode(null, node);
  return node;
}

// The entity map as it was before the compact slot pool (session 6 and earlier: one JS object per
// leaf and node, ≈ 785 B per entity): the reference the compact wire/entity-map.ts EntityMap is
// property-tested against (test/wire/entity-map.test.ts). Test-only; same roots, values and proofs.
import { commonPrefixBits, EMPTY, KEY_BYTES, VALUE_BYTES, keyBit, leafHash, nodeHash, type EntityMapProof } from "../../wire/entity-map";

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
export class ReferenceEntityMap {
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

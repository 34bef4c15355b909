/**
 * P2, monotonic per enclave: once this enclave has served or sealed version t (the sealed
 * event_time) of an entity, it refuses any older version of that entity for the rest of its life,
 * whatever bytes the host sends. In memory only: a restarted enclave starts empty (docs/trust.md
 * states the window that leaves).
 *
 * Entities are keyed by a 52-bit hash of (view, entity) in a typed-array hash table (below). A collision can only make an entity's mark *higher* than
 * its own history, i.e. refuse an older genuine object of the other entity: fail closed, and at a
 * million entities the chance that any two collide is ≈ 1e12 / 2^53 ≈ 1e-4.
 *
 * Bounded: at `maxEntities` a new entity is refused (`high_water_full`) rather than tracked
 * partially — an untracked entity could be rolled back, a refused one cannot be served wrong.
 */

/**
 * Two 32-bit multiplicative hashes (FNV-1a style) over the UTF-16 code units of view, a separator
 * and entity, folded into one safe integer (32 + 20 bits). Plain loops and locals: a closure here
 * cost ≈ 10× (bench/micro/high-water.ts).
 */
export function entityHash(view: string, entity: string): number {
  let a = 0x811c9dc5;
  let b = 0x9747b28c ^ view.length;
  for (let i = 0; i < view.length; i++) {
    const c = view.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  a = Math.imul(a ^ 0xffff, 0x01000193);
  b = Math.imul(b ^ 0xffff, 0x5bd1e995);
  for (let i = 0; i < entity.length; i++) {
    const c = entity.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  return (b >>> 12) * 0x1_0000_0000 + (a >>> 0);
}

export type HighWaterVerdict = "ok" | "rolled_back" | "high_water_full";

export const DEFAULT_MAX_TRACKED_ENTITIES = 4_000_000;

/**
 * An open-addressing hash table in two Float64Arrays (hash → event time): 16 bytes a slot, at most
 * half full, so ≤ 32 bytes per entity, and nothing for the garbage collector to walk — a Map of a
 * million entries costs ≈ 60 bytes each and is marked on every major GC of the signer
 * (bench/micro/high-water.ts). Grows by doubling; slot key 0 means empty.
 */
export class HighWaterMarks {
  private keys = new Float64Array(1 << 12);
  private values = new Float64Array(1 << 12);
  private count = 0;

  constructor(readonly maxEntities = DEFAULT_MAX_TRACKED_ENTITIES) {}

  get size(): number {
    return this.count;
  }

  /** Bytes held by the table now. */
  get bytes(): number {
    return this.keys.byteLength + this.values.byteLength;
  }

  /**
   * Admit version `eventTime` of (view, entity) and raise its mark. Equal times pass (the same
   * version served twice, or two writers that chose one event time).
   */
  admit(view: string, entity: string, eventTime: number): HighWaterVerdict {
    const key = entityHash(view, entity) || 1;
    const mask = this.keys.length - 1;
    let slot = (key % 0x1_0000_0000) & mask;
    for (;;) {
      const k = this.keys[slot]!;
      if (k === key) {
        const mark = this.values[slot]!;
        if (eventTime < mark) return "rolled_back";
        if (eventTime > mark) this.values[slot] = eventTime;
        return "ok";
      }
      if (k === 0) break;
      slot = (slot + 1) & mask;
    }
    if (this.count >= this.maxEntities) return "high_water_full";
    this.keys[slot] = key;
    this.values[slot] = eventTime;
    this.count++;
    if (this.count * 2 > this.keys.length) this.grow();
    return "ok";
  }

  /** The entity's mark (highest version served or sealed), or undefined when it is not tracked. */
  mark(view: string, entity: string): number | undefined {
    const key = entityHash(view, entity) || 1;
    const mask = this.keys.length - 1;
    let slot = (key % 0x1_0000_0000) & mask;
    for (;;) {
      const k = this.keys[slot]!;
      if (k === key) return this.values[slot]!;
      if (k === 0) return undefined;
      slot = (slot + 1) & mask;
    }
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldValues = this.values;
    this.keys = new Float64Array(oldKeys.length * 2);
    this.values = new Float64Array(oldKeys.length * 2);
    const mask = this.keys.length - 1;
    for (let i = 0; i < oldKeys.length; i++) {
      const k = oldKeys[i]!;
      if (k === 0) continue;
      let slot = (k % 0x1_0000_0000) & mask;
      while (this.keys[slot] !== 0) slot = (slot + 1) & mask;
      this.keys[slot] = k;
      this.values[slot] = oldValues[i]!;
    }
  }
}

/**
 * Writer push nonces seen within the signature window (wire/writer-auth.ts): a replayed push is
 * refused. Entries expire with the window; at `max` entries new pushes are refused (503) instead of
 * forgetting nonces that are still inside it.
 */
export class NonceCache {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly windowMs: number,
    readonly max = 200_000,
  ) {}

  get size(): number {
    return this.seen.size;
  }

  /** "fresh" (now remembered), "replayed", or "full". */
  check(kid: string, nonce: string, nowMs: number): "fresh" | "replayed" | "full" {
    // Map keeps insertion order and every entry lives for the same window: expire from the front.
    for (const [k, expires] of this.seen) {
      if (expires > nowMs) break;
      this.seen.delete(k);
    }
    const key = `${kid}\u0000${nonce}`;
    if (this.seen.has(key)) return "replayed";
    if (this.seen.size >= this.max) return "full";
    this.seen.set(key, nowMs + this.windowMs);
    return "fresh";
  }
}

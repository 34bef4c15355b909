/**
 * P2, monotonic per enclave: once this enclave has served or sealed version t (the sealed
 * event_time) of an entity, it refuses any older version of that entity for the rest of its life,
 * whatever bytes the host sends. In memory only: a restarted enclave starts empty (docs/trust.md
 * states the window that leaves).
 *
 * Entities are keyed by a 52-bit hash of (view, entity) so an entry costs a number, not a string
 * (measured: bench/micro/high-water.ts). A collision can only make an entity's mark *higher* than
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

export class HighWaterMarks {
  private readonly marks = new Map<number, number>();

  constructor(readonly maxEntities = DEFAULT_MAX_TRACKED_ENTITIES) {}

  get size(): number {
    return this.marks.size;
  }

  /**
   * Admit version `eventTime` of (view, entity) and raise its mark. Equal times pass (the same
   * version served twice, or two writers that chose one event time).
   */
  admit(view: string, entity: string, eventTime: number): HighWaterVerdict {
    const key = entityHash(view, entity);
    const mark = this.marks.get(key);
    if (mark === undefined) {
      if (this.marks.size >= this.maxEntities) return "high_water_full";
      this.marks.set(key, eventTime);
      return "ok";
    }
    if (eventTime < mark) return "rolled_back";
    if (eventTime > mark) this.marks.set(key, eventTime);
    return "ok";
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

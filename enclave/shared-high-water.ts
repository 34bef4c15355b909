/**
 * P2's high-water marks shared by the signer's threads (`--workers N`, enclave/sign-workers.ts):
 * the same table as HighWaterMarks (enclave/high-water.ts — same hash, same verdicts, same bound),
 * in shared memory, so a version one thread served raises the mark every other thread checks.
 * Separate tables per thread would let the host roll an entity back by landing its older version
 * on another thread.
 *
 * Layout: one growable SharedArrayBuffer of [key, mark] Float64 pairs (open addressing, at most
 * half full, grown by doubling up to 2 × maxEntities slots; address space is reserved up front,
 * memory is committed as it grows) and an Int32 header [lock, count]. Every admit takes the lock
 * (a futex-style mutex on Atomics.wait/notify): an admit is well under a microsecond, and a grow
 * rehashes in place while holding it. Atomics' ordering makes the plain typed-array accesses
 * inside the lock visible to the next holder.
 */
import { DEFAULT_MAX_TRACKED_ENTITIES, entityHash, type HighWaterVerdict } from "./high-water";

const INITIAL_SLOTS = 1 << 12;
const LOCK = 0;
const COUNT = 1;

/** What another thread needs to attach to the same table (posted to workers, never in a frame). */
export interface SharedHighWaterHandle {
  readonly header: SharedArrayBuffer;
  readonly table: SharedArrayBuffer;
  readonly maxEntities: number;
}

function pow2AtLeast(n: number): number {
  let p = INITIAL_SLOTS;
  while (p < n) p *= 2;
  return p;
}

export class SharedHighWaterMarks {
  readonly maxEntities: number;
  private readonly header: Int32Array;
  private readonly buffer: SharedArrayBuffer;
  /** Length-tracking: every thread sees the table's current size after a grow. */
  private readonly table: Float64Array;

  constructor(maxEntities = DEFAULT_MAX_TRACKED_ENTITIES, handle?: SharedHighWaterHandle) {
    if (handle) {
      this.maxEntities = handle.maxEntities;
      this.header = new Int32Array(handle.header);
      this.buffer = handle.table;
    } else {
      this.maxEntities = maxEntities;
      this.header = new Int32Array(new SharedArrayBuffer(8));
      const maxSlots = pow2AtLeast(2 * maxEntities);
      // Growable SharedArrayBuffer (ES2024; Node ≥ 20).
      const Growable = SharedArrayBuffer as unknown as new (length: number, options: { maxByteLength: number }) => SharedArrayBuffer;
      this.buffer = new Growable(Math.min(INITIAL_SLOTS, maxSlots) * 16, { maxByteLength: maxSlots * 16 });
    }
    this.table = new Float64Array(this.buffer);
  }

  /** Attach another thread to this table. */
  get handle(): SharedHighWaterHandle {
    return { header: this.header.buffer as SharedArrayBuffer, table: this.buffer, maxEntities: this.maxEntities };
  }

  get size(): number {
    return Atomics.load(this.header, COUNT);
  }

  get bytes(): number {
    return this.buffer.byteLength;
  }

  admit(view: string, entity: string, eventTime: number): HighWaterVerdict {
    const key = entityHash(view, entity) || 1;
    this.lock();
    try {
      const t = this.table;
      const slot = this.probe(key);
      if (t[2 * slot] === key) {
        const mark = t[2 * slot + 1]!;
        if (eventTime < mark) return "rolled_back";
        if (eventTime > mark) t[2 * slot + 1] = eventTime;
        return "ok";
      }
      const count = this.header[COUNT]!;
      if (count >= this.maxEntities) return "high_water_full";
      t[2 * slot] = key;
      t[2 * slot + 1] = eventTime;
      this.header[COUNT] = count + 1;
      if ((count + 1) * 2 > t.length / 2) this.grow();
      return "ok";
    } finally {
      this.unlock();
    }
  }

  /** The mark held for an entity, or undefined when it is not tracked (HighWaterMarks.mark). */
  mark(view: string, entity: string): number | undefined {
    const key = entityHash(view, entity) || 1;
    this.lock();
    try {
      const slot = this.probe(key);
      return this.table[2 * slot] === key ? this.table[2 * slot + 1]! : undefined;
    } finally {
      this.unlock();
    }
  }

  /** Holding the lock: double the table and rehash in place. */
  private grow(): void {
    const growable = this.buffer as SharedArrayBuffer & { grow(n: number): void; maxByteLength: number };
    const bytes = this.buffer.byteLength * 2;
    if (bytes > growable.maxByteLength) return; // at the bound: count ≤ maxEntities ≤ slots / 2 still holds
    const old = this.table.slice(); // a private copy of the pairs
    growable.grow(bytes);
    const t = this.table;
    t.fill(0, 0, old.length);
    for (let i = 0; i < old.length; i += 2) {
      const k = old[i]!;
      if (k === 0) continue;
      const slot = this.probe(k);
      t[2 * slot] = k;
      t[2 * slot + 1] = old[i + 1]!;
    }
  }

  /** Holding the lock: the slot that holds `key`, else the empty slot where it goes (linear probing). */
  private probe(key: number): number {
    const t = this.table;
    const mask = t.length / 2 - 1;
    let slot = (key % 0x1_0000_0000) & mask;
    while (t[2 * slot] !== key && t[2 * slot] !== 0) slot = (slot + 1) & mask;
    return slot;
  }

  // A three-state futex mutex (0 free, 1 held, 2 held with waiters), after Drepper, "Futexes Are Tricky".
  private lock(): void {
    const h = this.header;
    let c = Atomics.compareExchange(h, LOCK, 0, 1);
    if (c === 0) return;
    do {
      if (c === 2 || Atomics.compareExchange(h, LOCK, 1, 2) !== 0) Atomics.wait(h, LOCK, 2);
      c = Atomics.compareExchange(h, LOCK, 0, 2);
    } while (c !== 0);
  }

  private unlock(): void {
    const h = this.header;
    if (Atomics.sub(h, LOCK, 1) !== 1) {
      Atomics.store(h, LOCK, 0);
      Atomics.notify(h, LOCK, 1);
    }
  }
}

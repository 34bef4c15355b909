/**
 * The runtime's outgoing frame queue to the signer: frames are written into a pooled slab and the
 * frames of one event-loop turn go out as one write of a slab range (what wire/frames.ts
 * FrameWriter does with a queue and Buffer.concat). SignRead frames are encoded straight into the
 * slab (wire/frames.ts writeSignReadFrame): no per-frame buffer, no copy into a coalesced one, and
 * a batch's ≈ 460 KB frame reuses memory instead of becoming garbage for the young generation to
 * scavenge (issue #15, "reuse or pool frame buffers"; docs/performance.md "Session 7").
 *
 * A slab is reused only once every write from it has completed (the socket's write callback): the
 * stream may still hold a range of it until then. In steady state two slabs alternate; a frame
 * larger than half a slab gets a buffer of its own.
 */

/** How the queue hands bytes to the socket: `done` once they are no longer referenced. */
export type SlabWrite = (data: Buffer, done: () => void) => void;

interface Slab {
  readonly buffer: Buffer;
  /** Writes from this slab not yet completed. */
  outstanding: number;
  /** No longer the current slab: becomes the spare when its last write completes. */
  retired: boolean;
}

const DEFAULT_SLAB_BYTES = 1 << 20;

export class FrameSlabWriter {
  private slab: Slab;
  /** A drained slab, ready to be current again (at most one kept). */
  private spare: Slab | null = null;
  /** Next free byte of the current slab. */
  private pos = 0;
  /** Start of the bytes queued in the current slab and not yet written. */
  private queuedFrom = 0;
  private scheduled = false;
  private closed = false;

  /** `onFlush` (stage tracing only): called right after each coalesced write. */
  constructor(
    private readonly write: SlabWrite,
    private readonly onFlush?: () => void,
    private readonly slabBytes = DEFAULT_SLAB_BYTES,
  ) {
    this.slab = this.newSlab();
  }

  /**
   * Queue a frame written in place: `fill(target, offset)` writes at most `bound` bytes at
   * `offset` and returns the offset after them.
   */
  frame(bound: number, fill: (target: Buffer, offset: number) => number): void {
    if (this.closed) return;
    if (bound > this.slabBytes >> 1) {
      // Rare (a very large batch): its own buffer, after whatever is queued (frames stay in order).
      this.flush();
      const own = Buffer.allocUnsafe(bound);
      const end = fill(own, 0);
      this.write(own.subarray(0, end), noop);
      this.onFlush?.();
      return;
    }
    if (this.pos + bound > this.slab.buffer.length) this.nextSlab();
    const end = fill(this.slab.buffer, this.pos);
    if (end > this.pos + bound) throw new RangeError(`frame overran its bound (${end - this.pos} > ${bound})`);
    this.pos = end;
    this.schedule();
  }

  /** Queue a frame already encoded (wire/frames.ts encodeFrame): copied into the slab. */
  send(frame: Buffer): void {
    this.frame(frame.length, (target, offset) => offset + frame.copy(target, offset));
  }

  /** Bytes queued and not yet written. */
  get queued(): number {
    return this.pos - this.queuedFrom;
  }

  /** Drop anything queued (the connection is gone; callers fail their pending requests). */
  clear(): void {
    this.queuedFrom = this.pos;
  }

  /** Drop anything queued and queue nothing more (the connection is gone for good). */
  close(): void {
    this.clear();
    this.closed = true;
  }

  private schedule(): void {
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushScheduled);
    }
  }

  private readonly flushScheduled = (): void => {
    this.scheduled = false;
    this.flush();
  };

  /** Write what the current slab has queued, as one range. */
  private flush(): void {
    if (this.pos === this.queuedFrom || this.closed) return;
    const slab = this.slab;
    const data = slab.buffer.subarray(this.queuedFrom, this.pos);
    this.queuedFrom = this.pos;
    slab.outstanding++;
    this.write(data, () => this.completed(slab));
    this.onFlush?.();
  }

  private completed(slab: Slab): void {
    slab.outstanding--;
    if (slab.retired && slab.outstanding === 0 && this.spare === null) this.spare = slab;
  }

  /** The current slab is full: write its queued range, continue in a drained slab (or a new one). */
  private nextSlab(): void {
    this.flush();
    const old = this.slab;
    if (old.outstanding > 0) {
      old.retired = true;
      this.slab = this.spare ?? this.newSlab();
      this.slab.retired = false;
      this.spare = null;
    }
    this.pos = 0;
    this.queuedFrom = 0;
  }

  private newSlab(): Slab {
    // Outside Node's shared pool: a slab is long-lived and its own.
    return { buffer: Buffer.allocUnsafeSlow(this.slabBytes), outstanding: 0, retired: false };
  }
}

const noop = (): void => {};

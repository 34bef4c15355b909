/**
 * Load shedding: at most `maxInFlight` requests are being worked on at once. Beyond that the
 * runtime answers 503 `overloaded` with Retry-After immediately, instead of queueing: a queue in
 * front of a saturated store/signer only turns into latency (every admitted request waits for the
 * ones ahead of it), while a fast 503 lets the caller retry elsewhere or fall back.
 *
 * Latency of admitted requests is bounded by Little's law: ≈ maxInFlight / capacity.
 */
export class Admission {
  private current = 0;
  private shedCount = 0;

  constructor(public maxInFlight: number) {
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw new RangeError("maxInFlight must be a positive integer");
  }

  get inFlight(): number {
    return this.current;
  }

  get shed(): number {
    return this.shedCount;
  }

  /** True when admitted (call leave() exactly once afterwards). */
  tryEnter(): boolean {
    if (this.current >= this.maxInFlight) {
      this.shedCount++;
      return false;
    }
    this.current++;
    return true;
  }

  leave(): void {
    if (this.current > 0) this.current--;
  }
}

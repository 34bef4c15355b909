/**
 * The signer's half of stage tracing (runtime/stage-trace.ts explains the whole): on only when the
 * signer is started with it (dev signer `--trace-stages`; never in the enclave image's unit), it
 * stamps traced reads and collects this process's GC pauses for the next traced reply's trailer.
 */
import { PerformanceObserver, performance } from "node:perf_hooks";

/** µs on this process's monotonic clock. */
export const nowUs = (): number => performance.now() * 1000;

/** GC pauses of this process since the last take(), bounded (the oldest are dropped). */
export class GcPauses {
  private pauses: Array<readonly [number, number]> = [];
  private readonly observer: PerformanceObserver;

  constructor(private readonly max = 256) {
    this.observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        this.pauses.push([e.startTime * 1000, e.duration * 1000]);
        if (this.pauses.length > this.max) this.pauses.shift();
      }
    });
    this.observer.observe({ entryTypes: ["gc"] });
  }

  /** [start µs, duration µs] of the pauses seen since the last call. */
  take(): Array<readonly [number, number]> {
    const taken = this.pauses;
    this.pauses = [];
    return taken;
  }

  stop(): void {
    this.observer.disconnect();
  }
}

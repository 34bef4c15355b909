/** Discrete-event virtual time for load-generator tests: no real waiting, no timed assertions. */
import type { Clock } from "../../dev/load";

export class VirtualClock implements Clock {
  private t = 0;
  private timers: Array<{ at: number; seq: number; resolve: () => void }> = [];
  private seq = 0;

  now(): number {
    return this.t;
  }

  sleepUntil(at: number): Promise<void> {
    return new Promise((resolve) => {
      this.timers.push({ at: Math.max(at, this.t), seq: this.seq++, resolve });
    });
  }

  sleep(ms: number): Promise<void> {
    return this.sleepUntil(this.t + ms);
  }

  /** Run until `done` settles: let promise chains run, then fire the earliest timer, repeat. */
  async run<T>(done: Promise<T>): Promise<T> {
    let finished = false;
    const tracked = done.finally(() => {
      finished = true;
    });
    for (;;) {
      await new Promise((r) => setImmediate(r));
      if (finished) return tracked;
      if (this.timers.length === 0) throw new Error("virtual clock: nothing scheduled and the run has not finished");
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers.shift()!;
      this.t = next.at;
      next.resolve();
    }
  }
}

/** A single FIFO server on virtual time: one request at a time, service time per request index. */
export function fifoServer(clock: VirtualClock, serviceMs: (index: number) => number) {
  let freeAt = 0;
  let index = 0;
  return async () => {
    const start = Math.max(clock.now(), freeAt);
    freeAt = start + serviceMs(index++);
    await clock.sleepUntil(freeAt);
    return { ok: true, status: 200 };
  };
}

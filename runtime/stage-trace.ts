/**
 * Stage tracing (`--trace-stages <file>`, benchmarks only): where every millisecond of a read went.
 *
 * Off (the default, production): the ReaderService holds no StageTraceLog, and its read path takes
 * one `if` to stay on the untraced code — no clock reads, no allocation, no trailer asked of the
 * signer. On: each read records, on this process's monotonic clock (µs, performance.now()):
 *
 *   accepted → storeSent → storeAnswered → frameQueued → frameSent → [signerReceived →
 *   signerDecoded → signerSigned] → replyReceived → responseWritten
 *
 * The bracketed stamps happen in the signer, on the signer's clock (an enclave has its own). No
 * clock alignment is attempted: the signer reports its own span (SignerStageTrace, a reply
 * trailer), and the runtime centres that span inside its own frameSent → replyReceived window, so
 * the hops out and back are each credited half the transit time that is not signer work (the same
 * symmetric-path assumption NTP makes). Differences inside the signer's span are exact; only the
 * split between the two hops is assumed.
 *
 * GC pauses (perf_hooks "gc" entries) of both processes go to the same file, the signer's mapped
 * onto this clock with the offset of the reply that carried them. The file is JSON lines, read by
 * bench/breakdown.ts.
 */
import { createWriteStream, type WriteStream } from "node:fs";
import { PerformanceObserver, performance } from "node:perf_hooks";
import type { SignerStageTrace } from "../wire/frames";

/** The stamps of one read, in order; the signer's three are on the runtime clock once mapped. */
export const STAGE_STAMPS = [
  "accepted",
  "storeSent",
  "storeAnswered",
  "frameQueued",
  "frameSent",
  "signerReceived",
  "signerDecoded",
  "signerSigned",
  "replyReceived",
  "responseWritten",
] as const;
export type StageStamp = (typeof STAGE_STAMPS)[number];
export type StageStamps = Record<StageStamp, number>;

/** µs on this process's monotonic clock. */
export const nowUs = (): number => performance.now() * 1000;

/** What the signer client fills in for one traced frame. */
export interface FrameStamps {
  queued: number;
  sent: number;
  received: number;
}

/**
 * Place the signer's span on the runtime clock: the offset that centres the signer's
 * received → signed span inside the runtime's frameSent → replyReceived window.
 */
export function signerClockOffset(frameSent: number, replyReceived: number, signer: Pick<SignerStageTrace, "received" | "signed">): number {
  return (frameSent + replyReceived) / 2 - (signer.received + signer.signed) / 2;
}

export interface TracedRead {
  readonly route: string;
  readonly status: number;
  readonly stamps: StageStamps;
}

export interface GcPause {
  readonly gc: "runtime" | "signer";
  /** µs, runtime clock. */
  readonly start: number;
  readonly duration: number;
}

/** The stamps of one read from the runtime's own stamps, its frame stamps and the signer's trailer. */
export function traceStamps(
  own: Pick<StageStamps, "accepted" | "storeSent" | "storeAnswered" | "responseWritten">,
  frame: FrameStamps,
  signer: SignerStageTrace | undefined,
): { stamps: StageStamps; signerGc: GcPause[] } {
  // Without a trailer (a signer that does not trace) the whole transit shows as one signer span.
  const s = signer ?? { received: frame.sent, decoded: frame.sent, signed: frame.received, gc: [] };
  const offset = signer ? signerClockOffset(frame.sent, frame.received, signer) : 0;
  return {
    stamps: {
      accepted: own.accepted,
      storeSent: own.storeSent,
      storeAnswered: own.storeAnswered,
      frameQueued: frame.queued,
      frameSent: frame.sent,
      signerReceived: s.received + offset,
      signerDecoded: s.decoded + offset,
      signerSigned: s.signed + offset,
      replyReceived: frame.received,
      responseWritten: own.responseWritten,
    },
    signerGc: s.gc.map(([start, duration]) => ({ gc: "signer" as const, start: start + offset, duration })),
  };
}

/** The trace file: one JSON line per traced read and per GC pause of either process. */
export class StageTraceLog {
  private readonly out: WriteStream;
  private readonly gc: PerformanceObserver;

  constructor(path: string) {
    this.out = createWriteStream(path, { flags: "a" });
    this.gc = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) this.writeGc({ gc: "runtime", start: e.startTime * 1000, duration: e.duration * 1000 });
    });
    this.gc.observe({ entryTypes: ["gc"] });
  }

  read(read: TracedRead, signerGc: readonly GcPause[]): void {
    const t = read.stamps;
    this.out.write(`${JSON.stringify({ route: read.route, status: read.status, t: STAGE_STAMPS.map((k) => Math.round(t[k] * 10) / 10) })}\n`);
    for (const g of signerGc) this.writeGc(g);
  }

  private writeGc(g: GcPause): void {
    this.out.write(`${JSON.stringify({ gc: g.gc, start: Math.round(g.start * 10) / 10, duration: Math.round(g.duration * 10) / 10 })}\n`);
  }

  close(): Promise<void> {
    this.gc.disconnect();
    return new Promise((resolve) => this.out.end(resolve));
  }
}

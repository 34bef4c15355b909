/**
 * Signing spread over worker threads inside the signer process (`--workers N`, N ≥ 2): on an
 * instance whose enclave has 2+ vCPUs, reads are answered by N threads instead of one. Same wire
 * protocol (the main thread still owns every connection, Hello, roles, pushes, provisioning and
 * attestation); only SignRead frames go to a worker, which answers them with the very same
 * Signer.handle code path and hands back the finished reply frame.
 *
 * The trust story is unchanged, because nothing leaves the process: the signing key is born in the
 * main thread (SigningKey.generate, exactly as before — the attestation binds that one key) and its
 * KeyObject is handed to the workers in memory (postMessage clones a KeyObject into another thread
 * of the same process; no bytes of it go to a socket, file or frame). Writer keys and lane keys
 * follow the same way whenever provisioning changes them, before the next read is dispatched
 * (messages to a worker are ordered). P2's high-water marks are one table in shared memory
 * (enclave/shared-high-water.ts), so no thread can serve what another refused to roll back.
 *
 * Fail closed: a worker that dies fails its in-flight reads with error replies (never an answer it
 * did not finish), and is replaced with the same key and state; requests beyond the in-flight
 * bound get `signer_busy`.
 */
import { statusOf } from "../wire/errors";
import type { RegistryRef, ViewDocument } from "../wire/registry-document";
import type { KeyObject } from "node:crypto";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Worker } from "node:worker_threads";
import { encodeFrame, FrameKind, type ErrorReply, type Frame } from "../wire/frames";
import type { SealKey } from "./seal";
import type { SharedHighWaterHandle } from "./shared-high-water";
import type { HeldCheckpoint } from "./checkpoint-state";

/** What a worker starts with (workerData). */
export interface SignWorkerInit {
  readonly expressLaneSignWorker: true;
  readonly key: KeyObject;
  readonly validitySeconds: number;
  readonly highWater: SharedHighWaterHandle;
  readonly traceStages: boolean;
  /** The main thread's performance.timeOrigin (ms): workers report stage times on its clock. */
  readonly mainTimeOrigin: number;
  readonly state: SignWorkerState;
}

/** Key state the main thread keeps in step (provisioning changes it). */
export interface SignWorkerState {
  readonly keyring: { readonly keys: readonly SealKey[]; readonly activeKid: string; readonly expiresAt: number } | null;
  readonly laneKeys: ReadonlyArray<{ readonly kid: string; readonly privateKey: KeyObject; readonly notBefore: number; readonly notAfter: number }>;
  /** The registry the main thread answers with (views in document form, and the ref answers name). */
  readonly registry: { readonly views: readonly ViewDocument[]; readonly ref: RegistryRef };
  /** The writer checkpoints the main thread holds (P8; it alone accepts them). */
  readonly checkpoints?: readonly HeldCheckpoint[];
}

/**
 * Reads travel in batches: everything one socket read brought for a worker goes in one message
 * (one ArrayBuffer of payloads, transferred, not copied), and the worker answers the batch with one
 * ArrayBuffer of finished reply frames, which the main thread writes to the connection as it is.
 * Per read the main thread only splits frame headers (FrameDecoder) and picks a worker: the cost
 * that made a second worker worth ≈ 6 % when every read was a message each way (docs/performance.md).
 */
export type ToWorker =
  | { readonly type: "state"; readonly state: SignWorkerState }
  | { readonly type: "checkpoints"; readonly held: readonly HeldCheckpoint[] }
  | {
      readonly type: "sign";
      readonly seq: number;
      /** Request ids, in order; payload i is `payloads[ends[i-1] ?? start .. ends[i])`. */
      readonly ids: readonly number[];
      readonly ends: readonly number[];
      /** Where the first payload starts (a large frame travels in the buffer it arrived in, behind its header). */
      readonly start: number;
      readonly payloads: ArrayBuffer;
      readonly receivedAt: number;
    };
export type FromWorker = { readonly type: "reply"; readonly seq: number; readonly frames: ArrayBuffer } | { readonly type: "ready" };

/** Bound on reads queued to the workers in all (beyond it: signer_busy). */
export const MAX_WORKER_IN_FLIGHT = 4096;

/**
 * A frame at least this large that has a buffer of its own (FrameDecoder's `exclusive`: it spanned
 * socket reads) goes to its worker in a message of its own, in that buffer, transferred: no copy on
 * this thread (a 100-entity batch frame is ≈ 430 KB). Smaller frames are gathered and copied, so
 * reads that arrive together still cost one message.
 */
export const TRANSFER_WHOLE_BYTES = 64 * 1024;

export interface SignWorkerScript {
  readonly file: string;
  readonly execArgv?: string[];
}

/**
 * Where the worker code is: in a bundle (dist/signer.js, dist/dev-signer.js) the bundle itself,
 * whose entry runs the worker when started as one; from TypeScript sources (tests, tsx) the
 * worker module through tsx's loader.
 */
export function defaultWorkerScript(): SignWorkerScript {
  if (__filename.endsWith(".ts")) return { file: join(__dirname, "sign-worker.ts"), execArgv: ["--require", ["tsx", "cjs"].join("/")] };
  return { file: __filename };
}

/** A batch a worker holds: its request ids (to fail closed) and the connection its replies go to. */
interface PendingBatch {
  readonly ids: readonly number[];
  send(frames: Buffer): void;
}

interface Slot {
  worker: Worker;
  ready: Promise<void>;
  readonly pending: Map<number, PendingBatch>;
  /** Reads held by this worker (the batches' ids): the least-busy choice. */
  reads: number;
}

/** Reads gathered for one worker while one socket read is split into frames. */
interface Gathered {
  readonly ids: number[];
  readonly payloads: Uint8Array[];
  bytes: number;
}

const failedFrame = (id: number, message: string): Buffer =>
  encodeFrame(id, FrameKind.Error, { code: "signer_worker_failed", message, status: statusOf("signer_worker_failed") } satisfies ErrorReply);

export class SignWorkerPool {
  private readonly slots: Slot[] = [];
  private seq = 0;
  private next = 0;
  private inFlight = 0;
  private closed = false;
  private state: SignWorkerState;
  /** Workers started in all (replacements included): tests and logs. */
  started = 0;
  /** Sign messages posted to workers, the reads they carried, and the frames sent in their own buffer (uncopied). */
  readonly dispatched = { messages: 0, reads: 0, whole: 0 };

  constructor(
    readonly size: number,
    private readonly init: Omit<SignWorkerInit, "expressLaneSignWorker" | "state" | "mainTimeOrigin">,
    state: SignWorkerState,
    private readonly script: SignWorkerScript = defaultWorkerScript(),
  ) {
    this.state = state;
    for (let i = 0; i < size; i++) this.slots.push(this.spawn(i));
  }

  private spawn(index: number): Slot {
    const data: SignWorkerInit = { ...this.init, expressLaneSignWorker: true, state: this.state, mainTimeOrigin: performance.timeOrigin };
    const worker = new Worker(this.script.file, { workerData: data, execArgv: this.script.execArgv });
    this.started++;
    let isReady = false;
    let markReady = (): void => undefined;
    let failStart = (_err: Error): void => undefined;
    const ready = new Promise<void>((resolve, reject) => {
      markReady = () => {
        isReady = true;
        resolve();
      };
      failStart = reject;
    });
    ready.catch(() => undefined); // observed by ready(); a replacement that fails later is only logged by its exit
    const slot: Slot = this.slots[index] ?? { worker, ready, pending: new Map(), reads: 0 };
    slot.worker = worker;
    slot.ready = ready;
    worker.on("message", (m: FromWorker) => {
      if (m.type === "ready") return markReady();
      const batch = slot.pending.get(m.seq);
      if (!batch) return;
      slot.pending.delete(m.seq);
      slot.reads -= batch.ids.length;
      this.inFlight -= batch.ids.length;
      batch.send(Buffer.from(m.frames));
    });
    const fail = (): void => {
      if (slot.worker !== worker) return;
      // Fail closed: every read this worker held gets an error reply; none is answered twice.
      const lost = [...slot.pending.values()];
      slot.pending.clear();
      this.inFlight -= slot.reads;
      slot.reads = 0;
      for (const batch of lost) batch.send(Buffer.concat(batch.ids.map((id) => failedFrame(id, "signing worker failed"))));
      // A worker that never started (its code or key did not load) is not retried: the signer fails to start.
      if (!isReady) return failStart(new Error("a signing worker failed to start"));
      if (!this.closed) this.slots[index] = this.spawn(index);
    };
    worker.on("error", fail);
    worker.on("exit", fail);
    return slot;
  }

  /** Keep the workers' key state equal to the main thread's (call before dispatching after a change). */
  setState(state: SignWorkerState): void {
    this.state = state;
    for (const s of this.slots) s.worker.postMessage({ type: "state", state } satisfies ToWorker);
  }

  /** New held checkpoints (P8): posted to every worker now, before the ProvideCheckpoints reply; kept for replacements. */
  setCheckpoints(held: readonly HeldCheckpoint[]): void {
    this.state = { ...this.state, checkpoints: held };
    for (const s of this.slots) s.worker.postMessage({ type: "checkpoints", held } satisfies ToWorker);
  }

  /**
   * Answer SignRead frames (what one socket read brought) on the workers: each worker gets the
   * frames picked for it in one message; `send` gets each worker's finished reply (or error)
   * frames as one buffer. Never throws.
   */
  signMany(frames: readonly Frame[], receivedAt: number, send: (replies: Buffer) => void): void {
    const gathered: (Gathered | undefined)[] = new Array<Gathered | undefined>(this.slots.length);
    const refused: Buffer[] = [];
    for (const frame of frames) {
      if (this.closed) {
        refused.push(failedFrame(frame.id, "signer shutting down"));
        continue;
      }
      if (this.inFlight >= MAX_WORKER_IN_FLIGHT) {
        refused.push(
          encodeFrame(frame.id, FrameKind.Error, { code: "signer_busy", message: "too many reads in flight in the signer", status: statusOf("signer_busy") } satisfies ErrorReply),
        );
        continue;
      }
      // The least busy worker, round robin among equals.
      let best = this.next % this.slots.length;
      for (let i = 1; i < this.slots.length; i++) {
        const j = (this.next + i) % this.slots.length;
        if (this.slots[j].reads < this.slots[best].reads) best = j;
      }
      this.next = best + 1;
      this.slots[best].reads++;
      this.inFlight++;
      const payload = frame.payload;
      if (frame.exclusive === true && payload.byteLength >= TRANSFER_WHOLE_BYTES && payload.buffer instanceof ArrayBuffer) {
        // Its own buffer (header, then payload to the end): transferred as it is; this frame's Buffer is empty after.
        this.dispatched.whole++;
        this.post(best, [frame.id], payload.byteOffset, [payload.byteOffset + payload.byteLength], payload.buffer, receivedAt, send);
        continue;
      }
      const g = (gathered[best] ??= { ids: [], payloads: [], bytes: 0 });
      g.ids.push(frame.id);
      g.payloads.push(frame.payload);
      g.bytes += frame.payload.byteLength;
    }
    if (refused.length > 0) send(refused.length === 1 ? refused[0] : Buffer.concat(refused));
    for (let w = 0; w < gathered.length; w++) {
      const g = gathered[w];
      if (g === undefined) continue;
      // One copy out of the socket chunk (which other frames share) into a buffer of its own, transferred.
      const payloads = new ArrayBuffer(g.bytes);
      const bytes = new Uint8Array(payloads);
      const ends: number[] = new Array<number>(g.payloads.length);
      let at = 0;
      for (let i = 0; i < g.payloads.length; i++) {
        bytes.set(g.payloads[i], at);
        at += g.payloads[i].byteLength;
        ends[i] = at;
      }
      this.post(w, g.ids, 0, ends, payloads, receivedAt, send);
    }
  }

  private post(w: number, ids: readonly number[], start: number, ends: readonly number[], payloads: ArrayBuffer, receivedAt: number, send: (replies: Buffer) => void): void {
    const seq = ++this.seq;
    const slot = this.slots[w];
    slot.pending.set(seq, { ids, send });
    this.dispatched.messages++;
    this.dispatched.reads += ids.length;
    slot.worker.postMessage({ type: "sign", seq, ids, ends, start, payloads, receivedAt } satisfies ToWorker, [payloads]);
  }

  /** Resolves when every worker has loaded its code and key (the signer says ready after this). */
  async ready(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.ready));
  }

  /** For tests: the worker threads (to kill one). */
  get workers(): readonly Worker[] {
    return this.slots.map((s) => s.worker);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}

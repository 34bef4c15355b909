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

export type ToWorker =
  | { readonly type: "state"; readonly state: SignWorkerState }
  | { readonly type: "checkpoints"; readonly held: readonly HeldCheckpoint[] }
  | { readonly type: "sign"; readonly seq: number; readonly id: number; readonly payload: Uint8Array; readonly receivedAt: number };
export type FromWorker = { readonly type: "reply"; readonly seq: number; readonly frame: Uint8Array } | { readonly type: "ready" };

/** Bound on reads queued to the workers in all (beyond it: signer_busy). */
export const MAX_WORKER_IN_FLIGHT = 4096;

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

interface Slot {
  worker: Worker;
  ready: Promise<void>;
  readonly pending: Map<number, { readonly id: number; resolve(frame: Buffer): void }>;
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
    const slot: Slot = this.slots[index] ?? { worker, ready, pending: new Map() };
    slot.worker = worker;
    slot.ready = ready;
    worker.on("message", (m: FromWorker) => {
      if (m.type === "ready") return markReady();
      const p = slot.pending.get(m.seq);
      if (!p) return;
      slot.pending.delete(m.seq);
      this.inFlight--;
      p.resolve(Buffer.from(m.frame.buffer, m.frame.byteOffset, m.frame.byteLength));
    });
    const fail = (): void => {
      if (slot.worker !== worker) return;
      // Fail closed: every read this worker held gets an error reply; none is answered twice.
      const lost = [...slot.pending.values()];
      slot.pending.clear();
      this.inFlight -= lost.length;
      for (const p of lost) p.resolve(failedFrame(p.id, "signing worker failed"));
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

  /** Answer one SignRead frame on a worker: the finished reply (or error) frame. */
  sign(frame: Frame, receivedAt: number): Promise<Buffer> {
    if (this.closed) return Promise.resolve(failedFrame(frame.id, "signer shutting down"));
    if (this.inFlight >= MAX_WORKER_IN_FLIGHT)
      return Promise.resolve(
        encodeFrame(frame.id, FrameKind.Error, { code: "signer_busy", message: "too many reads in flight in the signer", status: statusOf("signer_busy") } satisfies ErrorReply),
      );
    // The least busy worker, round robin among equals.
    let best = this.next % this.slots.length;
    for (let i = 1; i < this.slots.length; i++) {
      const j = (this.next + i) % this.slots.length;
      if (this.slots[j].pending.size < this.slots[best].pending.size) best = j;
    }
    this.next = best + 1;
    const slot = this.slots[best];
    const seq = ++this.seq;
    this.inFlight++;
    // A copy: the payload is a view into the socket chunk, which other frames share.
    const payload = new Uint8Array(frame.payload);
    return new Promise((resolve) => {
      slot.pending.set(seq, { id: frame.id, resolve });
      slot.worker.postMessage({ type: "sign", seq, id: frame.id, payload, receivedAt } satisfies ToWorker, [payload.buffer]);
    });
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

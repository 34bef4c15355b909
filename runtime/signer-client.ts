/**
 * The runtime's side of the signer protocol: one long-lived stream connection per role (read,
 * write or provision, declared in the Hello frame; the signer refuses other frames on it), many
 * requests in flight (matched by request id), frames coalesced per event-loop turn, automatic
 * reconnect. Replies are decoded with the same typed decoders the signer uses (wire/frames.ts).
 *
 * While the connection is down every call fails at once with LaneError signer_unavailable (the
 * server answers 503 + Retry-After); nothing queues without bound.
 */
import { connect, Socket } from "node:net";
import { isErrorCode, LaneError } from "../wire/errors";
import {
  AttestResponse,
  ChannelRole,
  decodeAttestResponse,
  decodeErrorReply,
  decodeHelloReply,
  decodeProvisionKeysResponse,
  decodeProvisionRegistryResponse,
  decodeProvideCheckpointsResponse,
  decodeSealWriteResponse,
  decodeSignedResponse,
  encodeFrame,
  ErrorReply,
  Frame,
  FrameDecoder,
  FrameKind,
  FRAME_PROTOCOL_VERSION,
  KeyInfo,
  ProvisionKeysRequest,
  ProvisionKeysResponse,
  ProvisionRegistryResponse,
  ProvideCheckpointsResponse,
  SealWriteRequest,
  SealWriteResponse,
  SignedResponse,
  SignReadRequest,
  SignWriteOutcomeRequest,
  signReadFrameBound,
  writeSignReadFrame,
} from "../wire/frames";
import { FrameSlabWriter } from "./frame-slab";
import { nowUs, type FrameStamps } from "./stage-trace";

/** The signer is down, reconnecting, timed out or saturated: 503 signer_unavailable, Retry-After. */
const unavailable = (message = "signer unavailable"): LaneError => new LaneError("signer_unavailable", message);

/** The signer answered with an error reply: its code (from the shared catalog, wire/errors.ts) and message. */
function rejection(reply: ErrorReply): LaneError {
  return isErrorCode(reply.code) ? new LaneError(reply.code, reply.message) : new LaneError("signer_error", `signer answered ${JSON.stringify(reply.code.slice(0, 64))}`);
}

export interface SignerClientOptions {
  /** What this connection is for; the signer accepts only that role's frames on it. @default "read" */
  readonly role?: ChannelRole;
  /** Unix socket path (locally, and on the host where a bridge forwards it to the enclave's vsock). */
  readonly socketPath: string;
  /**
   * Transport seam: how to open the stream. Default: the Unix socket at `socketPath`. Anything
   * that yields a duplex byte stream works (a TCP port, a native vsock binding), because the
   * frame protocol needs nothing but ordered bytes.
   */
  readonly connect?: () => Socket;
  /** Per-request deadline. */
  readonly timeoutMs?: number;
  /** Reconnect backoff bounds; the max keeps recovery within 1 s of the signer returning. */
  readonly reconnectMinMs?: number;
  readonly reconnectMaxMs?: number;
  /** Bound on requests in flight to the signer; beyond it calls fail fast as unavailable. */
  readonly maxInFlight?: number;
  readonly onStateChange?: (up: boolean, keyInfo: KeyInfo | null) => void;
  /** Stage tracing (runtime/stage-trace.ts): stamp when traced frames leave. Off in production. */
  readonly traceStages?: boolean;
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  decode(payload: Uint8Array): unknown;
  deadline: number;
  /** Stage tracing only. */
  stamps?: FrameStamps;
}

export class SignerClient {
  private socket: Socket | null = null;
  private writer: FrameSlabWriter | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;
  private reconnectDelay: number;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private readonly sweepTimer: NodeJS.Timeout;
  private key: KeyInfo | null = null;
  private readonly timeoutMs: number;
  private readonly maxInFlight: number;
  /** Traced frames queued in this event-loop turn, stamped when the coalesced write goes out. */
  private tracedQueued: FrameStamps[] = [];
  readonly role: ChannelRole;

  constructor(private readonly options: SignerClientOptions) {
    this.role = options.role ?? "read";
    this.timeoutMs = options.timeoutMs ?? 1000;
    this.maxInFlight = options.maxInFlight ?? 4096;
    this.reconnectDelay = options.reconnectMinMs ?? 50;
    // One coarse timer for all deadlines instead of a timer per request.
    this.sweepTimer = setInterval(() => this.sweep(), Math.max(10, Math.min(100, this.timeoutMs / 4)));
    this.sweepTimer.unref();
    this.connect();
  }

  /** True when connected and the signer's key is known. */
  get up(): boolean {
    return this.key !== null;
  }

  get keyInfo(): KeyInfo | null {
    return this.key;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  signRead(request: SignReadRequest): Promise<SignedResponse> {
    return this.call(FrameKind.SignRead, request, decodeSignedResponse);
  }

  /**
   * A read with stage tracing (runtime/stage-trace.ts): `stamps` gets the queue, send and reply
   * times; the signer adds its own span as a trailer when it traces stages.
   */
  signReadTraced(request: SignReadRequest, stamps: FrameStamps): Promise<SignedResponse> {
    return this.call(FrameKind.SignRead, { ...request, trace: true }, decodeSignedResponse, this.timeoutMs, stamps);
  }

  /** Push API (write role): the signed answer for a ticket the signer issued with the sealed rows. */
  signWriteOutcome(request: SignWriteOutcomeRequest): Promise<SignedResponse> {
    return this.call(FrameKind.SignWriteOutcome, request, decodeSignedResponse);
  }

  /** Push API (write role): the signer verifies the writer signature and returns sealed objects to store. */
  sealWrite(request: SealWriteRequest): Promise<SealWriteResponse> {
    return this.call(FrameKind.SealWrite, request, decodeSealWriteResponse);
  }

  /**
   * Provision role: hand the signer the signed key directory and, in production, the wrapped keys
   * and temporary credentials; it unwraps them itself (KMS + attestation), so allow for KMS round trips.
   */
  provisionKeys(request: ProvisionKeysRequest, timeoutMs = Math.max(this.timeoutMs, 30_000)): Promise<ProvisionKeysResponse> {
    return this.call(FrameKind.ProvisionKeys, request, decodeProvisionKeysResponse, timeoutMs);
  }

  /** Provision role: forward an admin-signed registry document (or none: ask which registry the signer holds). */
  provisionRegistry(document?: Uint8Array): Promise<ProvisionRegistryResponse> {
    return this.call(FrameKind.ProvisionRegistry, document ? { document } : {}, decodeProvisionRegistryResponse);
  }

  /** Provision role: forward writer-sealed checkpoints (wire/checkpoint.ts; none: ask what the signer holds). */
  provideCheckpoints(checkpoints: readonly Uint8Array[]): Promise<ProvideCheckpointsResponse> {
    return this.call(FrameKind.ProvideCheckpoints, { checkpoints }, decodeProvideCheckpointsResponse);
  }

  /** Attestation goes through the NSM (a device round trip, or the dev CA's first issuance): allow longer. */
  attest(nonce?: Uint8Array, timeoutMs = Math.max(this.timeoutMs, 10_000)): Promise<AttestResponse> {
    return this.call(FrameKind.Attest, nonce ? { nonce } : {}, decodeAttestResponse, timeoutMs);
  }

  /** Resolves once the signer is connected and its key known (or rejects after `timeoutMs`). */
  async ready(timeoutMs = 5000): Promise<KeyInfo> {
    const until = Date.now() + timeoutMs;
    while (!this.key) {
      if (Date.now() > until) throw unavailable("signer not ready");
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.key;
  }

  close(): void {
    this.closed = true;
    clearInterval(this.sweepTimer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.socket?.destroy();
    this.failAll(unavailable("signer client closed"));
  }

  private call<T>(kind: FrameKind, message: unknown, decode: (payload: Uint8Array) => T, timeoutMs = this.timeoutMs, stamps?: FrameStamps): Promise<T> {
    const writer = this.writer;
    if (!writer || (kind !== FrameKind.Hello && !this.key)) return Promise.reject(unavailable());
    if (this.pending.size >= this.maxInFlight) return Promise.reject(unavailable("signer saturated"));
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, decode, deadline: Date.now() + timeoutMs, stamps });
      if (stamps !== undefined) {
        stamps.queued = nowUs();
        this.tracedQueued.push(stamps);
      }
      // Reads (the hot path) are written straight into the writer's slab; other frames go through msgpackr.
      if (kind === FrameKind.SignRead)
        writer.frame(signReadFrameBound(message as SignReadRequest), (target, offset) => writeSignReadFrame(target, offset, id, message as SignReadRequest));
      else writer.send(encodeFrame(id, kind, message));
    });
  }

  private connect(): void {
    if (this.closed) return;
    const socket = this.options.connect ? this.options.connect() : connect(this.options.socketPath);
    socket.setNoDelay(true);
    const decoder = new FrameDecoder();
    socket.on("connect", () => {
      this.socket = socket;
      this.writer = new FrameSlabWriter((data, done) => socket.write(data, done), this.options.traceStages ? this.stampSent : undefined);
      this.reconnectDelay = this.options.reconnectMinMs ?? 50;
      // The first frame declares the role; the reply carries the signer's key.
      this.call(FrameKind.Hello, { role: this.role, protocol: FRAME_PROTOCOL_VERSION }, decodeHelloReply).then(
        (hello) => {
          if (this.socket !== socket) return;
          if (hello.role !== this.role) {
            socket.destroy();
            return;
          }
          const info: KeyInfo = { keyid: hello.keyid, alg: hello.alg, jwk: hello.jwk };
          this.key = info;
          this.options.onStateChange?.(true, info);
        },
        () => socket.destroy(),
      );
    });
    socket.on("data", (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = decoder.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const frame of frames) this.settle(frame);
    });
    socket.on("error", () => {
      /* 'close' follows and handles it */
    });
    socket.on("close", () => {
      const wasUp = this.key !== null;
      if (this.socket === socket) {
        this.socket = null;
        this.writer?.close();
        this.writer = null;
        this.key = null;
      }
      this.failAll(unavailable("signer connection lost"));
      if (wasUp) this.options.onStateChange?.(false, null);
      this.scheduleReconnect();
    });
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    const delay = this.reconnectDelay;
    this.reconnectDelay = Math.min(this.reconnectDelay * 2, this.options.reconnectMaxMs ?? 250);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, delay);
    this.reconnectTimer.unref();
  }

  private readonly stampSent = (): void => {
    const t = nowUs();
    for (const s of this.tracedQueued) s.sent = t;
    this.tracedQueued = [];
  };

  private settle(frame: Frame): void {
    const entry = this.pending.get(frame.id);
    if (!entry) return; // timed out already
    this.pending.delete(frame.id);
    if (entry.stamps !== undefined) entry.stamps.received = nowUs();
    try {
      if (frame.kind === FrameKind.Reply) entry.resolve(entry.decode(frame.payload));
      else if (frame.kind === FrameKind.Error) entry.reject(rejection(decodeErrorReply(frame.payload)));
      else entry.reject(unavailable(`unexpected frame kind ${frame.kind}`));
    } catch (err) {
      entry.reject(unavailable(`undecodable reply: ${(err as Error).message}`));
    }
  }

  private sweep(): void {
    if (this.pending.size === 0) return;
    const now = Date.now();
    for (const [id, entry] of this.pending) {
      if (entry.deadline <= now) {
        this.pending.delete(id);
        entry.reject(unavailable("signer timed out"));
      }
    }
  }

  private failAll(err: Error): void {
    const entries = [...this.pending.values()];
    this.pending.clear();
    for (const entry of entries) entry.reject(err);
  }
}

/**
 * S3 Express One Zone session auth: CreateSession (through the AWS SDK: rare, off the hot path)
 * returns bucket-scoped credentials valid ~5 minutes; every object request is then signed with them
 * (service "s3express") and carries the token in `x-amz-s3session-token`.
 *
 * Why our own cache instead of the SDK's: the SDK renews an *expired* session inline, so the first
 * request after > 5 min idle pays a CreateSession round trip. Here each bucket's session is kept
 * warm by a background timer that refreshes it `refreshBeforeExpiryMs` (≥ 60 s) before expiry
 * whether or not requests arrive; only the very first request waits for CreateSession. Refreshes
 * are single-flight; a failed refresh keeps the still-valid session in use and retries with
 * exponential backoff.
 */
import pino from "pino";
import type { S3Client } from "@aws-sdk/client-s3";
import type { CredentialSource } from "./credentials";
import type { AwsCredentials } from "./sigv4";
import { StoreError } from "./types";

export interface ExpressSession extends AwsCredentials {
  readonly sessionToken: string;
  readonly expiration: Date;
}

/** Creates one session for one directory bucket. */
export type CreateSession = (bucket: string) => Promise<ExpressSession>;

/** CreateSession's `SessionMode`: what the session's credentials may do. */
export type ExpressSessionMode = "ReadOnly" | "ReadWrite";

/**
 * CreateSession through the AWS SDK client (which brings the IAM credential chain and signing).
 *
 * `sessionMode`: the read path asks for "ReadOnly" explicitly. Without it, "the default behavior
 * attempts to create a session with the maximum allowable privilege. It will first attempt to
 * create a ReadWrite session, and if that is not allowed by permissions, it will attempt to create
 * a ReadOnly session" (CreateSession API reference, SessionMode): a wasted, denied attempt; the
 * lane's bucket policy and host role allow hosts `s3express:CreateSession` only with
 * `s3express:SessionMode = ReadOnly`. Unset: the SDK default (writers: `express-lane load`).
 */
export function createSessionWithSdk(client: Pick<S3Client, "send">, sessionMode?: ExpressSessionMode): CreateSession {
  // Lazy import: the SDK is only loaded where S3 Express is actually used.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { CreateSessionCommand } = require("@aws-sdk/client-s3") as typeof import("@aws-sdk/client-s3");
  return async (bucket) => {
    const output = await client.send(new CreateSessionCommand({ Bucket: bucket, ...(sessionMode ? { SessionMode: sessionMode } : {}) }));
    const c = output.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !c.Expiration) {
      throw new StoreError("bad_response", `CreateSession for ${bucket} returned incomplete credentials`);
    }
    return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken, expiration: new Date(c.Expiration) };
  };
}

/**
 * The `event` of the JSON line a failed CreateSession writes to stderr when no `onRefreshError`
 * hook is given (the runtime's stderr is its log file; a CloudWatch Logs metric filter on this
 * field feeds the CreateSession errors alarm, constructs/observability.ts).
 */
export const CREATE_SESSION_FAILED_EVENT = "create_session_failed";

function logCreateSessionFailure(bucket: string, error: unknown): void {
  const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  // A pino line like the rest of the runtime's log (made per failure: they are rare).
  pino({ base: { service: "express-lane-runtime" } }, process.stderr).error(
    { event: CREATE_SESSION_FAILED_EVENT, bucket, error: `${e?.name ?? "Error"}: ${e?.message ?? String(error)}`, status: e?.$metadata?.httpStatusCode },
    "S3 Express CreateSession failed",
  );
}

/** Timer seam so tests can drive refreshes with a manual clock. */
export interface Scheduler {
  setTimeout(callback: () => void, delayMs: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realScheduler: Scheduler = {
  setTimeout(callback, delayMs) {
    const timer = setTimeout(callback, delayMs);
    timer.unref(); // keeping sessions warm must not keep the process alive
    return timer;
  },
  clearTimeout(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};

export interface ExpressSessionCacheOptions {
  readonly createSession: CreateSession;
  /** Refresh this long before expiry. Default 90 s; values below 60 s are raised to 60 s. */
  readonly refreshBeforeExpiryMs?: number;
  /** Stop handing out a session this close to its expiry (clock skew, request in flight). Default 5 s. */
  readonly expiryMarginMs?: number;
  /** First retry delay after a failed refresh; doubles per failure up to retryMaxMs. Default 1 s / 20 s. */
  readonly retryInitialMs?: number;
  readonly retryMaxMs?: number;
  readonly now?: () => number;
  readonly scheduler?: Scheduler;
  /**
   * Observability hook for CreateSession failures (first use and background refreshes).
   * Default: one JSON line with `event: "create_session_failed"` on stderr.
   */
  readonly onRefreshError?: (bucket: string, error: unknown) => void;
}

interface BucketSessionState {
  session: ExpressSession | undefined;
  inflight: Promise<ExpressSession> | undefined;
  timer: unknown;
  /** When the scheduled refresh/retry is due: the backstop in current() never jumps the backoff. */
  nextAttemptAt: number;
  consecutiveFailures: number;
}

export class ExpressSessionCache {
  private readonly buckets = new Map<string, BucketSessionState>();
  private readonly refreshBeforeExpiryMs: number;
  private readonly expiryMarginMs: number;
  private readonly retryInitialMs: number;
  private readonly retryMaxMs: number;
  private readonly now: () => number;
  private readonly scheduler: Scheduler;
  private closed = false;
  /** CreateSession calls made (observability and tests). */
  createSessionCalls = 0;

  constructor(private readonly options: ExpressSessionCacheOptions) {
    this.refreshBeforeExpiryMs = Math.max(60_000, options.refreshBeforeExpiryMs ?? 90_000);
    this.expiryMarginMs = options.expiryMarginMs ?? 5_000;
    this.retryInitialMs = options.retryInitialMs ?? 1_000;
    this.retryMaxMs = options.retryMaxMs ?? 20_000;
    this.now = options.now ?? Date.now;
    this.scheduler = options.scheduler ?? realScheduler;
  }

  /** Hot path: a usable session for this bucket, or undefined (first use, or expired). */
  current(bucket: string): ExpressSession | undefined {
    const state = this.buckets.get(bucket);
    const session = state?.session;
    if (session === undefined) return undefined;
    const now = this.now();
    const expiresAt = session.expiration.getTime();
    if (now >= expiresAt - this.expiryMarginMs) return undefined;
    // Backstop should the timer be overdue (event-loop stall, suspended VM): refresh in the
    // background, still serving the valid session. Never earlier than a scheduled retry.
    if (now >= expiresAt - this.refreshBeforeExpiryMs && now >= state!.nextAttemptAt && state!.inflight === undefined && !this.closed) {
      void this.refresh(bucket).catch(() => undefined);
    }
    return session;
  }

  /** A usable session, creating it if needed (the first request for a bucket waits here). */
  resolve(bucket: string): Promise<ExpressSession> {
    const session = this.current(bucket);
    if (session !== undefined) return Promise.resolve(session);
    return this.refresh(bucket);
  }

  /** Starts (and keeps warm) a bucket's session ahead of the first request. */
  async warm(bucket: string): Promise<void> {
    await this.resolve(bucket);
  }

  /** A CredentialSource view for S3Store. */
  credentialsFor(bucket: string): CredentialSource {
    return {
      current: () => this.current(bucket),
      resolve: () => this.resolve(bucket),
      close: () => undefined,
    };
  }

  close(): void {
    this.closed = true;
    for (const state of this.buckets.values()) {
      if (state.timer !== undefined) this.scheduler.clearTimeout(state.timer);
      state.timer = undefined;
    }
  }

  /** Single-flight CreateSession for one bucket; schedules the next refresh or a retry. */
  private refresh(bucket: string): Promise<ExpressSession> {
    let state = this.buckets.get(bucket);
    if (state === undefined) {
      state = { session: undefined, inflight: undefined, timer: undefined, nextAttemptAt: 0, consecutiveFailures: 0 };
      this.buckets.set(bucket, state);
    }
    if (state.inflight) return state.inflight;
    const owner = state;
    this.createSessionCalls++;
    owner.inflight = this.options
      .createSession(bucket)
      .then(
        (session) => {
          owner.session = session;
          owner.consecutiveFailures = 0;
          this.schedule(bucket, owner, session.expiration.getTime() - this.refreshBeforeExpiryMs - this.now());
          return session;
        },
        (error: unknown) => {
          owner.consecutiveFailures++;
          const backoff = Math.min(this.retryMaxMs, this.retryInitialMs * 2 ** (owner.consecutiveFailures - 1));
          this.schedule(bucket, owner, backoff);
          (this.options.onRefreshError ?? logCreateSessionFailure)(bucket, error);
          throw toStoreError(bucket, error);
        },
      )
      .finally(() => {
        owner.inflight = undefined;
      });
    return owner.inflight;
  }

  private schedule(bucket: string, state: BucketSessionState, delayMs: number): void {
    if (this.closed) return;
    if (state.timer !== undefined) this.scheduler.clearTimeout(state.timer);
    state.nextAttemptAt = this.now() + Math.max(0, delayMs);
    state.timer = this.scheduler.setTimeout(
      () => {
        state.timer = undefined;
        void this.refresh(bucket).catch(() => undefined);
      },
      Math.max(0, delayMs),
    );
  }
}

function toStoreError(bucket: string, error: unknown): StoreError {
  if (error instanceof StoreError) return error;
  const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = e?.$metadata?.httpStatusCode;
  const message = `CreateSession for ${bucket} failed: ${e?.name ?? "Error"}: ${e?.message ?? String(error)}`;
  if (status === 403 || e?.name === "AccessDenied" || e?.name === "CredentialsProviderError") return new StoreError("denied", message, status);
  if (e?.name === "TimeoutError") return new StoreError("timeout", message, status);
  return new StoreError("unavailable", message, status);
}

/**
 * S3 GetObject / PutObject / HeadObject over a keep-alive undici Pool, signed with our own SigV4
 * (see sigv4.ts). The AWS SDK costs ~340 µs of client CPU per 4 KB read (its middleware stack);
 * this path must stay in the tens of µs, so the SDK is only used for CreateSession (express-session.ts).
 *
 * Addressing:
 * - "path": `{endpoint}/{bucket}/{key}` — any S3-compatible endpoint (s3rver locally, MinIO, S3).
 * - "express": S3 Express One Zone directory bucket (`base--azid--x-s3`), virtual-hosted zonal
 *   endpoint `https://{bucket}.s3express-{azid}.{region}.amazonaws.com/{key}` (path-style is not
 *   supported there), signed with service "s3express" and session credentials.
 */
import { Pool, errors as undiciErrors } from "undici";
import type { Dispatcher } from "undici";
import { createHash } from "node:crypto";
import type { S3Client } from "@aws-sdk/client-s3";
import { SigV4Signer, encodeS3KeyPath, EMPTY_PAYLOAD_SHA256, type AwsCredentials, type SignedHeaders } from "./sigv4";
import type { CredentialSource } from "./credentials";
import { ExpressSessionCache, createSessionWithSdk } from "./express-session";
import { StoreError, type ObjectStore, type ObjectWriter, type StoreGetResult } from "./types";

/** `base--azid--x-s3` → azid, or undefined for a general-purpose bucket name. */
export function expressAvailabilityZoneId(bucket: string): string | undefined {
  const match = /^[a-z0-9][a-z0-9.-]*--([a-z0-9]+-az[0-9]+)--x-s3$/.exec(bucket);
  return match?.[1];
}

/** The zonal endpoint of a directory bucket. */
export function expressZonalEndpoint(bucket: string, region: string): string {
  const azid = expressAvailabilityZoneId(bucket);
  if (azid === undefined) throw new TypeError(`not an S3 Express directory bucket name: ${bucket}`);
  return `https://${bucket}.s3express-${azid}.${region}.amazonaws.com`;
}

export type S3Addressing = "path" | "express";

export interface S3StoreOptions {
  readonly bucket: string;
  /** Signing region. Default "us-east-1" (what s3rver and most S3-compatible stores expect). */
  readonly region?: string;
  /** Default: "express" when the bucket name ends in `--x-s3`, else "path". */
  readonly addressing?: S3Addressing;
  /**
   * Origin to connect to (scheme://host[:port]). Path mode default `https://s3.{region}.amazonaws.com`;
   * express mode default is the zonal endpoint. In express mode an override is used as-is as the
   * virtual host (e.g. a VPC endpoint DNS name, or a local test server); the key is the whole path.
   */
  readonly endpoint?: string;
  /** Path mode: where credentials come from (StaticCredentials locally, awsDefaultCredentials() on AWS). */
  readonly credentials?: CredentialSource;
  /**
   * Express mode: the session cache. Default: one built on `new S3Client({ region })` (the SDK's
   * default credential chain). Share one cache between stores on the same bucket.
   */
  readonly expressSessions?: ExpressSessionCache;
  /** Keep-alive connections to the endpoint. Default 32. */
  readonly connections?: number;
  /** Per-request deadline (queueing + connect + headers + body). Default 1000 ms. */
  readonly timeoutMs?: number;
  /** Objects larger than this are refused (StoreError bad_response). Default 1 MiB. */
  readonly maxObjectBytes?: number;
  /** Idle keep-alive socket lifetime. Default 20 s (S3 closes idle connections after ~20 s or more). */
  readonly keepAliveTimeoutMs?: number;
  /** ping() HEADs this key (200 or 404 = reachable); default HEAD on the bucket itself. */
  readonly pingKey?: string;
  /** Clock seam for signing (tests). */
  readonly now?: () => Date;
}

const DEFAULT_MAX_OBJECT_BYTES = 1024 * 1024;
/** Enough to read an S3 XML error document, never more. */
const MAX_ERROR_BODY_BYTES = 16 * 1024;

export class S3Store implements ObjectStore, ObjectWriter {
  readonly bucket: string;
  readonly addressing: S3Addressing;
  /** The origin requests go to. */
  readonly endpoint: string;
  private readonly host: string;
  /** "/bucket/" in path mode, "/" in express mode. */
  private readonly pathPrefix: string;
  private readonly pool: Pool;
  private readonly signer: SigV4Signer;
  private readonly credentials: CredentialSource;
  private readonly ownedSessionCache: ExpressSessionCache | undefined;
  private readonly ownedSdkClient: S3Client | undefined;
  private readonly timeoutMs: number;
  private readonly maxObjectBytes: number;
  private readonly pingKey: string | undefined;
  private readonly now: () => Date;

  constructor(options: S3StoreOptions) {
    const region = options.region ?? "us-east-1";
    this.bucket = options.bucket;
    this.addressing = options.addressing ?? (expressAvailabilityZoneId(options.bucket) !== undefined ? "express" : "path");
    this.timeoutMs = options.timeoutMs ?? 1000;
    this.maxObjectBytes = options.maxObjectBytes ?? DEFAULT_MAX_OBJECT_BYTES;
    this.pingKey = options.pingKey;
    this.now = options.now ?? (() => new Date());

    if (this.addressing === "express") {
      this.endpoint = options.endpoint ?? expressZonalEndpoint(options.bucket, region);
      this.pathPrefix = "/";
      this.signer = new SigV4Signer({ region, service: "s3express" });
      let sessions = options.expressSessions;
      if (sessions === undefined) {
        // Lazy: the SDK (slow to load) is only needed for CreateSession in express mode.
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const sdk = require("@aws-sdk/client-s3") as typeof import("@aws-sdk/client-s3");
        this.ownedSdkClient = new sdk.S3Client({ region });
        sessions = this.ownedSessionCache = new ExpressSessionCache({ createSession: createSessionWithSdk(this.ownedSdkClient) });
      }
      this.credentials = sessions.credentialsFor(options.bucket);
    } else {
      if (options.credentials === undefined) throw new TypeError("S3Store: path addressing needs `credentials`");
      this.endpoint = options.endpoint ?? `https://s3.${region}.amazonaws.com`;
      this.pathPrefix = `/${encodeS3KeyPath(options.bucket)}/`;
      this.signer = new SigV4Signer({ region, service: "s3" });
      this.credentials = options.credentials;
    }
    const url = new URL(this.endpoint);
    this.host = url.host; // URL.host omits the scheme's default port, as the Host header must
    this.endpoint = url.origin;

    this.pool = new Pool(url.origin, {
      connections: options.connections ?? 32,
      pipelining: 1, // S3 answers in order anyway; pipelining only adds head-of-line blocking
      keepAliveTimeout: options.keepAliveTimeoutMs ?? 20_000,
      // undici's own timers back up the AbortSignal deadline (cheap, per phase)
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
      connect: { timeout: this.timeoutMs },
    });
  }

  /** Obtain credentials / the first S3 Express session now, so no request waits for them. */
  async warm(): Promise<void> {
    await this.credentialsForRequest();
  }

  async get(key: string, signal?: AbortSignal): Promise<StoreGetResult> {
    const response = await this.send("GET", key, signal);
    const { statusCode } = response;
    if (statusCode === 200) {
      const body = await this.readBody(response, this.maxObjectBytes, key);
      const etag = response.headers.etag;
      return { found: true, body, etag: typeof etag === "string" ? etag : undefined };
    }
    if (statusCode === 404) {
      // A missing bucket also answers 404: that is a misconfiguration, not a missing entity.
      const errorBody = await this.readErrorBody(response);
      if (errorBody.includes("<Code>NoSuchBucket</Code>")) {
        throw new StoreError("unavailable", `bucket ${this.bucket} does not exist`, 404);
      }
      return { found: false };
    }
    throw await this.statusError(response, `GET ${key}`);
  }

  async put(
    key: string,
    body: Buffer,
    opts: { ifMatch?: string; ifNoneMatch?: "*"; contentType?: string } = {},
  ): Promise<{ etag: string }> {
    if (body.length > this.maxObjectBytes) {
      throw new StoreError("bad_response", `object ${key} is ${body.length} bytes, above the ${this.maxObjectBytes}-byte limit`);
    }
    const extraHeaders: Record<string, string> = { "content-type": opts.contentType ?? "application/octet-stream" };
    if (opts.ifMatch !== undefined) extraHeaders["if-match"] = opts.ifMatch;
    if (opts.ifNoneMatch !== undefined) extraHeaders["if-none-match"] = opts.ifNoneMatch;
    const payloadHash = createHash("sha256").update(body).digest("hex");
    const response = await this.send("PUT", key, undefined, extraHeaders, payloadHash, body);
    if (response.statusCode === 200) {
      await response.body.dump();
      const etag = response.headers.etag;
      if (typeof etag !== "string") throw new StoreError("bad_response", `PUT ${key}: no ETag in the response`, 200);
      return { etag };
    }
    throw await this.statusError(response, `PUT ${key}`);
  }

  async ping(signal?: AbortSignal): Promise<void> {
    const response = await this.send("HEAD", this.pingKey ?? "", signal);
    await response.body.dump();
    if (response.statusCode === 200) return;
    if (response.statusCode === 404 && this.pingKey !== undefined) return; // reachable; key just absent
    throw this.classifyStatus(response.statusCode, "", `HEAD ${this.pingKey ?? this.bucket}`);
  }

  async close(): Promise<void> {
    this.ownedSessionCache?.close();
    this.ownedSdkClient?.destroy();
    await this.pool.close();
  }

  private credentialsForRequest(): AwsCredentials | Promise<AwsCredentials> {
    return this.credentials.current() ?? this.credentials.resolve();
  }

  private async send(
    method: "GET" | "HEAD" | "PUT",
    key: string,
    signal: AbortSignal | undefined,
    extraHeaders?: Record<string, string>,
    payloadHash: string = EMPTY_PAYLOAD_SHA256,
    body?: Buffer,
  ): Promise<Dispatcher.ResponseData> {
    const credentials = this.credentials.current() ?? (await this.credentials.resolve());
    const path = key === "" && this.addressing === "path" ? this.pathPrefix.slice(0, -1) : this.pathPrefix + encodeS3KeyPath(key);
    const headers: SignedHeaders = this.signer.sign(
      { method, host: this.host, path, headers: extraHeaders, payloadHash },
      credentials,
      this.now(),
    );
    // One deadline for the whole exchange, including waiting for a pooled connection (undici's
    // headersTimeout only starts once the request is on a socket).
    const deadline = AbortSignal.timeout(this.timeoutMs);
    const combined = signal === undefined ? deadline : AbortSignal.any([signal, deadline]);
    try {
      return await this.pool.request({ method, path, headers, body, signal: combined });
    } catch (error) {
      throw this.transportError(error, deadline, signal, `${method} ${key}`);
    }
  }

  /** Reads a 200 body into one Buffer, refusing oversize objects before and while reading. */
  private async readBody(response: Dispatcher.ResponseData, limit: number, key: string): Promise<Buffer> {
    const declared = response.headers["content-length"];
    const declaredLength = typeof declared === "string" ? Number(declared) : NaN;
    if (declaredLength > limit) {
      response.body.destroy();
      throw new StoreError("bad_response", `object ${key} is ${declaredLength} bytes, above the ${limit}-byte limit`, response.statusCode);
    }
    try {
      if (Number.isSafeInteger(declaredLength)) {
        // Preallocate once; usually a 4 KB object arrives as a single chunk.
        const buffer = Buffer.allocUnsafe(declaredLength);
        let offset = 0;
        for await (const chunk of response.body as AsyncIterable<Buffer>) {
          if (offset + chunk.length > declaredLength) {
            response.body.destroy();
            throw new StoreError("bad_response", `object ${key}: body longer than its Content-Length`, response.statusCode);
          }
          chunk.copy(buffer, offset);
          offset += chunk.length;
        }
        if (offset !== declaredLength) throw new StoreError("bad_response", `object ${key}: body shorter than its Content-Length`, response.statusCode);
        return buffer;
      }
      const chunks: Buffer[] = [];
      let total = 0;
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        total += chunk.length;
        if (total > limit) {
          response.body.destroy();
          throw new StoreError("bad_response", `object ${key} exceeds the ${limit}-byte limit`, response.statusCode);
        }
        chunks.push(chunk);
      }
      return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
    } catch (error) {
      if (error instanceof StoreError) throw error;
      throw this.transportError(error, undefined, undefined, `GET ${key} (body)`);
    }
  }

  private async readErrorBody(response: Dispatcher.ResponseData): Promise<string> {
    try {
      const chunks: Buffer[] = [];
      let total = 0;
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        total += chunk.length;
        if (total > MAX_ERROR_BODY_BYTES) {
          response.body.destroy();
          break;
        }
        chunks.push(chunk);
      }
      return Buffer.concat(chunks).toString("utf8");
    } catch {
      return "";
    }
  }

  private async statusError(response: Dispatcher.ResponseData, what: string): Promise<StoreError> {
    const errorBody = await this.readErrorBody(response);
    return this.classifyStatus(response.statusCode, errorBody, what);
  }

  private classifyStatus(status: number, errorBody: string, what: string): StoreError {
    const code = /<Code>([^<]*)<\/Code>/.exec(errorBody)?.[1];
    const detail = `${what}: HTTP ${status}${code ? ` ${code}` : ""}`;
    if (status === 403) return new StoreError("denied", detail, status);
    if (status === 412) return new StoreError("precondition_failed", detail, status);
    // Expired/invalid session or token: an auth problem, not a bad request of ours.
    if (status === 400 && code !== undefined && /Token|Credential|Signature|AccessDenied/.test(code)) return new StoreError("denied", detail, status);
    // 409 ConditionalRequestConflict (a concurrent conditional write) and 429/5xx incl. 503 SlowDown: retryable.
    if (status === 409 || status === 429 || status >= 500) return new StoreError("unavailable", detail, status);
    return new StoreError("bad_response", detail, status);
  }

  private transportError(error: unknown, deadline: AbortSignal | undefined, callerSignal: AbortSignal | undefined, what: string): StoreError {
    if (error instanceof StoreError) return error;
    const e = error as { code?: string; name?: string; message?: string };
    if (deadline?.aborted) return new StoreError("timeout", `${what}: no complete answer within ${this.timeoutMs} ms`);
    if (callerSignal?.aborted) return new StoreError("timeout", `${what}: aborted by the caller`);
    if (
      error instanceof undiciErrors.HeadersTimeoutError ||
      error instanceof undiciErrors.BodyTimeoutError ||
      error instanceof undiciErrors.ConnectTimeoutError ||
      e?.name === "TimeoutError"
    ) {
      return new StoreError("timeout", `${what}: ${e.message}`);
    }
    return new StoreError("unavailable", `${what}: ${e?.code ?? e?.name ?? "Error"}: ${e?.message ?? String(error)}`);
  }
}

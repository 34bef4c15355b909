/**
 * The reader runtime's HTTP service. One request, top-down:
 *
 *   parse (wire/request) → GET each entity's object (store) → signer builds and signs the answer
 *   (runtime/signer-client → enclave/signer) → copy the signed answer to the wire.
 *
 * The runtime never makes or alters a 2xx/404 read answer itself: status, content type, body and
 * signature all come from the signer. Errors the runtime produces (bad input, store or signer
 * down) are unsigned JSON `{error:{code,message}}` with a non-2xx status.
 */
import { createServer, IncomingMessage, Server, ServerResponse } from "node:http";
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { LaneMetrics } from "./metrics";
import { SignerClient, SignerRejectedError, SignerUnavailableError } from "./signer-client";
import { StoreError, type ObjectStore, type ObjectWriter, type StoreGetResult } from "./store/types";
import { writeIfNewer, type WriteResult } from "./store/conditional-write";
import { objectKey } from "../wire/object";
import { currentLaneKey } from "../wire/lane-key";
import { FEAST_PATH, feastLookups, MAX_FEAST_BODY_BYTES, parseFeastRequest } from "../wire/feast";
import { MAX_PUSH_BODY_BYTES, writeTarget, type RawWriteRequest, type WriteTarget } from "../wire/write";
import { MAX_BATCH_BODY_BYTES, MAX_NONCE_LENGTH, parseReadRequest, RawReadRequest, ReadRequest, RequestError, splitTarget } from "../wire/request";
import type { LaneKeyInfo, SignedResponse } from "../wire/frames";
import { receivedFromSigned, verifyResponse } from "../verifier/response";
import type { GateTicket, RequestGate } from "./gate";
import { requestIdOf } from "./request-id";
import { nowUs, traceStamps, type FrameStamps, type StageTraceLog } from "./stage-trace";

export interface ReaderOptions {
  readonly store: ObjectStore;
  /** The signer connection in the read role. */
  readonly signer: SignerClient;
  /** The signer connection in the write role (pushes). Without one, pushes answer 503. */
  readonly writeSigner?: SignerClient;
  readonly metrics?: LaneMetrics;
  readonly logger?: Logger;
  /** Prefix of every object key in the bucket. @default "" */
  readonly keyPrefix?: string;
  /**
   * Share of signed answers the runtime verifies itself before sending (0..1). A failure marks the
   * answer 503 and counts lane_self_verify_failures_total. @default 0.01
   */
  readonly selfVerifyRate?: number;
  /** Access control, per-key rate limits, load shedding (runtime/gate.ts). None = all open. */
  readonly gate?: RequestGate;
  /** One structured log line per request (request id, route, status, key id; no key, no values). */
  readonly accessLog?: boolean;
  /**
   * Whether the signer holds keys (a provisioned key directory with at least one writer key):
   * `/health/ready` answers 503 until it does, so the load balancer sends no reads to a host whose
   * every answer would be a refusal. @default always ready (no provisioning configured)
   */
  readonly keysReady?: () => boolean;
  /**
   * Where the push API stores sealed objects (conditional PUTs). @default `store` when it can put
   * (S3Store does); without one, pushes answer 501.
   */
  readonly writer?: ObjectStore & ObjectWriter;
  /** Stage tracing (`--trace-stages`, benchmarks; runtime/stage-trace.ts). Absent in production. */
  readonly stageTrace?: StageTraceLog;
}

type Route = "features" | "batch" | "feast" | "push" | "signer" | "attestation" | "live" | "ready" | "metrics" | "other";

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body), "cache-control": "no-store", ...headers });
  res.end(body);
}

export function sendError(res: ServerResponse, err: HttpError): void {
  const headers: Record<string, string> = err.retryAfterSeconds !== undefined ? { "retry-after": String(err.retryAfterSeconds) } : {};
  sendJson(res, err.status, { error: { code: err.code, message: err.message } }, headers);
}

/** Map anything thrown on the read path to the HTTP error a client should see. */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof RequestError) return new HttpError(err.status, err.code, err.message);
  if (err instanceof SignerUnavailableError) return new HttpError(503, "signer_unavailable", err.message, 1);
  if (err instanceof SignerRejectedError) {
    const status = err.reply.status >= 400 && err.reply.status < 600 ? err.reply.status : 500;
    return new HttpError(status, err.reply.code, err.reply.message);
  }
  if (err instanceof StoreError) {
    if (err.code === "timeout") return new HttpError(504, "store_timeout", err.message);
    // e.g. an object over the size limit: retrying will not help, and it is not the caller's fault.
    if (err.code === "bad_response") return new HttpError(502, "store_bad_response", err.message);
    return new HttpError(503, "store_unavailable", err.message, 1);
  }
  return new HttpError(500, "internal", "internal error");
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? "0");
    if (declared > limit) {
      reject(new RequestError("body_too_large", `body larger than ${limit} bytes`));
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new RequestError("body_too_large", `body larger than ${limit} bytes`));
        req.removeAllListeners("data");
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
}

export class ReaderService {
  readonly metrics: LaneMetrics;
  private readonly keyPrefix: string;
  private readonly selfVerifyRate: number;
  /** Lane signing keys the signer holds (from provisioning): published on /v1/signer, used by the self-check. */
  private laneKeys: readonly LaneKeyInfo[] = [];

  constructor(private readonly options: ReaderOptions) {
    this.metrics = options.metrics ?? new LaneMetrics();
    this.keyPrefix = options.keyPrefix ?? "";
    this.selfVerifyRate = options.selfVerifyRate ?? 0.01;
    this.metrics.signerUp.set(options.signer.up ? 1 : 0);
  }

  setLaneKeys(keys: readonly LaneKeyInfo[]): void {
    this.laneKeys = keys;
  }

  createServer(): Server {
    const server = createServer((req, res) => void this.handle(req, res));
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    return server;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const target = req.url ?? "/";
    const { path, query } = splitTarget(target);
    const requestId = requestIdOf(req);
    res.setHeader("x-request-id", requestId);
    let route: Route = "other";
    let ticket: GateTicket | undefined;
    let errorCode: string | undefined;
    try {
      // 401/403 (keys), 429 (per-key limit), 503 overloaded (in-flight bound); health stays open.
      ticket = this.options.gate?.enter(req, res, path);
      const push = writeTarget(req.method ?? "GET", path);
      if (push) {
        route = "push";
        await this.push(req, res, push, path, query);
      } else if (path.startsWith("/v1/features/")) {
        route = path.endsWith("/batch") ? "batch" : "features";
        await this.read(req, res, path, query);
      } else if (path === FEAST_PATH) {
        route = "feast";
        if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "get-online-features uses POST");
        await this.readFeast(req, res, path, query);
      } else if (req.method !== "GET") {
        throw new HttpError(405, "method_not_allowed", `${req.method} not allowed here`);
      } else if (path === "/health/live") {
        route = "live";
        sendJson(res, 200, { status: "ok" });
      } else if (path === "/health/ready") {
        route = "ready";
        await this.ready(res);
      } else if (path === "/metrics") {
        route = "metrics";
        const text = await this.metrics.registry.metrics();
        res.writeHead(200, { "content-type": this.metrics.registry.contentType });
        res.end(text);
      } else if (path === "/v1/signer") {
        route = "signer";
        const info = this.options.signer.keyInfo;
        if (!info) throw new SignerUnavailableError();
        // Not a trust anchor (the host could change it): consumers pin keys from attestation or the
        // lane's published JWKS. Top level: the key answers are signed with now (the current lane
        // key when the signer holds one, else the enclave's own); `enclave_key` is the attested one.
        const laneKeys = this.laneKeys.map((k) => ({ keyid: k.keyid, alg: k.alg, jwk: k.jwk, not_before: new Date(k.notBefore).toISOString(), not_after: new Date(k.notAfter).toISOString() }));
        const signing = currentLaneKey(this.laneKeys, Date.now()) ?? info;
        sendJson(res, 200, { keyid: signing.keyid, alg: signing.alg, jwk: signing.jwk, enclave_key: { keyid: info.keyid, alg: info.alg, jwk: info.jwk }, lane_keys: laneKeys });
      } else if (path === "/v1/attestation") {
        route = "attestation";
        await this.attestation(res, query);
      } else {
        throw new HttpError(404, "not_found_route", "no such route");
      }
    } catch (err) {
      const httpError = toHttpError(err);
      errorCode = httpError.code;
      if (httpError.status >= 500 && httpError.code !== "overloaded") this.options.logger?.warn({ err, requestId, route, code: httpError.code }, "request failed");
      if (!res.headersSent) sendError(res, httpError);
      else res.destroy();
    } finally {
      ticket?.release();
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const status = String(res.statusCode);
      this.metrics.requestDuration.observe({ route, status }, seconds);
      this.metrics.requests.inc({ route, status });
      if (this.options.accessLog) {
        this.options.logger?.info({ requestId, method: req.method, route, status: res.statusCode, code: errorCode, keyId: ticket?.keyId, ms: seconds * 1000 }, "request");
      }
    }
  }

  private async read(req: IncomingMessage, res: ServerResponse, path: string, query: string): Promise<void> {
    // The one branch stage tracing costs when it is off.
    if (this.options.stageTrace !== undefined) return this.readTraced(req, res, path, query, this.options.stageTrace);
    const raw: RawReadRequest = {
      method: req.method ?? "GET",
      path,
      query,
      accept: header(req, "accept"),
      acceptSignature: header(req, "accept-signature"),
      contentType: header(req, "content-type"),
      body: req.method === "POST" ? await readBody(req, MAX_BATCH_BODY_BYTES) : undefined,
    };
    const request = parseReadRequest(raw);
    const objects = await this.fetchObjects(request);
    const signerStarted = process.hrtime.bigint();
    const signed = await this.options.signer.signRead({ ...raw, objects });
    this.metrics.signerDuration.observe(Number(process.hrtime.bigint() - signerStarted) / 1e9);
    // Entities the signer refused (failed seal, wrong object, corrupt): counted, never served as values.
    if (Array.isArray(signed.entityErrors)) for (const code of signed.entityErrors) this.metrics.entityErrors.inc({ code: String(code).slice(0, 32) });
    this.writeSigned(res, signed, raw);
  }

  /** read() with stage stamps (runtime/stage-trace.ts); the same steps in the same order. */
  private async readTraced(req: IncomingMessage, res: ServerResponse, path: string, query: string, log: StageTraceLog): Promise<void> {
    const accepted = nowUs();
    const raw: RawReadRequest = {
      method: req.method ?? "GET",
      path,
      query,
      accept: header(req, "accept"),
      acceptSignature: header(req, "accept-signature"),
      contentType: header(req, "content-type"),
      body: req.method === "POST" ? await readBody(req, MAX_BATCH_BODY_BYTES) : undefined,
    };
    const request = parseReadRequest(raw);
    const storeSent = nowUs();
    const objects = await this.fetchObjects(request);
    const storeAnswered = nowUs();
    const frame: FrameStamps = { queued: 0, sent: 0, received: 0 };
    const signed = await this.options.signer.signReadTraced({ ...raw, objects }, frame);
    this.metrics.signerDuration.observe((frame.received - frame.queued) / 1e6);
    if (Array.isArray(signed.entityErrors)) for (const code of signed.entityErrors) this.metrics.entityErrors.inc({ code: String(code).slice(0, 32) });
    const trailer = signed.trace;
    this.writeSigned(res, signed, raw);
    res.once("finish", () => {
      const { stamps, signerGc } = traceStamps({ accepted, storeSent, storeAnswered, responseWritten: nowUs() }, frame, trailer);
      log.read({ route: path.endsWith("/batch") ? "batch" : "features", status: res.statusCode, stamps }, signerGc);
    });
  }

  /**
   * Feast's `POST /get-online-features` (wire/feast.ts): the same path as a batch read — fetch each
   * (view, entity) object, the signer re-parses the body, checks every object and signs the
   * Feast-shaped answer, bound to the body.
   */
  private async readFeast(req: IncomingMessage, res: ServerResponse, path: string, query: string): Promise<void> {
    const raw: RawReadRequest = {
      method: "POST",
      path,
      query,
      acceptSignature: header(req, "accept-signature"),
      contentType: header(req, "content-type"),
      body: await readBody(req, MAX_FEAST_BODY_BYTES),
    };
    const request = parseFeastRequest(raw);
    const objects = await Promise.all(feastLookups(request).map(({ view, entity }) => this.getObject(view, entity)));
    const signed = await this.options.signer.signRead({ ...raw, objects });
    if (Array.isArray(signed.entityErrors)) for (const code of signed.entityErrors) this.metrics.entityErrors.inc({ code: String(code).slice(0, 32) });
    this.writeSigned(res, signed, raw);
  }

  /**
   * Push API: the writer signed the request with its own key (wire/writer-auth.ts); we forward it
   * with those headers untouched, the signer verifies and seals the rows (the host never holds a
   * writer key), we store each sealed object with a conditional PUT (newer event time wins), and
   * the signer signs the answer for the ticket it issued. 201 when a single row was written, 200
   * otherwise, with what happened per row. The API-key writer role (gate) is a second, host-side check.
   */
  private async push(req: IncomingMessage, res: ServerResponse, target: WriteTarget, path: string, query: string): Promise<void> {
    const writer = this.options.writer ?? (typeof (this.options.store as Partial<ObjectWriter>).put === "function" ? (this.options.store as ObjectStore & ObjectWriter) : undefined);
    if (!writer) throw new HttpError(501, "push_unavailable", "this runtime's store cannot write");
    const writeSigner = this.options.writeSigner;
    if (!writeSigner) throw new HttpError(503, "push_unavailable", "this runtime has no write connection to the signer", 1);
    const raw: RawWriteRequest = { method: "POST", path, query, contentType: header(req, "content-type"), body: await readBody(req, MAX_PUSH_BODY_BYTES) };
    const sealed = await writeSigner.sealWrite({
      ...raw,
      writerSignature: { signatureInput: header(req, "signature-input"), signature: header(req, "signature"), contentDigest: header(req, "content-digest") },
    });
    const results = await Promise.all(
      sealed.rows.map(async (row) => {
        if ("error" in row) return { entity: row.entity, result: "rejected" as const, error: row.error };
        const object = Buffer.from(row.object.buffer, row.object.byteOffset, row.object.byteLength);
        const written: WriteResult = await writeIfNewer(writer, objectKey(sealed.view, row.entity, this.keyPrefix), object);
        return { entity: row.entity, result: written.outcome, storedEventTimeMs: written.storedEventTime };
      }),
    );
    for (const r of results) this.metrics.pushRows.inc({ result: r.result });
    if (target.kind === "single" && results[0].result === "rejected") {
      const r = results[0];
      throw new HttpError(400, r.error.code, r.error.message);
    }
    // The answer is built and signed by the signer too: it re-validates the request it sealed and
    // adds the store outcomes we report (labelled as host-reported). No 2xx leaves unsigned.
    const outcomes = sealed.rows.flatMap((row, i) => {
      const r = results[i];
      return "error" in row || r.result === "rejected" ? [] : [{ index: row.index, result: r.result, stored_event_time: r.storedEventTimeMs }];
    });
    const signed = await writeSigner.signWriteOutcome({ ticket: sealed.ticket, acceptSignature: header(req, "accept-signature"), outcomes });
    this.writeSigned(res, signed, raw, writeSigner);
  }

  /** Copy a signed answer to the wire, after the fail-closed check. */
  private writeSigned(res: ServerResponse, signed: SignedResponse, raw: { method: string; path: string; query: string; body?: Uint8Array }, signer: SignerClient = this.options.signer): void {
    this.checkSigned(signed, raw, signer);
    res.writeHead(signed.status, {
      "content-type": signed.contentType,
      "content-length": signed.body.length,
      "content-digest": signed.contentDigest,
      "signature-input": signed.signatureInput,
      signature: signed.signature,
      "cache-control": "no-store",
    });
    res.end(signed.body);
  }

  private async getObject(view: string, entity: string): Promise<Buffer | null> {
    const started = process.hrtime.bigint();
    let result: StoreGetResult;
    try {
      result = await this.options.store.get(objectKey(view, entity, this.keyPrefix));
    } catch (err) {
      this.metrics.storeDuration.observe({ result: "error" }, Number(process.hrtime.bigint() - started) / 1e9);
      throw err;
    }
    this.metrics.storeDuration.observe({ result: result.found ? "found" : "missing" }, Number(process.hrtime.bigint() - started) / 1e9);
    return result.found ? result.body : null;
  }

  private async fetchObjects(request: ReadRequest): Promise<Array<Buffer | null>> {
    return request.entities.length === 1 ? [await this.getObject(request.view, request.entities[0])] : Promise.all(request.entities.map((e) => this.getObject(request.view, e)));
  }

  /**
   * Fail closed: a signed answer must look signed; a sampled share is fully verified with the
   * signer's public key. Anything off is a 503, never a 2xx.
   */
  private checkSigned(signed: SignedResponse, raw: { method: string; path: string; query: string; body?: Uint8Array }, signer: SignerClient): void {
    const wellFormed =
      typeof signed.status === "number" &&
      typeof signed.signature === "string" &&
      signed.signature.length > 0 &&
      typeof signed.signatureInput === "string" &&
      typeof signed.contentDigest === "string" &&
      typeof signed.contentType === "string" &&
      signed.body instanceof Uint8Array;
    if (!wellFormed) throw new HttpError(503, "signer_unavailable", "signer returned a malformed answer", 1);
    if (this.selfVerifyRate <= 0 || (this.selfVerifyRate < 1 && Math.random() >= this.selfVerifyRate)) return;
    const key = signer.keyInfo;
    try {
      if (!key) throw new Error("no signer key");
      verifyResponse(
        receivedFromSigned(signed),
        { method: raw.method, path: raw.path, query: raw.query, body: raw.method === "POST" ? (raw.body ?? new Uint8Array(0)) : undefined },
        { key: [key.jwk, ...this.laneKeys.map((k) => k.jwk)], skewSeconds: 30 },
      );
    } catch (err) {
      this.metrics.selfVerifyFailures.inc();
      this.options.logger?.error({ err }, "signed answer failed self-verification");
      throw new HttpError(503, "signer_unavailable", "signer answer failed verification", 1);
    }
  }

  private async ready(res: ServerResponse): Promise<void> {
    const checks: Record<string, string> = {};
    const signerUp = this.options.signer.up;
    checks.signer = signerUp ? "ok" : "unavailable";
    try {
      await this.options.store.ping(AbortSignal.timeout(1000));
      checks.store = "ok";
    } catch (err) {
      checks.store = err instanceof StoreError ? err.code : "unavailable";
    }
    if (this.options.keysReady) checks.keys = this.options.keysReady() ? "ok" : "missing";
    const ok = Object.values(checks).every((c) => c === "ok");
    sendJson(res, ok ? 200 : 503, { status: ok ? "ready" : "not_ready", checks }, ok ? {} : { "retry-after": "1" });
  }

  private async attestation(res: ServerResponse, query: string): Promise<void> {
    const params = new URLSearchParams(query.startsWith("?") ? query.slice(1) : query);
    for (const key of params.keys()) {
      if (key !== "nonce") throw new RequestError("bad_query", `unknown query parameter ${JSON.stringify(key.slice(0, 64))}`);
    }
    const nonceText = params.get("nonce");
    const nonce = nonceText === null ? randomBytes(32) : Buffer.from(nonceText, "utf8");
    if (nonce.length === 0 || nonce.length > MAX_NONCE_LENGTH) throw new RequestError("bad_query", `nonce must be 1..${MAX_NONCE_LENGTH} bytes`);
    const reply = await this.options.signer.attest(nonce);
    const info = this.options.signer.keyInfo;
    sendJson(res, 200, {
      document: Buffer.from(reply.document).toString("base64"),
      keyid: reply.keyid,
      public_key_jwk: info?.keyid === reply.keyid ? info.jwk : undefined,
      nonce: nonce.toString("base64"),
    });
  }
}

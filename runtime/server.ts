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
import type { WireProof } from "../wire/checkpoint";
import { createServer, Server } from "node:http";
import type { LaneRequest, LaneResponse } from "./http-types";
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { LaneMetrics } from "./metrics";
import type { SignerClient } from "./signer-client";
import { StoreError, type ObjectStore, type ObjectWriter, type StoreGetResult } from "./store/types";
import { objectKey } from "../wire/object";
import { currentLaneKey } from "../wire/lane-key";
import { feastLookups, MAX_FEAST_BODY_BYTES, parseFeastRequest } from "../wire/feast";
import { MAX_PUSH_BODY_BYTES, pushEntities, writeTarget, type RawWriteRequest } from "../wire/write";
import { MAX_BATCH_BODY_BYTES, MAX_NONCE_LENGTH, parseReadRequest, RawReadRequest, splitTarget } from "../wire/request";
import { isErrorCode, LaneError } from "../wire/errors";
import { parseQuery } from "../wire/query";
import { MAX_WRITE_ATTEMPTS, type LaneKeyInfo, type SealWriteResponse, type SignedResponse } from "../wire/frames";
import type { Registry } from "../wire/registry";
import { receivedFromSigned, verifyResponse } from "../verifier/response";
import type { GateTicket, RequestGate } from "./gate";
import { requestIdOf } from "./request-id";
import { matchRoute, UNROUTED, type HandlerName, type RouteDef } from "./routes";
import type { HeldRegistry } from "./registry-sync";
import { MAX_SIGNED_REGISTRY_BYTES, viewDocumentFromSpec, type ViewDocument } from "../wire/registry-document";
import { formatMaxAge } from "../wire/views-file";
import { nowUs, traceStamps, type FrameStamps, type StageTraceLog } from "./stage-trace";

/** The registry the signer accepted, as the runtime keeps it (runtime/registry-sync.ts). */
export interface RuntimeRegistry {
  readonly current: HeldRegistry;
  /** Forward a signed document to the signer (PUT /v1/registry). Absent: this runtime does not publish (501). */
  publish?(bytes: Buffer): Promise<{ held: HeldRegistry; stored: boolean }>;
}

export interface ReaderOptions {
  readonly store: ObjectStore;
  /**
   * The registry the signer holds (runtime/main.ts: a RegistrySync over the image default): the
   * runtime's own grammar uses it (early 4xx, what to fetch), GET /v1/views serves it, PUT
   * /v1/registry publishes through it.
   */
  readonly registry: RuntimeRegistry;
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
  /**
   * Entity-map proofs for every read (runtime/checkpoint-follower.ts, issue #16): parallel to the
   * objects; without it (or before any checkpoint is held) answers carry fresh_as_of null.
   */
  readonly checkpoints?: {
    proofs(lookups: ReadonlyArray<{ readonly view: string; readonly entity: string }>): Array<WireProof | null>;
    readonly active: boolean;
    /** The view's checkpoint is on its way to the signer (start, signer restart): answer 503, not an unproven 200. */
    pending(view: string): boolean;
    /** The signer does not hold what we prove against: forward the checkpoints again. */
    signerReconnected(): void;
    readonly ready: boolean;
  };
}

/** What a handler gets: the request, its matched route and path parameters, the parsed query. */
interface RouteCall {
  readonly req: LaneRequest;
  readonly res: LaneResponse;
  readonly route: RouteDef;
  readonly path: string;
  readonly query: string;
  readonly params: ReadonlyMap<string, string>;
  /** The route's `{param}` path segments, still percent-encoded. */
  readonly pathParams: Readonly<Record<string, string>>;
  /** Echoed in `x-request-id`: reads put it in their one writeHead; other routes have it set before they run. */
  readonly requestId: string;
}

function sendJson(res: LaneResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body), "cache-control": "no-store", ...headers });
  res.end(body);
}

export function sendError(res: LaneResponse, err: LaneError): void {
  const headers: Record<string, string> = err.retryAfterSeconds !== undefined ? { "retry-after": String(err.retryAfterSeconds) } : {};
  sendJson(res, err.status, { error: { code: err.code, message: err.message } }, headers);
}

/** Map anything thrown on a request to the catalog error a client should see (wire/errors.ts). */
export function toLaneError(err: unknown): LaneError {
  if (err instanceof LaneError) return err;
  if (err instanceof StoreError) {
    if (err.code === "timeout") return new LaneError("store_timeout", err.message);
    // e.g. an object over the size limit: retrying will not help, and it is not the caller's fault.
    if (err.code === "bad_response") return new LaneError("store_bad_response", err.message);
    return new LaneError("store_unavailable", err.message);
  }
  return new LaneError("internal");
}

function readBody(req: LaneRequest, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? "0");
    if (declared > limit) {
      reject(new LaneError("body_too_large", `body larger than ${limit} bytes`));
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new LaneError("body_too_large", `body larger than ${limit} bytes`));
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

/** Every (view, entity) a read or batch read names. */
const readLookups = (raw: RawReadRequest, registry: Registry) => {
  const request = parseReadRequest(raw, registry);
  return request.entities.map((entity) => ({ view: request.view, entity }));
};

/** The read grammars (wire/): what each route's request fetches, and its body limit (0 = no body). */
const READ_GRAMMARS = {
  read: { bodyLimit: 0, lookups: readLookups },
  batch_read: { bodyLimit: MAX_BATCH_BODY_BYTES, lookups: readLookups },
  feast: { bodyLimit: MAX_FEAST_BODY_BYTES, lookups: (raw: RawReadRequest, registry: Registry) => feastLookups(parseFeastRequest(raw, registry)) },
};

/** What a signed answer is bound to: the request's method, target and body. */
type SignedRequest = { readonly method: string; readonly path: string; readonly query: string; readonly body?: Uint8Array };

/** A path segment as the registry names it; undecodable → itself (the label is then "other"). */
function decodeSegment(segment: string): string {
  if (segment.indexOf("%") < 0) return segment; // nothing to decode (every request's metrics label)
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** A conditional PUT that lost a race: 412 precondition, 404 gone meanwhile, 409 concurrent conditional write. */
function isConditionalConflict(err: unknown): boolean {
  return err instanceof StoreError && (err.code === "precondition_failed" || err.httpStatus === 404 || err.httpStatus === 409);
}

function header(req: LaneRequest, name: string): string | undefined {
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

  /** The handlers the route table (runtime/routes.ts) names. */
  private readonly handlers: Record<HandlerName, (call: RouteCall) => Promise<void>> = {
    read: (call) => this.read(call),
    push: (call) => this.push(call),
    signer: async ({ res }) => this.signerInfo(res),
    attestation: (call) => this.attestation(call),
    views: async (call) => this.views(call),
    publish_registry: (call) => this.publishRegistry(call),
    live: async ({ res }) => sendJson(res, 200, { status: "ok" }),
    ready: ({ res }) => this.ready(res),
    metrics: async ({ res }) => {
      const text = await this.metrics.registry.metrics();
      res.writeHead(200, { "content-type": this.metrics.registry.contentType });
      res.end(text);
    },
  };

  async handle(req: LaneRequest, res: LaneResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const { path, query } = splitTarget(req.url ?? "/");
    const requestId = requestIdOf(req);
    const match = matchRoute(req.method ?? "GET", path);
    const route = match.kind === "route" ? match.route : UNROUTED;
    let ticket: GateTicket | undefined;
    let errorCode: string | undefined;
    try {
      // 401/403 (the route's role), 429 (per-key limit), 503 overloaded (in-flight bound); health stays open.
      ticket = this.options.gate?.enter(req, res, route);
      if (match.kind === "no_route") throw new LaneError("not_found_route");
      if (match.kind === "wrong_method") {
        res.setHeader("allow", match.allow.join(", "));
        throw new LaneError("method_not_allowed", `${String(req.method).slice(0, 16)} not allowed here (allowed: ${match.allow.join(", ")})`);
      }
      const params = parseQuery(query, match.route.query);
      const call: RouteCall = { req, res, route: match.route, path, query, params, pathParams: match.params, requestId };
      // Reads write their signed answer with one writeHead that carries the request id (no
      // setHeader on the hot path: Node then takes writeHead's fast path); other routes get it first.
      if (match.route.handler === "read") await this.read(call);
      else {
        res.setHeader("x-request-id", requestId);
        await this.handlers[match.route.handler](call);
      }
    } catch (err) {
      const laneError = toLaneError(err);
      errorCode = laneError.code;
      if (laneError.status >= 500 && laneError.code !== "overloaded") this.options.logger?.warn({ err, requestId, route: route.label, code: laneError.code }, "request failed");
      if (!res.headersSent) {
        res.setHeader("x-request-id", requestId);
        sendError(res, laneError);
      } else res.destroy();
    } finally {
      ticket?.release();
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const status = String(res.statusCode);
      const viewLabel = this.metrics.viewLabel(match.kind === "route" && match.params.view !== undefined ? decodeSegment(match.params.view) : undefined);
      this.metrics.observeRequest(route.label, status, viewLabel, seconds);
      if (this.options.accessLog) {
        this.options.logger?.info(
          { requestId, method: req.method, route: route.label, status: res.statusCode, code: errorCode, keyId: ticket?.keyId, ms: seconds * 1000 },
          "request",
        );
      }
    }
  }

  /**
   * Not a trust anchor (the host could change it): consumers pin keys from attestation or the
   * lane's published JWKS. Top level: the key answers are signed with now (the current lane key
   * when the signer holds one, else the enclave's own); `enclave_key` is the attested one.
   */
  private signerInfo(res: LaneResponse): void {
    const info = this.options.signer.keyInfo;
    if (!info) throw new LaneError("signer_unavailable", "signer key not known yet");
    const laneKeys = this.laneKeys.map((k) => ({
      keyid: k.keyid,
      alg: k.alg,
      jwk: k.jwk,
      not_before: new Date(k.notBefore).toISOString(),
      not_after: new Date(k.notAfter).toISOString(),
    }));
    const signing = currentLaneKey(this.laneKeys, Date.now()) ?? info;
    sendJson(res, 200, { keyid: signing.keyid, alg: signing.alg, jwk: signing.jwk, enclave_key: { keyid: info.keyid, alg: info.alg, jwk: info.jwk }, lane_keys: laneKeys });
  }

  /**
   * Reads, batch reads and Feast's `POST /get-online-features` alike: parse with the route's
   * grammar (the signer re-parses the same bytes), GET each (view, entity) object, the signer
   * checks every object and signs the answer, bound to the request.
   */
  private async read({ req, res, route, path, query, requestId }: RouteCall): Promise<void> {
    // Stage tracing (--trace-stages, a benchmark instrument): off, it costs these `trace` checks.
    const trace = this.options.stageTrace;
    const accepted = trace ? nowUs() : 0;
    const grammar = READ_GRAMMARS[route.grammar as keyof typeof READ_GRAMMARS];
    const raw: RawReadRequest = {
      method: route.method,
      path,
      query,
      accept: header(req, "accept"),
      acceptSignature: header(req, "accept-signature"),
      contentType: header(req, "content-type"),
      body: grammar.bodyLimit > 0 ? await readBody(req, grammar.bodyLimit) : undefined,
    };
    const lookups = grammar.lookups(raw, this.options.registry.current.registry);
    const checkpoints = this.options.checkpoints;
    const storeSent = trace ? nowUs() : 0;
    const objects =
      lookups.length === 1 ? [await this.getObject(lookups[0]!.view, lookups[0]!.entity)] : await Promise.all(lookups.map(({ view, entity }) => this.getObject(view, entity)));
    // Proved right after the objects arrived, in one synchronous step with the seq they name. A view
    // whose checkpoint is still on its way to the signer answers 503 instead of an unproven 200
    // (and while the signer is down, or its state change not yet seen, as signer_unavailable: no read
    // leaves without this check against the state the follower knows).
    if (checkpoints) {
      if (!this.options.signer.up) throw new LaneError("signer_unavailable");
      for (const l of lookups) if (checkpoints.pending(l.view)) throw new LaneError("checkpoint_pending");
    }
    const proofs = checkpoints?.active ? { proofs: checkpoints.proofs(lookups) } : {};
    if (trace) return this.signTraced(res, raw, route, lookups, objects, trace, accepted, storeSent, proofs, requestId);
    const signerStarted = process.hrtime.bigint();
    let signed: SignedResponse;
    try {
      // One object of one shape (no spreads): the frame writer reads these fields once each.
      signed = await this.options.signer.signRead({
        method: raw.method,
        path: raw.path,
        query: raw.query,
        accept: raw.accept,
        acceptSignature: raw.acceptSignature,
        contentType: raw.contentType,
        body: raw.body,
        objects,
        proofs: proofs.proofs,
      });
    } catch (err) {
      // The signer lost the checkpoints (restarted): hand them over again; the client retries.
      if (err instanceof LaneError && err.code === "checkpoint_unheld") checkpoints?.signerReconnected();
      throw err;
    }
    this.observeSigned(lookups, signed, Number(process.hrtime.bigint() - signerStarted) / 1e9);
    this.writeSigned(res, signed, raw, this.options.signer, requestId);
  }

  /** A read's signer round trip, the entities the signer refused (failed seal, wrong object, corrupt: counted, never served as values) and what it served. */
  private observeSigned(lookups: readonly { view: string }[], signed: SignedResponse, signerSeconds: number): void {
    this.metrics.signerDuration.observe(signerSeconds);
    if (Array.isArray(signed.entityErrors)) for (const code of signed.entityErrors) this.metrics.entityErrors.inc({ code: String(code).slice(0, 32) });
    this.metrics.observeServed(
      lookups.map((l) => l.view),
      signed.served,
    );
  }

  /** The rest of read() with stage stamps (runtime/stage-trace.ts): the same steps in the same order. */
  private async signTraced(
    res: LaneResponse,
    raw: RawReadRequest,
    route: RouteDef,
    lookups: readonly { view: string }[],
    objects: Array<Buffer | null>,
    log: StageTraceLog,
    accepted: number,
    storeSent: number,
    proofs: { proofs?: Array<WireProof | null> } = {},
    requestId?: string,
  ): Promise<void> {
    const storeAnswered = nowUs();
    const frame: FrameStamps = { queued: 0, sent: 0, received: 0 };
    const signed = await this.options.signer.signReadTraced({ ...raw, objects, ...proofs }, frame);
    this.observeSigned(lookups, signed, (frame.received - frame.queued) / 1e6);
    const trailer = signed.trace;
    this.writeSigned(res, signed, raw, this.options.signer, requestId);
    res.once("finish", () => {
      const { stamps, signerGc } = traceStamps({ accepted, storeSent, storeAnswered, responseWritten: nowUs() }, frame, trailer);
      log.read({ route: route.label, status: res.statusCode, stamps }, signerGc);
    });
  }

  /**
   * Push API: the writer signed the request with its own key (wire/writer-auth.ts); we forward it
   * with those headers untouched. Merge happens in the signer (we are the hostile host): we fetch
   * each entity's current object and its ETag, send them with the request; the signer verifies the
   * writer, verifies each current object, merges (wire/merge.ts) and seals. We store each sealed
   * object conditionally — If-Match the ETag we fetched, If-None-Match: * when there was none — and
   * when a write loses a race we fetch again and ask the signer to re-seal (bounded, a ticket it
   * issued). The signer signs the answer for the last ticket. 201 when a single row was written,
   * 200 otherwise, with what happened per row. The API-key writer role (gate) is a second, host-side check.
   */
  private async push({ req, res, path, query }: RouteCall): Promise<void> {
    const writer =
      this.options.writer ?? (typeof (this.options.store as Partial<ObjectWriter>).put === "function" ? (this.options.store as ObjectStore & ObjectWriter) : undefined);
    if (!writer) throw new LaneError("push_not_supported");
    const writeSigner = this.options.writeSigner;
    if (!writeSigner) throw new LaneError("push_unavailable");
    const raw: RawWriteRequest = { method: req.method ?? "POST", path, query, contentType: header(req, "content-type"), body: await readBody(req, MAX_PUSH_BODY_BYTES) };
    const target = writeTarget(raw.method, path);
    if (!target) throw new LaneError("not_found_route");
    const writerSignature = { signatureInput: header(req, "signature-input"), signature: header(req, "signature"), contentDigest: header(req, "content-digest") };
    const entities = pushEntities(raw, this.options.registry.current.registry);
    /** Per row index: the outcome once settled (written stays written across retries). */
    const settled = new Map<number, { result: "written" | "unchanged" | "conflict"; storedEventTimeMs: number }>();
    let sealed: SealWriteResponse | undefined;
    for (let attempt = 1; attempt <= MAX_WRITE_ATTEMPTS; attempt++) {
      const current = await Promise.all(entities.map(async (entity) => ({ entity, got: await this.options.store.get(objectKey(target.view, entity, this.keyPrefix)) })));
      const etags = new Map(current.map((c) => [c.entity, c.got.found ? (c.got.etag ?? null) : undefined]));
      sealed = await writeSigner.sealWrite({
        ...raw,
        writerSignature,
        current: current.map((c) => ({ entity: c.entity, object: c.got.found ? c.got.body : null })),
        ...(sealed ? { retryOf: sealed.ticket } : {}),
      });
      let conflicts = 0;
      await Promise.all(
        sealed.rows.map(async (row) => {
          if ("error" in row) return;
          const before = settled.get(row.index);
          if (row.unchanged) {
            settled.set(row.index, { result: before?.result === "written" ? "written" : "unchanged", storedEventTimeMs: row.event_time });
            return;
          }
          const etag = etags.get(row.entity);
          if (etag === null) throw new StoreError("bad_response", `GET ${row.entity}: no ETag; conditional writes impossible`);
          const object = Buffer.from(row.object.buffer, row.object.byteOffset, row.object.byteLength);
          try {
            await writer.put(objectKey(sealed!.view, row.entity, this.keyPrefix), object, {
              ...(etag === undefined ? { ifNoneMatch: "*" as const } : { ifMatch: etag }),
              contentType: "application/msgpack",
            });
            settled.set(row.index, { result: "written", storedEventTimeMs: row.event_time });
          } catch (err) {
            if (!isConditionalConflict(err)) throw err;
            conflicts++;
            settled.set(row.index, { result: "conflict", storedEventTimeMs: row.event_time });
          }
        }),
      );
      if (conflicts === 0) break;
    }
    const final = sealed!;
    const results = final.rows.map((row) => ("error" in row ? { result: "rejected" as const, error: row.error } : { result: settled.get(row.index)?.result ?? "conflict" }));
    const pushView = this.metrics.viewLabel(final.view);
    for (const r of results) this.metrics.pushRows.inc({ view: pushView, result: r.result });
    if (target.kind !== "batch" && "error" in final.rows[0]) {
      const { error } = final.rows[0];
      throw new LaneError(isErrorCode(error.code) ? error.code : "bad_row", error.message);
    }
    // The answer is built and signed by the signer too: it re-validates the request it sealed and
    // adds the store outcomes we report (labelled as host-reported). No 2xx leaves unsigned.
    const outcomes = final.rows.flatMap((row) => {
      if ("error" in row) return [];
      const s = settled.get(row.index) ?? { result: "conflict" as const, storedEventTimeMs: row.event_time };
      return [{ index: row.index, result: s.result, stored_event_time: s.storedEventTimeMs }];
    });
    const signed = await writeSigner.signWriteOutcome({ ticket: final.ticket, acceptSignature: header(req, "accept-signature"), outcomes });
    this.writeSigned(res, signed, raw, writeSigner);
  }

  /**
   * Copy a signed answer to the wire, after the fail-closed check. The headers go as one raw array
   * (with the request id when the caller has not set it already): no header object for Node to
   * walk and re-validate through setHeader.
   */
  private writeSigned(res: LaneResponse, signed: SignedResponse, raw: SignedRequest, signer: SignerClient = this.options.signer, requestId?: string): void {
    this.checkSigned(signed, raw, signer);
    const headers = [
      "content-type",
      signed.contentType,
      "content-length",
      String(signed.body.length),
      "content-digest",
      signed.contentDigest,
      "signature-input",
      signed.signatureInput,
      "signature",
      signed.signature,
      "cache-control",
      "no-store",
    ];
    if (requestId !== undefined) headers.push("x-request-id", requestId);
    res.writeHead(signed.status, headers);
    res.end(signed.body);
  }

  private async getObject(view: string, entity: string): Promise<Buffer | null> {
    const started = process.hrtime.bigint();
    let result: StoreGetResult;
    try {
      result = await this.options.store.get(objectKey(view, entity, this.keyPrefix));
    } catch (err) {
      this.metrics.storeDuration.child("error").observe(Number(process.hrtime.bigint() - started) / 1e9);
      throw err;
    }
    this.metrics.storeDuration.child(result.found ? "found" : "missing").observe(Number(process.hrtime.bigint() - started) / 1e9);
    return result.found ? result.body : null;
  }

  /**
   * Fail closed: a signed answer must look signed; a sampled share is fully verified with the
   * signer's public key. Anything off is a 503, never a 2xx.
   */
  private checkSigned(signed: SignedResponse, raw: SignedRequest, signer: SignerClient): void {
    const wellFormed =
      typeof signed.status === "number" &&
      typeof signed.signature === "string" &&
      signed.signature.length > 0 &&
      typeof signed.signatureInput === "string" &&
      typeof signed.contentDigest === "string" &&
      typeof signed.contentType === "string" &&
      signed.body instanceof Uint8Array;
    if (!wellFormed) throw new LaneError("signer_unavailable", "signer returned a malformed answer");
    if (this.selfVerifyRate <= 0 || (this.selfVerifyRate < 1 && Math.random() >= this.selfVerifyRate)) return;
    const key = signer.keyInfo;
    try {
      if (!key) throw new Error("no signer key");
      verifyResponse(
        receivedFromSigned(signed),
        { method: raw.method, path: raw.path, query: raw.query, body: raw.method === "POST" ? (raw.body ?? new Uint8Array(0)) : undefined },
        // Signature only: freshness (P8) is the consumer's bound to enforce, not a reason for a 503 here.
        { key: [key.jwk, ...this.laneKeys.map((k) => k.jwk)], skewSeconds: 30, maxStaleness: Number.POSITIVE_INFINITY },
      );
    } catch (err) {
      this.metrics.selfVerifyFailures.inc();
      this.options.logger?.error({ err }, "signed answer failed self-verification");
      throw new LaneError("signer_unavailable", "signer answer failed verification");
    }
  }

  /**
   * GET /v1/views[/{view}]: what the signer serves now. Unsigned (the runtime makes it), so it
   * carries the admin-signed document itself: a consumer checks its signature against the lane's
   * admin keys and its digest against the registry_digest of any signed answer.
   */
  private views({ res, pathParams }: RouteCall): void {
    const held = this.options.registry.current;
    const views: readonly ViewDocument[] = held.document?.views ?? held.registry.all.map(viewDocumentFromSpec);
    const describe = (v: ViewDocument) => ({
      name: v.name,
      entity_key: v.entity_key,
      max_age: formatMaxAge(v.max_age_seconds),
      max_age_seconds: v.max_age_seconds,
      owner: v.owner,
      description: v.description,
      features: v.features,
    });
    const common = {
      registry_version: held.ref.version,
      registry_digest: held.ref.digest,
      lane: held.document?.lane ?? null,
      issued_at: held.document ? new Date(held.document.issued_at).toISOString() : null,
      document: held.signed ? (JSON.parse(held.signed.toString("utf8")) as unknown) : null,
    };
    const segment = pathParams.view;
    if (segment === undefined) return sendJson(res, 200, { ...common, views: views.map(describe) });
    let name: string;
    try {
      name = decodeURIComponent(segment);
    } catch {
      throw new LaneError("bad_view", "view name is not valid percent-encoding");
    }
    const view = views.find((v) => v.name === name);
    if (!view) throw new LaneError("unknown_view", `no feature view ${JSON.stringify(name.slice(0, 64))} (known: ${views.map((v) => v.name).join(", ")})`);
    sendJson(res, 200, { ...common, view: describe(view) });
  }

  /** PUT /v1/registry (admin): forward to the signer; on acceptance the fleet copy is written. */
  private async publishRegistry({ req, res }: RouteCall): Promise<void> {
    const registry = this.options.registry;
    if (!registry.publish) throw new LaneError("registry_publish_unavailable");
    const body = await readBody(req, MAX_SIGNED_REGISTRY_BYTES);
    const { held, stored } = await registry.publish(body);
    sendJson(res, 200, { registry_version: held.ref.version, registry_digest: held.ref.digest, stored });
  }

  private async ready(res: LaneResponse): Promise<void> {
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
    if (this.options.checkpoints) checks.checkpoints = this.options.checkpoints.ready ? "ok" : "pending";
    const ok = Object.values(checks).every((c) => c === "ok");
    sendJson(res, ok ? 200 : 503, { status: ok ? "ready" : "not_ready", checks }, ok ? {} : { "retry-after": "1" });
  }

  private async attestation({ res, params }: RouteCall): Promise<void> {
    const nonceText = params.get("nonce");
    const nonce = nonceText === undefined ? randomBytes(32) : Buffer.from(nonceText, "utf8");
    if (nonce.length === 0 || nonce.length > MAX_NONCE_LENGTH) throw new LaneError("bad_query", `nonce must be 1..${MAX_NONCE_LENGTH} bytes`);
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

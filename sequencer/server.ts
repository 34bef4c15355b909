/**
 * The sequencer's endpoint (run by `express-lane checkpoints serve`, cli/checkpoints.ts, and by the
 * local lane in-process): the ViewSequencer (sequencer/view-sequencer.ts) of one or more views and
 * the HTTP endpoint its writers report to (sequencer/report.ts has the client side). Loopback
 * by default: reports are authenticated either way, but nothing else needs to reach it.
 *
 *   GET  /health                                   200 {"ok": true}
 *   GET  /v1/checkpoints                           each view's newest checkpoint {view, seq, as_of, root, entities}
 *   POST /v1/checkpoints/{view}/report             writer-signed changes (tag express-lane-checkpoint-report)
 *   POST /v1/checkpoints/{view}/push-answer        an enclave-signed push answer, verified against the pinned lane key
 *
 * Errors are JSON {error: {code, message}}: 400 bad_report, 401 report_signature_invalid /
 * push_answer_unverified, 404 unknown_view / not_found, 413 report_too_large, 503 publish_failed.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { timingSafeEqual } from "node:crypto";
import { parseWriterSignature, writerMac, WriterAuthError, WRITER_SIGNATURE_MAX_AGE_S } from "../wire/writer-auth";
import { VALUE_BYTES } from "../wire/entity-map";
import { LaneError } from "../wire/errors";
import type { Ed25519Jwk } from "../wire/keys";
import { verifyResponse, VerificationError } from "../verifier/response";
import { MAX_REPORT_CHANGES, REPORT_SIGNATURE_TAG, type ReportKey } from "./report";
import { HEARTBEAT_MS, ViewSequencer, type Change } from "./view-sequencer";
import type { ObjectWriter } from "../runtime/store/types";

const MAX_REPORT_BYTES = 4 * 1024 * 1024;

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body), "cache-control": "no-store" });
  res.end(body);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_REPORT_BYTES) {
        reject(new LaneError("report_too_large", `a report is at most ${MAX_REPORT_BYTES} bytes`));
        req.removeAllListeners("data");
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function parseJson(body: Buffer): Record<string, unknown> {
  try {
    const v = JSON.parse(body.toString("utf8")) as unknown;
    if (typeof v === "object" && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    /* below */
  }
  throw new LaneError("bad_report", "the body must be a JSON object");
}

function b64(v: unknown, what: string): Buffer {
  if (typeof v !== "string") throw new LaneError("bad_report", `${what} must be base64 text`);
  return Buffer.from(v, "base64");
}

export interface SequencerServerOptions {
  readonly sequencers: ReadonlyMap<string, ViewSequencer>;
  /** Writer keys whose reports are accepted (kid → key). */
  readonly reporters: ReadonlyMap<string, Uint8Array>;
  /** The lane's signing keys: push answers are accepted only when they verify against one. */
  readonly pinned?: readonly Ed25519Jwk[] | (() => readonly Ed25519Jwk[] | undefined);
  readonly nowSeconds?: () => number;
}

/** The sequencer's HTTP endpoint (no listen: the caller chooses host and port). */
export function createSequencerServer(o: SequencerServerOptions): Server {
  const nowSeconds = o.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
  // Nonces of accepted reports within the signature window: a replayed report is refused.
  const seen = new Map<string, number>();
  const remember = (nonce: string): void => {
    const now = nowSeconds();
    if (seen.size > 100_000) for (const [n, t] of seen) if (t < now - WRITER_SIGNATURE_MAX_AGE_S - 60) seen.delete(n);
    if (seen.has(nonce)) throw new LaneError("report_replayed", "this report was already accepted");
    seen.set(nonce, now);
  };

  const sequencerOf = (view: string): ViewSequencer => {
    const s = o.sequencers.get(view);
    if (!s) throw new LaneError("unknown_view", `this sequencer does not own view ${JSON.stringify(view.slice(0, 64))}`);
    return s;
  };

  const report = async (req: IncomingMessage, path: string, view: string): Promise<unknown> => {
    const sequencer = sequencerOf(view);
    const body = await readBody(req);
    let sig;
    try {
      sig = parseWriterSignature(
        { method: "POST", path, query: "", contentType: req.headers["content-type"], body },
        {
          signatureInput: req.headers["signature-input"] as string | undefined,
          signature: req.headers["signature"] as string | undefined,
          contentDigest: req.headers["content-digest"] as string | undefined,
        },
        nowSeconds(),
        REPORT_SIGNATURE_TAG,
      );
    } catch (err) {
      if (err instanceof WriterAuthError) throw new LaneError("report_signature_invalid", `${err.code}: ${err.message}`);
      throw err;
    }
    const key = o.reporters.get(sig.kid);
    if (!key || !timingSafeEqual(writerMac(key, sig.base), sig.mac))
      throw new LaneError("report_signature_invalid", "the report is not signed by a writer key this sequencer accepts");
    remember(sig.nonce);
    const m = parseJson(body);
    if (!Array.isArray(m.changes) || m.changes.length > MAX_REPORT_CHANGES) throw new LaneError("bad_report", `changes must be a list of at most ${MAX_REPORT_CHANGES}`);
    const changes: Change[] = m.changes.map((c: unknown, i: number) => {
      const f = c as { entity?: unknown; value?: unknown } | null;
      if (typeof f !== "object" || f === null || typeof f.entity !== "string" || f.entity.length === 0 || Buffer.byteLength(f.entity) > 256) {
        throw new LaneError("bad_report", `changes[${i}].entity must be an entity id`);
      }
      if (f.value === null) return [f.entity, null] as const;
      const value = b64(f.value, `changes[${i}].value`);
      if (value.length !== VALUE_BYTES) throw new LaneError("bad_report", `changes[${i}].value must be ${VALUE_BYTES} bytes (base64)`);
      return [f.entity, value] as const;
    });
    return sequencer.report(changes);
  };

  const pushAnswer = async (req: IncomingMessage, view: string): Promise<unknown> => {
    const sequencer = sequencerOf(view);
    const pinned = typeof o.pinned === "function" ? o.pinned() : o.pinned;
    if (!pinned || pinned.length === 0) throw new LaneError("push_answers_off");
    const m = parseJson(await readBody(req));
    const request = m.request as { method?: unknown; path?: unknown; body?: unknown } | undefined;
    const answer = m.answer as { status?: unknown; headers?: unknown; body?: unknown } | undefined;
    if (typeof request?.path !== "string" || typeof answer?.status !== "number" || typeof answer.headers !== "object" || answer.headers === null) {
      throw new LaneError("bad_report", "push-answer needs request {path, body} and answer {status, headers, body}");
    }
    const method = typeof request.method === "string" ? request.method.toUpperCase() : "POST";
    const prefix = `/v1/features/${encodeURIComponent(view)}`;
    if (!(request.path === prefix || request.path.startsWith(`${prefix}/`))) throw new LaneError("bad_report", "the push was not to this view");
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(answer.headers as Record<string, unknown>)) if (typeof v === "string") headers[k.toLowerCase()] = v;
    const answerBody = b64(answer.body, "answer.body");
    let verified;
    try {
      verified = verifyResponse(
        { status: answer.status, headers, body: answerBody },
        { method, path: request.path, query: "", body: request.body === undefined ? undefined : b64(request.body, "request.body") },
        { key: pinned, nonce: typeof m.answer_nonce === "string" ? m.answer_nonce : undefined },
      );
    } catch (err) {
      if (err instanceof VerificationError) throw new LaneError("push_answer_unverified", `${err.code}: ${err.message}`);
      throw err;
    }
    // An old answer replayed can only lose against newer event times, but keep the window short anyway.
    if (verified.created < nowSeconds() - WRITER_SIGNATURE_MAX_AGE_S) throw new LaneError("push_answer_unverified", "the push answer is too old to report");
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(answerBody.toString("utf8")) as Record<string, unknown>;
    } catch {
      throw new LaneError("bad_report", "the push answer is not JSON");
    }
    if (parsed.view !== view) throw new LaneError("bad_report", "the push answer is for another view");
    const rows = Array.isArray(parsed.results) ? (parsed.results as Array<Record<string, unknown>>) : [parsed];
    const changes: Change[] = [];
    for (const r of rows) {
      if ((r.result !== "written" && r.result !== "unchanged") || typeof r.entity !== "string" || typeof r.object_digest !== "string" || typeof r.event_time !== "string") continue;
      const digest = Buffer.from(r.object_digest, "base64");
      const eventTime = Date.parse(r.event_time);
      if (digest.length !== 32 || !Number.isSafeInteger(eventTime)) continue;
      const value = Buffer.alloc(VALUE_BYTES);
      value.writeBigInt64BE(BigInt(eventTime), 0);
      digest.copy(value, 8);
      changes.push([r.entity, value]);
    }
    return sequencer.report(changes);
  };

  return createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://sequencer");
    const parts = url.pathname.split("/");
    const handle = async (): Promise<unknown> => {
      if (req.method === "GET" && url.pathname === "/health") return { ok: true };
      if (req.method === "GET" && url.pathname === "/v1/checkpoints") {
        return {
          views: [...o.sequencers.values()].map((s) => {
            const c = s.current;
            return { view: s.view, seq: c?.seq ?? 0, as_of: c ? new Date(c.as_of).toISOString() : null, root: s.rootHash.toString("hex"), entities: s.size };
          }),
        };
      }
      if (req.method === "POST" && parts.length === 5 && parts[1] === "v1" && parts[2] === "checkpoints") {
        let view: string;
        try {
          view = decodeURIComponent(parts[3]!);
        } catch {
          throw new LaneError("bad_report", "bad view in path");
        }
        if (parts[4] === "report") return report(req, url.pathname, view);
        if (parts[4] === "push-answer") return pushAnswer(req, view);
      }
      throw new LaneError("not_found_route");
    };
    handle().then(
      (value) => sendJson(res, 200, value),
      (err: unknown) => {
        const e = err instanceof LaneError ? err : new LaneError("publish_failed", `the checkpoint could not be sealed or published: ${(err as Error).message}`);
        sendJson(res, e.status, { error: { code: e.code, message: e.message } });
      },
    );
  });
}

export interface RunningSequencer {
  readonly url: string;
  readonly port: number;
  readonly sequencers: ReadonlyMap<string, ViewSequencer>;
  /** Pin (or re-pin) the lane keys push answers are verified against. */
  pin(keys: readonly Ed25519Jwk[]): void;
  /**
   * Start sequencing another view (a view applied after start): its first checkpoint is published
   * before this resolves. A no-op for a view already sequenced.
   */
  addView(view: string): Promise<void>;
  /** Stops heartbeats and the endpoint, folds each view's journal, releases the locks. */
  stop(): Promise<void>;
}

/** The sequencers of `views`, their endpoint and heartbeat (the command, and the local lane in-process). */
export async function runSequencer(o: {
  readonly views: readonly string[];
  readonly lane: string;
  readonly key: ReportKey;
  readonly reporters?: ReadonlyMap<string, Uint8Array>;
  readonly pinned?: readonly Ed25519Jwk[];
  readonly store: ObjectWriter;
  readonly stateDir: string;
  readonly keyPrefix?: string;
  readonly host?: string;
  readonly port?: number;
  readonly heartbeatMs?: number;
  readonly onError?: (view: string, err: Error) => void;
}): Promise<RunningSequencer> {
  const sequencers = new Map<string, ViewSequencer>();
  const sequencerOf = (view: string): ViewSequencer =>
    new ViewSequencer({ view, lane: o.lane, key: o.key, store: o.store, stateDir: o.stateDir, keyPrefix: o.keyPrefix, onError: (err) => o.onError?.(view, err) });
  try {
    for (const view of o.views) sequencers.set(view, sequencerOf(view));
  } catch (err) {
    await Promise.all([...sequencers.values()].map((s) => s.close()));
    throw err;
  }
  const reporters = new Map(o.reporters ?? []);
  reporters.set(o.key.kid, o.key.key);
  const pins = { keys: o.pinned };
  const server = createSequencerServer({ sequencers, reporters, pinned: () => pins.keys });
  const host = o.host ?? "127.0.0.1";
  await new Promise<void>((resolve) => server.listen(o.port ?? 0, host, resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : (o.port ?? 0);
  // The first checkpoint at once (with a snapshot): followers need not wait for a heartbeat.
  for (const s of sequencers.values()) await s.report([]).catch(() => undefined);
  const heartbeatMs = o.heartbeatMs ?? HEARTBEAT_MS;
  const timer = setInterval(
    () => {
      for (const s of sequencers.values()) void s.heartbeat(heartbeatMs - 50)?.catch(() => undefined);
    },
    Math.max(10, heartbeatMs / 4),
  );
  timer.unref();
  return {
    url: `http://${host}:${port}`,
    port,
    sequencers,
    pin: (keys) => {
      pins.keys = keys;
    },
    addView: async (view) => {
      if (sequencers.has(view)) return;
      const s = sequencerOf(view);
      sequencers.set(view, s);
      await s.report([]).catch(() => undefined);
    },
    stop: async () => {
      clearInterval(timer);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await Promise.all([...sequencers.values()].map((s) => s.close()));
    },
  };
}

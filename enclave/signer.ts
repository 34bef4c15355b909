/**
 * The signer: the only code that holds the signing key. In production it runs inside a Nitro
 * Enclave; locally it is the same code in a separate process. The whole trust story is here:
 *
 *   1. The key is born in this process (SigningKey.generate) and never leaves it.
 *   2. The attestation document binds the key: NSM puts our raw public key into `public_key`, next to
 *      the enclave's PCRs, under AWS's certificate chain (GET /v1/attestation → FrameKind.Attest).
 *   3. Every read answer is produced and signed here: we re-parse the request facts the host
 *      forwards, decode and project the stored bytes ourselves, and sign status, content type,
 *      digest and the request's method, path and query (RFC 9421). The host only moves bytes.
 *
 * The host is untrusted: every frame is validated; a bad frame gets an error reply, never a
 * signature over something we did not build.
 */
import { createServer, Server, Socket } from "node:net";
import { SigningKey } from "./key";
import { renderRead } from "./render";
import type { Nsm } from "./nsm/types";
import { contentDigest, DEFAULT_SIGNATURE_VALIDITY_S, serializeSignatureParams, signatureBase, signatureHeaders } from "../wire/envelope";
import {
  AttestRequest,
  AttestResponse,
  decodePayload,
  encodeFrame,
  ErrorReply,
  Frame,
  FrameDecoder,
  FrameKind,
  FrameWriter,
  SignedResponse,
  SignReadRequest,
} from "../wire/frames";
import { MAX_NONCE_LENGTH, parseReadRequest, RequestError } from "../wire/request";

export interface SignerOptions {
  readonly key?: SigningKey;
  readonly nsm?: Nsm;
  /** Signature validity (expires - created), seconds. */
  readonly validitySeconds?: number;
  /** Clock, injectable for tests. Milliseconds since epoch. */
  readonly now?: () => number;
}

function toBuffer(value: unknown): Buffer | undefined {
  if (value === undefined || value === null) return undefined;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  throw new RequestError("bad_body", "binary field expected");
}

function str(value: unknown, field: string): string {
  if (typeof value !== "string") throw new RequestError("bad_body", `frame field ${field} must be a string`);
  return value;
}

function optStr(value: unknown, field: string): string | undefined {
  return value === undefined || value === null ? undefined : str(value, field);
}

function errorFrame(id: number, err: unknown): Buffer {
  const reply: ErrorReply =
    err instanceof RequestError
      ? { code: err.code, message: err.message, status: err.status }
      : { code: "signer_error", message: err instanceof Error ? err.message : "signer failure", status: 500 };
  return encodeFrame(id, FrameKind.Error, reply);
}

export class Signer {
  readonly key: SigningKey;
  private readonly nsm?: Nsm;
  private readonly validitySeconds: number;
  private readonly now: () => number;

  constructor(options: SignerOptions = {}) {
    this.key = options.key ?? SigningKey.generate();
    this.nsm = options.nsm;
    this.validitySeconds = options.validitySeconds ?? DEFAULT_SIGNATURE_VALIDITY_S;
    this.now = options.now ?? Date.now;
  }

  /** Build and sign the HTTP answer for one read. Throws RequestError for malformed input. */
  signRead(message: SignReadRequest): SignedResponse {
    const m = message as unknown as Record<string, unknown>;
    const raw = {
      method: str(m.method, "method"),
      path: str(m.path, "path"),
      query: str(m.query, "query"),
      accept: optStr(m.accept, "accept"),
      acceptSignature: optStr(m.acceptSignature, "acceptSignature"),
      contentType: optStr(m.contentType, "contentType"),
      body: toBuffer(m.body),
    };
    if (!Array.isArray(m.objects)) throw new RequestError("bad_body", "frame field objects must be an array");
    const objects = (m.objects as unknown[]).map((o) => toBuffer(o) ?? null);
    const request = parseReadRequest(raw);
    const rendered = renderRead(request, objects);

    const created = Math.floor(this.now() / 1000);
    const digest = contentDigest(rendered.body);
    const params = serializeSignatureParams({
      created,
      expires: created + this.validitySeconds,
      keyid: this.key.keyid,
      nonce: request.signature.nonce,
    });
    const base = signatureBase(
      { status: rendered.status, contentType: rendered.contentType, contentDigest: digest, method: raw.method, path: raw.path, query: raw.query },
      params,
    );
    const headers = signatureHeaders(request.signature.label, params, this.key.sign(base));
    return { status: rendered.status, contentType: rendered.contentType, contentDigest: digest, ...headers, body: rendered.body };
  }

  /** A fresh attestation document whose public_key is our signing key. */
  async attest(message: AttestRequest): Promise<AttestResponse> {
    if (!this.nsm) throw new RequestError("bad_body", "this signer has no NSM configured");
    const nonce = toBuffer((message as unknown as Record<string, unknown>)?.nonce);
    if (nonce && nonce.length > MAX_NONCE_LENGTH) throw new RequestError("bad_query", `nonce longer than ${MAX_NONCE_LENGTH} bytes`);
    const document = await this.nsm.attest({ publicKey: this.key.publicKeyRaw, nonce });
    return { document, keyid: this.key.keyid };
  }

  /**
   * Answer one frame; never throws (a failure is an Error frame for that request id). Reads are
   * answered synchronously, without a promise hop on the hot path; only attestation awaits NSM.
   */
  handle(frame: Frame): Buffer | Promise<Buffer> {
    try {
      switch (frame.kind) {
        case FrameKind.KeyInfo:
          return encodeFrame(frame.id, FrameKind.Reply, this.key.info);
        case FrameKind.SignRead:
          return encodeFrame(frame.id, FrameKind.Reply, this.signRead(decodePayload<SignReadRequest>(frame)));
        case FrameKind.Attest:
          return this.attest(decodePayload<AttestRequest>(frame)).then(
            (reply) => encodeFrame(frame.id, FrameKind.Reply, reply),
            (err: unknown) => errorFrame(frame.id, err),
          );
        default:
          return encodeFrame(frame.id, FrameKind.Error, { code: "bad_frame", message: `unknown frame kind ${frame.kind}`, status: 500 } satisfies ErrorReply);
      }
    } catch (err) {
      return errorFrame(frame.id, err);
    }
  }

  /** Serve one connection: frames in, replies out (coalesced per event-loop turn). */
  serveConnection(socket: Socket): void {
    socket.setNoDelay(true);
    const decoder = new FrameDecoder();
    const writer = new FrameWriter((data) => socket.write(data));
    socket.on("data", (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = decoder.push(chunk);
      } catch {
        // A broken stream cannot be resynchronised: drop the connection, the runtime reconnects.
        socket.destroy();
        return;
      }
      for (const frame of frames) {
        const reply = this.handle(frame);
        if (Buffer.isBuffer(reply)) writer.send(reply);
        else void reply.then((r) => writer.send(r));
      }
    });
    socket.on("error", () => socket.destroy());
    socket.on("close", () => writer.clear());
  }

  listen(path: string): Promise<Server> {
    const server = createServer((socket) => this.serveConnection(socket));
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, () => {
        server.off("error", reject);
        resolve(server);
      });
    });
  }
}

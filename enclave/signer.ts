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
 *   4. We sign only data an authorized writer wrote: every stored object carries a seal (HMAC under
 *      the seal key, enclave/seal.ts) that we verify, with the object's view and entity, before a
 *      value goes into an answer. A failed seal is a signed per-entity error, never a PRESENT value.
 *      The seal key comes from a SealKeySource (KMS + attestation in production); the host never
 *      holds it, so push-API rows are validated against the registry built into this image and
 *      sealed here (FrameKind.SealWrite); the host only stores the sealed bytes.
 *   5. In production the seal keys arrive KMS-wrapped (FrameKind.ProvisionSealKeys): we unwrap them
 *      ourselves with KMS Decrypt + our attestation, only under the seal KMS key pinned in this
 *      image (enclave/seal-provisioning.ts). The host's credentials let us ask; they open nothing.
 *
 * The host is untrusted: every frame is validated; a bad frame gets an error reply, never a
 * signature over something we did not build.
 */
import { createServer, Server, Socket } from "node:net";
import { SigningKey } from "./key";
import { encodeBody, renderRead } from "./render";
import type { SealKeyring } from "./seal";
import { SealProvisioningError, type SealKeyProvisioner } from "./seal-provisioning";
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
  ProvisionSealKeysRequest,
  ProvisionSealKeysResponse,
  SealedRow,
  SealWriteRequest,
  SealWriteResponse,
  SignedResponse,
  SignReadRequest,
  SignWriteOutcomeRequest,
  WriteOutcome,
} from "../wire/frames";
import type { Registry } from "../wire/registry";
import { MAX_NONCE_LENGTH, parseAcceptSignature, parseReadRequest, RequestError } from "../wire/request";
import { parseWriteRequest, type RawWriteRequest } from "../wire/write";

export interface SignerOptions {
  readonly key?: SigningKey;
  readonly nsm?: Nsm;
  /** Signature validity (expires - created), seconds. */
  readonly validitySeconds?: number;
  /** Clock, injectable for tests. Milliseconds since epoch. */
  readonly now?: () => number;
  /** Seal keys (from a SealKeySource). Without them every stored object is refused and pushes fail. */
  readonly seals?: SealKeyring | null;
  /** Production: unwraps host-provisioned, KMS-wrapped seal keys (FrameKind.ProvisionSealKeys). */
  readonly sealProvisioner?: SealKeyProvisioner;
  /** Feature views. @default the registry bundled into this build (registry/views.ts) */
  readonly registry?: Registry;
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

/** A refusal that is the signer's state, not the request's fault (e.g. no seal keys loaded). */
class SignerFault extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The raw push request facts from an untrusted frame (the signer re-parses them itself). */
function rawWriteOf(m: Record<string, unknown>): RawWriteRequest {
  return { method: str(m.method, "method"), path: str(m.path, "path"), query: str(m.query, "query"), contentType: optStr(m.contentType, "contentType"), body: toBuffer(m.body) };
}

const WRITE_RESULTS: ReadonlySet<string> = new Set(["written", "unchanged", "skipped_older"]);

function errorFrame(id: number, err: unknown): Buffer {
  const reply: ErrorReply =
    err instanceof RequestError || err instanceof SignerFault || err instanceof SealProvisioningError
      ? { code: err.code, message: err.message, status: err.status }
      : { code: "signer_error", message: err instanceof Error ? err.message : "signer failure", status: 500 };
  return encodeFrame(id, FrameKind.Error, reply);
}

export class Signer {
  readonly key: SigningKey;
  private readonly nsm?: Nsm;
  private readonly validitySeconds: number;
  private readonly now: () => number;
  private seals: SealKeyring | null;
  private readonly sealProvisioner?: SealKeyProvisioner;
  private readonly registry?: Registry;

  constructor(options: SignerOptions = {}) {
    this.key = options.key ?? SigningKey.generate();
    this.nsm = options.nsm;
    this.validitySeconds = options.validitySeconds ?? DEFAULT_SIGNATURE_VALIDITY_S;
    this.now = options.now ?? Date.now;
    this.seals = options.seals ?? null;
    this.sealProvisioner = options.sealProvisioner;
    this.registry = options.registry;
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
    const request = parseReadRequest(raw, this.registry);
    // The signed read time: max age (OUTSIDE_MAX_AGE) is judged against the `created` we sign.
    const created = Math.floor(this.now() / 1000);
    const rendered = renderRead(request, objects, { seals: this.seals, readTimeMs: created * 1000, registry: this.registry });

    const signed = this.signAnswer(rendered, raw, request.signature, created);
    return rendered.entityErrors.length > 0 ? { ...signed, entityErrors: rendered.entityErrors } : signed;
  }

  /** RFC 9421 over an answer this signer built, bound to the request it was built for. */
  private signAnswer(
    answer: { status: number; contentType: string; body: Buffer },
    raw: { method: string; path: string; query: string },
    signature: { label: string; nonce?: string },
    created = Math.floor(this.now() / 1000),
  ): SignedResponse {
    const digest = contentDigest(answer.body);
    const params = serializeSignatureParams({ created, expires: created + this.validitySeconds, keyid: this.key.keyid, nonce: signature.nonce });
    const base = signatureBase(
      { status: answer.status, contentType: answer.contentType, contentDigest: digest, method: raw.method, path: raw.path, query: raw.query },
      params,
    );
    const headers = signatureHeaders(signature.label, params, this.key.sign(base));
    return { status: answer.status, contentType: answer.contentType, contentDigest: digest, ...headers, body: answer.body };
  }

  /**
   * The push answer, signed. We re-validate the request we sealed (the host cannot add, drop or
   * rename rows) and take from the host only what it alone knows: what each conditional PUT did.
   * The answer says so (`outcome_reported_by: "host"`): the signature proves which rows this
   * signer accepted and sealed, not that the store kept them — read them back for that.
   */
  signWriteOutcome(message: SignWriteOutcomeRequest): SignedResponse {
    const m = message as unknown as Record<string, unknown>;
    const raw = rawWriteOf(m);
    const signature = parseAcceptSignature(optStr(m.acceptSignature, "acceptSignature"));
    const request = parseWriteRequest(raw, this.registry, this.now());
    if (!Array.isArray(m.outcomes)) throw new RequestError("bad_body", "frame field outcomes must be an array");
    const outcomes = new Map<number, WriteOutcome>();
    for (const o of m.outcomes as unknown[]) {
      const { index, result, stored_event_time } = (o ?? {}) as Record<string, unknown>;
      if (typeof index !== "number" || !WRITE_RESULTS.has(result as string) || !Number.isSafeInteger(stored_event_time)) {
        throw new RequestError("bad_body", "outcome must be {index, result: written|unchanged|skipped_older, stored_event_time}");
      }
      outcomes.set(index, o as WriteOutcome);
    }
    const results = request.rows.map((row, index) => {
      if (!row.ok) return { entity: row.entity, result: "rejected", error: row.error };
      const outcome = outcomes.get(index);
      if (!outcome) throw new RequestError("bad_body", `no store outcome for row ${index}`);
      return {
        entity: row.entity,
        result: outcome.result,
        event_time: new Date(row.event_time).toISOString(),
        stored_event_time: new Date(outcome.stored_event_time).toISOString(),
      };
    });
    const kid = this.seals?.activeKid;
    if (request.kind === "single") {
      const r = results[0];
      if (r.result === "rejected") throw new RequestError("bad_body", "a rejected single row has no signed answer");
      const body = { view: request.view, kid, ...r, outcome_reported_by: "host" };
      return this.signAnswer({ status: r.result === "written" ? 201 : 200, ...encodeBody("json", body) }, raw, signature);
    }
    const summary = { written: 0, unchanged: 0, skipped_older: 0, rejected: 0 };
    for (const r of results) summary[r.result as keyof typeof summary]++;
    return this.signAnswer({ status: 200, ...encodeBody("json", { view: request.view, kid, summary, results, outcome_reported_by: "host" }) }, raw, signature);
  }

  /**
   * Push API: validate each row against the registry built into this image and seal the valid ones
   * under the active seal key. The host gets sealed bytes to store (with its conditional PUT) and
   * a reason for each rejected row; it never sees the key.
   */
  sealWrite(message: SealWriteRequest): SealWriteResponse {
    const m = message as unknown as Record<string, unknown>;
    const raw = rawWriteOf(m);
    const now = this.now();
    const request = parseWriteRequest(raw, this.registry, now);
    const seals = this.seals;
    if (!seals) throw new SignerFault("seal_key_unavailable", 503, "signer has no seal keys loaded");
    const rows = request.rows.map((row, index): SealedRow => {
      if (!row.ok) return { index, entity: row.entity, error: row.error };
      const object = seals.seal({ view: request.view, entity: row.entity, event_time: row.event_time, written_time: now, features: row.features });
      return { index, entity: row.entity, event_time: row.event_time, object };
    });
    return { view: request.view, kid: seals.activeKid, rows };
  }

  /** The seal key ids loaded (verify) and the active one (seal); empty before provisioning. */
  get sealKids(): string[] {
    return this.seals?.kids ?? [];
  }

  /** Production seal keys: unwrap what the host provisions, then swap the keyring in whole. */
  async provisionSealKeys(message: ProvisionSealKeysRequest): Promise<ProvisionSealKeysResponse> {
    if (!this.sealProvisioner) throw new SealProvisioningError("seal_provisioning_disabled", 409, "this signer has no pinned seal KMS config (--seal-kms-config)");
    const { keyring, response } = await this.sealProvisioner.provision(message);
    this.seals = keyring;
    return response;
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
        case FrameKind.SealWrite:
          return encodeFrame(frame.id, FrameKind.Reply, this.sealWrite(decodePayload<SealWriteRequest>(frame)));
        case FrameKind.SignWriteOutcome:
          return encodeFrame(frame.id, FrameKind.Reply, this.signWriteOutcome(decodePayload<SignWriteOutcomeRequest>(frame)));
        case FrameKind.ProvisionSealKeys:
          return this.provisionSealKeys(decodePayload<ProvisionSealKeysRequest>(frame)).then(
            (reply) => encodeFrame(frame.id, FrameKind.Reply, reply),
            (err: unknown) => errorFrame(frame.id, err),
          );
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

// Builds signed answers the way docs/envelope.md defines them, straight from wire/envelope.ts and
// an Ed25519 key: envelope v2 (POST answers cover "content-digest";req) or, on request, v1. The
// verifier tests use these instead of the signer so they pin the envelope, not one signer version.
import { Packr } from "msgpackr";
import { SigningKey } from "../../enclave/key";
import { contentDigest, serializeSignatureParams, signatureBase, signatureHeaders } from "../../wire/envelope";
import type { ReceivedResponse, SentRequest } from "../../verifier/response";

export interface AnswerSpec {
  readonly key: SigningKey;
  readonly request: SentRequest;
  readonly status?: number;
  readonly body: unknown;
  readonly created: number;
  readonly nonce?: string;
  /** "v1": cover no request body even for a POST (what a pre-#11 signer produced). @default "v2" */
  readonly envelope?: "v1" | "v2";
  /** Sign over this request body instead of request.body (a host swapping the batch). */
  readonly signedRequestBody?: Uint8Array;
  /** "msgpack": the body as MessagePack (Content-Type application/msgpack). @default "json" */
  readonly format?: "json" | "msgpack";
}

export function signAnswer(spec: AnswerSpec): ReceivedResponse {
  const msgpack = spec.format === "msgpack";
  const contentType = msgpack ? "application/msgpack" : "application/json";
  const body = msgpack ? new Packr({ useRecords: false }).pack(spec.body) : Buffer.from(JSON.stringify(spec.body));
  const status = spec.status ?? 200;
  const digest = contentDigest(body);
  const signedBody = spec.signedRequestBody ?? spec.request.body;
  const coverBody = (spec.envelope ?? "v2") === "v2" && signedBody !== undefined;
  const params = serializeSignatureParams({ created: spec.created, expires: spec.created + 60, keyid: spec.key.keyid, nonce: spec.nonce, requestHasBody: coverBody });
  const base = signatureBase(
    {
      status,
      contentType,
      contentDigest: digest,
      method: spec.request.method,
      path: spec.request.path,
      query: spec.request.query,
      requestContentDigest: coverBody ? contentDigest(signedBody!) : undefined,
    },
    params,
  );
  const headers = signatureHeaders("sig1", params, spec.key.sign(base));
  return {
    status,
    headers: { "content-type": contentType, "content-digest": digest, "signature-input": headers.signatureInput, signature: headers.signature },
    body,
  };
}

/** A batch read request as a client sends it: the exact JSON bytes. */
export function batchRequest(view: string, entities: readonly string[], features?: readonly string[]): SentRequest {
  return { method: "POST", path: `/v1/features/${view}/batch`, query: "", body: Buffer.from(JSON.stringify(features ? { entities, features } : { entities })) };
}

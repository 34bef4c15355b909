/**
 * Generates the conformance vectors every verifier in the repository must agree on
 * (test/conformance/vectors.json): answers signed by the real signer code (enclave/signer.ts) with
 * a fixed key and clock, each next to the exact request it answers, plus one tampered variant per
 * covered component and per check a verifier makes.
 *
 *   npx tsx scripts/conformance/generate.ts           prints the vectors
 *   npx tsx scripts/conformance/generate.ts --write   rewrites test/conformance/vectors.json
 *
 * test/conformance/vectors.test.ts regenerates them and fails when the checked-in file differs
 * (the signer changed what it signs: regenerate, review the diff, and every verifier must still
 * agree), then runs the TypeScript verifier and the independent http-message-signatures library
 * over every vector; clients/python/tests/test_conformance.py runs the Python verifier over them.
 *
 * Keys here are public test keys, not secrets: the RFC 9421 Appendix B.1.4 Ed25519 key signs; a
 * second Ed25519 key from a fixed seed plays "some other signer"; the writer key is 32 × 0x42.
 */
import { createPrivateKey } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { SigningKey } from "../../enclave/key";
import { Signer } from "../../enclave/signer";
import { DEFAULT_REGISTRY } from "../../registry/views";
import { SealKeyring } from "../../enclave/seal";
import { contentDigest, serializeSignatureParams, signatureBase, signatureHeaders } from "../../wire/envelope";
import type { SignedResponse } from "../../wire/frames";
import { receivedFromSigned } from "../../verifier/response";
import { signPush } from "../../wire/writer-auth";
import { entityMapValue, sealCheckpoint, toWireProof, type WireProof } from "../../wire/checkpoint";
import { EntityMap, entityMapKey } from "../../wire/entity-map";
import { encodeFrame, FRAME_HEADER_BYTES, FrameKind } from "../../wire/frames";
import { RFC9421_TEST_KEY_PEM } from "../docs/envelope-example";

export const VECTORS_PATH = join(__dirname, "../../test/conformance/vectors.json");
/** The signer's clock: created = 1800000000 (2027-01-15T08:00:00Z). */
export const SIGNED_AT_MS = 1_800_000_000_000;
/** The verifiers' clock for every vector unless the vector says otherwise: 10 s after signing. */
export const VERIFY_AT_S = SIGNED_AT_MS / 1000 + 10;

/** PKCS#8 for an Ed25519 seed: the fixed 16-byte prefix, then the 32-byte seed. */
function ed25519FromSeed(seed: Buffer): SigningKey {
  const der = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]);
  return SigningKey.fromPrivateKey(createPrivateKey({ key: der, format: "der", type: "pkcs8" }));
}

export interface VectorRequest {
  readonly method: string;
  /** Path exactly as sent (percent-encoded). */
  readonly path: string;
  /** Query with its "?", or "" for none. */
  readonly query: string;
  readonly headers: Record<string, string>;
  /** The body bytes as sent, base64; absent for GET. */
  readonly body_base64?: string;
}

export interface VectorResponse {
  readonly status: number;
  /** Lower-case names. */
  readonly headers: Record<string, string>;
  readonly body_base64: string;
}

export interface Vector {
  readonly name: string;
  readonly description: string;
  /** What the answer is (for SDK result parsing tests): read, batch, not_found, push. */
  readonly kind: "read" | "batch" | "not_found" | "push";
  /** The nonce the client put in Accept-Signature and expects back; absent = none expected. */
  readonly nonce?: string;
  /** Verification time, seconds since epoch. */
  readonly now: number;
  /** Which keyids the verifier pins. */
  readonly pinned_keyids: readonly string[];
  /**
   * When set, every pinned key carries this validity window (JWK `nbf`/`exp`, seconds), as a
   * published lane key does (wire/lane-key.ts): an answer created outside it is `key_not_valid`.
   */
  readonly pinned_key_validity?: { readonly nbf: number; readonly exp: number };
  readonly request: VectorRequest;
  readonly response: VectorResponse;
  /** "valid", or the verifier error code (verifier/response.ts VerificationCode) every verifier must report. */
  readonly expect: "valid" | string;
  /**
   * The verifier's freshness bound for this vector (seconds; docs/trust.md P8), replacing the
   * answer's max_staleness; absent = the answer's own. A verifier that finds an entity with
   * fresh_as_of null or older than the bound reports `stale_answer`.
   */
  readonly max_staleness?: number;
  /** Set on tampered variants: which vector it was derived from and what was changed. */
  readonly tampered?: { readonly from: string; readonly component: string };
}

export interface VectorFile {
  readonly description: string;
  readonly envelope: "v2";
  readonly skew_seconds: number;
  readonly keys: ReadonlyArray<{ readonly keyid: string; readonly jwk: { kty: "OKP"; crv: "Ed25519"; x: string }; readonly role: string }>;
  readonly vectors: readonly Vector[];
}

const b64 = (bytes: Uint8Array | string): string => Buffer.from(bytes).toString("base64");

/** The answer as it appears on the wire (verifier/response.ts receivedFromSigned), body as base64. */
function responseOf(signed: SignedResponse): VectorResponse {
  const { status, headers, body } = receivedFromSigned(signed);
  return { status, headers: headers as VectorResponse["headers"], body_base64: b64(body) };
}

const acceptSignature = (nonce: string): string => `sig1=("@status" "content-digest");nonce="${nonce}"`;

export function generateVectors(): VectorFile {
  const key = SigningKey.fromPrivateKey(createPrivateKey(RFC9421_TEST_KEY_PEM));
  const otherKey = ed25519FromSeed(Buffer.alloc(32, 0x07));
  const writer = { kid: "conformance-writer", key: Buffer.alloc(32, 0x42), writer: "loader" };
  const keyring = new SealKeyring([writer]);
  const LANE = "conformance";
  const signerWith = (k: SigningKey) => new Signer({ registry: DEFAULT_REGISTRY, key: k, now: () => SIGNED_AT_MS, validitySeconds: 60, keys: { keyring }, checkpointLane: LANE });
  const signer = signerWith(key);
  // P8: the view's entity map (the writer side) and the signers' held checkpoints: `signer` holds
  // a recent one (as_of 2 s before signing), `staleSigner` only an old one (5 minutes before).
  const map = new EntityMap();
  const seal = (entity: string, features: Record<string, unknown>): Buffer => {
    const bytes = keyring.seal({ view: "user_profile", entity, event_time: SIGNED_AT_MS - 90_000, written_time: SIGNED_AT_MS - 60_000, features: features as never });
    map.set(entityMapKey("user_profile", entity), entityMapValue(SIGNED_AT_MS - 90_000, bytes));
    return bytes;
  };
  const give = (s: Signer, seq: number, asOf: number): void => {
    const sealed = sealCheckpoint({ lane: LANE, view: "user_profile", seq, as_of: asOf, root: map.rootHash(), entities: map.size }, writer.kid, writer.key);
    s.handle(
      { id: 1, kind: FrameKind.ProvideCheckpoints, payload: encodeFrame(1, FrameKind.ProvideCheckpoints, { checkpoints: [sealed] }).subarray(FRAME_HEADER_BYTES) },
      "provision",
    );
  };
  const proofs = (entities: readonly string[], seq = 1): WireProof[] => entities.map((e) => toWireProof(seq, map.prove(entityMapKey("user_profile", e))));
  const pinned = [key.keyid];
  const vectors: Vector[] = [];
  const add = (v: Omit<Vector, "now" | "pinned_keyids"> & Partial<Pick<Vector, "now" | "pinned_keyids">>): Vector => {
    const full: Vector = { now: VERIFY_AT_S, pinned_keyids: pinned, ...v };
    vectors.push(full);
    return full;
  };

  // --- Valid answers -------------------------------------------------------------------------
  const stored42 = seal("user_000042", {
    country: "IN",
    risk_score: 0.125,
    flag_0: true,
    txn_count_1d: 3,
    embedding_0: Array.from({ length: 38 }, (_, i) => i / 64),
    referrer: null,
  });

  const storedPlus42 = seal("user+42", { country: "FR" });
  give(signer, 1, SIGNED_AT_MS - 2000);
  const staleSigner = signerWith(key);
  give(staleSigner, 1, SIGNED_AT_MS - 300_000);

  const getJsonReq = {
    method: "GET",
    path: "/v1/features/user_profile/user_000042",
    query: "?features=country,risk_score,referrer,device",
    headers: { "accept-signature": acceptSignature("n-get-json-0001") },
  };
  const getJson = add({
    name: "read-json",
    description: "GET a projected single read, JSON; statuses PRESENT, NULL_VALUE (referrer) and NOT_FOUND (device)",
    kind: "read",
    nonce: "n-get-json-0001",
    request: getJsonReq,
    response: responseOf(signer.signRead({ ...getJsonReq, acceptSignature: getJsonReq.headers["accept-signature"], objects: [stored42], proofs: proofs(["user_000042"]) })),
    expect: "valid",
  });

  const getPackReq = {
    method: "GET",
    path: "/v1/features/user_profile/user_000042",
    query: "?features=country,flag_0,txn_count_1d,embedding_0",
    headers: { accept: "application/msgpack", "accept-signature": acceptSignature("n-get-msgpack-01") },
  };
  add({
    name: "read-msgpack",
    description: "GET a single read as MessagePack (times are MessagePack timestamps)",
    kind: "read",
    nonce: "n-get-msgpack-01",
    request: getPackReq,
    response: responseOf(
      signer.signRead({
        ...getPackReq,
        accept: "application/msgpack",
        acceptSignature: getPackReq.headers["accept-signature"],
        objects: [stored42],
        proofs: proofs(["user_000042"]),
      }),
    ),
    expect: "valid",
  });

  const pctReq = { method: "GET", path: "/v1/features/user_profile/user%2B42", query: "", headers: { "accept-signature": acceptSignature("n-get-pct-000001") } };
  add({
    name: "read-percent-encoded-no-query",
    description: 'GET with a percent-encoded entity and no query: @path is covered exactly as sent, @query is "?"',
    kind: "read",
    nonce: "n-get-pct-000001",
    request: pctReq,
    response: responseOf(signer.signRead({ ...pctReq, acceptSignature: pctReq.headers["accept-signature"], objects: [storedPlus42], proofs: proofs(["user+42"]) })),
    expect: "valid",
  });

  const batchBody = Buffer.from(JSON.stringify({ entities: ["user_000042", "user_999999"], features: ["country", "risk_score"] }));
  const batchReq = {
    method: "POST",
    path: "/v1/features/user_profile/batch",
    query: "",
    headers: { "content-type": "application/json", "content-digest": contentDigest(batchBody), "accept-signature": acceptSignature("n-batch-0000001") },
    body_base64: b64(batchBody),
  };
  const batchSigned = signer.signRead({
    method: "POST",
    path: batchReq.path,
    query: "",
    contentType: "application/json",
    body: batchBody,
    acceptSignature: batchReq.headers["accept-signature"],
    objects: [stored42, null],
    proofs: proofs(["user_000042", "user_999999"]),
  });
  const batch = add({
    name: "batch-json",
    description: 'POST a batch read (envelope v2: the answer covers "content-digest";req, the digest of the body sent); one entity never written',
    kind: "batch",
    nonce: "n-batch-0000001",
    request: batchReq,
    response: responseOf(batchSigned),
    expect: "valid",
  });

  const notFoundReq = { method: "GET", path: "/v1/features/user_profile/user_404404", query: "", headers: { "accept-signature": acceptSignature("n-not-found-0001") } };
  add({
    name: "not-found",
    description: "GET an entity with no object: a signed 404 with error.code not_found",
    kind: "not_found",
    nonce: "n-not-found-0001",
    request: notFoundReq,
    response: responseOf(signer.signRead({ ...notFoundReq, acceptSignature: notFoundReq.headers["accept-signature"], objects: [null], proofs: proofs(["user_404404"]) })),
    expect: "valid",
  });

  // --- Freshness (P8): validly signed answers every SDK must reject by default -----------------
  add({
    name: "read-json-unproven",
    description: "the read-json request answered without an entity-map proof (a host that withholds them): fresh_as_of null, validly signed; rejected by default",
    kind: "read",
    nonce: "n-get-json-0001",
    request: getJsonReq,
    response: responseOf(signer.signRead({ ...getJsonReq, acceptSignature: getJsonReq.headers["accept-signature"], objects: [stored42] })),
    expect: "stale_answer",
  });
  const staleRead = add({
    name: "read-json-stale",
    description: "the read-json request answered by a signer whose newest checkpoint is 5 minutes old (a host withholding newer ones): fresh_as_of older than max_staleness (60 s)",
    kind: "read",
    nonce: "n-get-json-0001",
    request: getJsonReq,
    response: responseOf(staleSigner.signRead({ ...getJsonReq, acceptSignature: getJsonReq.headers["accept-signature"], objects: [stored42], proofs: proofs(["user_000042"]) })),
    expect: "stale_answer",
  });
  add({
    ...staleRead,
    name: "read-json-stale-within-caller-bound",
    description: "read-json-stale verified with the caller's own bound (max_staleness 3600 s): valid",
    max_staleness: 3600,
    expect: "valid",
  });
  add({
    name: "batch-json-one-unproven",
    description: "the batch-json request answered with a proof for the first entity only: the second's fresh_as_of is null, so the whole answer is rejected",
    kind: "batch",
    nonce: "n-batch-0000001",
    request: batchReq,
    response: responseOf(
      signer.signRead({
        method: "POST",
        path: batchReq.path,
        query: "",
        contentType: "application/json",
        body: batchBody,
        acceptSignature: batchReq.headers["accept-signature"],
        objects: [stored42, null],
        proofs: [...proofs(["user_000042"]), null],
      }),
    ),
    expect: "stale_answer",
  });

  // A push: the writer signs the request (wire/writer-auth.ts), the signer seals and issues a
  // ticket, the host reports the store outcome, the signer signs the answer bound to the push body.
  const pushOutcome = (name: string, path: string, body: Buffer, nonce: string, writerNonce: string): Vector => {
    const sig = signPush({ method: "POST", path, query: "", contentType: "application/json", body }, writer, { nonce: writerNonce, nowSeconds: SIGNED_AT_MS / 1000 });
    const sealed = signer.sealWrite({ method: "POST", path, query: "", contentType: "application/json", body, writerSignature: sig });
    const outcomes = sealed.rows
      .filter((r) => !("error" in r))
      .map((r) => ({ index: r.index, result: "written" as const, stored_event_time: (r as { event_time: number }).event_time }));
    const signed = signer.signWriteOutcome({ ticket: sealed.ticket, acceptSignature: acceptSignature(nonce), outcomes });
    return add({
      name,
      description: `POST a push to ${path}: the signed outcome names written_by and object_digest per row and is bound to the push body`,
      kind: "push",
      nonce,
      request: {
        method: "POST",
        path,
        query: "",
        headers: {
          "content-type": "application/json",
          "content-digest": sig.contentDigest,
          "signature-input": sig.signatureInput,
          signature: sig.signature,
          "accept-signature": acceptSignature(nonce),
        },
        body_base64: b64(body),
      },
      response: responseOf(signed),
      expect: "valid",
    });
  };
  const pushSingle = pushOutcome(
    "push-single",
    "/v1/features/user_profile",
    Buffer.from(JSON.stringify({ entity: "user_000077", event_time: SIGNED_AT_MS - 5_000, features: { country: "DE", risk_score: 0.5 } })),
    "n-push-single-01",
    "writer-nonce-single-000001",
  );
  pushOutcome(
    "push-batch",
    "/v1/features/user_profile/_push",
    Buffer.from(
      JSON.stringify({
        rows: [
          { entity: "user_000078", event_time: SIGNED_AT_MS - 5_000, features: { country: "ES" } },
          { entity: "user_000079", event_time: SIGNED_AT_MS - 5_000, features: { no_such_feature: 1 } },
        ],
      }),
    ),
    "n-push-batch-001",
    "writer-nonce-batch-0000001",
  );

  // --- Tampered variants: each must fail, every verifier with the same code -----------------------
  const signedAt = SIGNED_AT_MS / 1000;
  add({
    ...getJson,
    name: "read-json-lane-key-window",
    description: "the read-json answer, verified with a pinned key that carries a validity window (a lane key's nbf/exp) containing created",
    pinned_key_validity: { nbf: signedAt - 86_400, exp: signedAt + 86_400 },
  });

  const tamper = (
    from: Vector,
    component: string,
    expect: string,
    change: {
      request?: Partial<VectorRequest>;
      response?: Partial<VectorResponse>;
      nonce?: string;
      now?: number;
      pinned_keyids?: string[];
      pinned_key_validity?: { nbf: number; exp: number };
    },
    description: string,
  ): void => {
    add({
      ...from,
      name: `${from.name}~${component}`,
      description,
      request: { ...from.request, ...change.request },
      response: { ...from.response, ...change.response, headers: { ...from.response.headers, ...change.response?.headers } },
      ...(change.nonce !== undefined ? { nonce: change.nonce } : {}),
      ...(change.now !== undefined ? { now: change.now } : {}),
      ...(change.pinned_keyids !== undefined ? { pinned_keyids: change.pinned_keyids } : {}),
      ...(change.pinned_key_validity !== undefined ? { pinned_key_validity: change.pinned_key_validity } : {}),
      expect,
      tampered: { from: from.name, component },
    });
  };
  const body = Buffer.from(getJson.response.body_base64, "base64");
  const flipped = Buffer.from(body);
  flipped[flipped.indexOf("IN")] = "J".charCodeAt(0);
  const sigInput = getJson.response.headers["signature-input"]!;

  tamper(getJson, "status", "bad_signature", { response: { status: 203 } }, "the answer's status changed (200 → 203)");
  tamper(getJson, "content-type", "bad_signature", { response: { headers: { "content-type": "application/msgpack" } } }, "the answer's Content-Type header changed");
  tamper(
    getJson,
    "content-digest",
    "digest_mismatch",
    { response: { headers: { "content-digest": contentDigest(Buffer.from("something else")) } } },
    "the answer's Content-Digest header replaced (no longer the digest of the body)",
  );
  tamper(getJson, "body", "digest_mismatch", { response: { body_base64: b64(flipped) } }, "one byte of the answer body changed (country IN → JN)");
  tamper(
    getJson,
    "body+content-digest",
    "bad_signature",
    { response: { body_base64: b64(flipped), headers: { "content-digest": contentDigest(flipped) } } },
    "one body byte changed and Content-Digest recomputed to match: the signature covers the digest",
  );
  tamper(getJson, "method", "bad_signature", { request: { method: "HEAD" } }, "verified as the answer to a HEAD of the same target");
  tamper(getJson, "path", "bad_signature", { request: { path: "/v1/features/user_profile/user_000043" } }, "verified as the answer to another entity");
  tamper(getJson, "query", "bad_signature", { request: { query: "?features=country" } }, "verified as the answer to another projection");
  tamper(getJson, "nonce", "nonce_mismatch", { nonce: "n-some-other-nonce" }, "the client sent another nonce than the one signed (a replayed answer)");
  tamper(
    getJson,
    "signature-params",
    "bad_signature",
    { response: { headers: { "signature-input": sigInput.replace('nonce="n-get-json-0001"', 'nonce="n-get-json-0002"') } } },
    "the nonce in Signature-Input rewritten (the client expects the new one): the signature covers @signature-params",
  );
  tamper(
    getJson,
    "signature",
    "bad_signature",
    { response: { headers: { signature: getJson.response.headers.signature!.replace(/:(.)/, (_m, c: string) => `:${c === "A" ? "B" : "A"}`) } } },
    "the first byte of the signature changed",
  );
  tamper(getJson, "keyid", "wrong_keyid", { pinned_keyids: [otherKey.keyid] }, "the verifier pinned another key: an answer by a key it did not pin is refused");
  tamper(getJson, "expires", "expired", { now: SIGNED_AT_MS / 1000 + 3600 }, "verified an hour after signing (expires = created + 60 s)");
  tamper(getJson, "created", "not_yet_valid", { now: SIGNED_AT_MS / 1000 - 3600 }, "verified an hour before it was signed (created in the future)");
  tamper(
    getJson,
    "key-validity",
    "key_not_valid",
    { pinned_key_validity: { nbf: signedAt - 86_400, exp: signedAt - 3600 } },
    "the pinned key's validity window (a retired lane key: exp an hour before created) does not contain the answer's created",
  );
  tamper(getJson, "missing-signature", "missing_header", { response: { headers: { signature: "" } } }, "the Signature header dropped (an unsigned answer is an error)");

  const otherBody = Buffer.from(JSON.stringify({ entities: ["user_999999", "user_000042"], features: ["country", "risk_score"] }));
  tamper(
    batch,
    "request-content-digest",
    "bad_signature",
    { request: { body_base64: b64(otherBody), headers: { ...batch.request.headers, "content-digest": contentDigest(otherBody) } } },
    'verified against another batch body (the entities in another order): "content-digest";req differs',
  );
  tamper(batch, "request-body-missing", "missing_request_body", { request: { body_base64: undefined } }, "a POST answer verified without the body sent: refused, not guessed");
  // What a v1 signer sent for a POST: the six GET components, no request body binding, validly signed.
  const v1Params = serializeSignatureParams({ created: SIGNED_AT_MS / 1000, expires: SIGNED_AT_MS / 1000 + 60, keyid: key.keyid, nonce: "n-batch-0000001", requestHasBody: false });
  const v1Base = signatureBase(
    { status: 200, contentType: batchSigned.contentType, contentDigest: batchSigned.contentDigest, method: "POST", path: batchReq.path, query: "" },
    v1Params,
  );
  const v1 = signatureHeaders("sig1", v1Params, key.sign(v1Base));
  tamper(
    batch,
    "components",
    "wrong_components",
    { response: { headers: { "signature-input": v1.signatureInput, signature: v1.signature } } },
    'an envelope v1 answer to a POST (no "content-digest";req), validly signed: it proves nothing about the batch',
  );
  const pushBody = Buffer.from(pushSingle.request.body_base64!, "base64");
  const otherPush = Buffer.from(pushBody.toString("utf8").replace('"DE"', '"FR"'));
  tamper(pushSingle, "request-content-digest", "bad_signature", { request: { body_base64: b64(otherPush) } }, "a push outcome verified against another push body");

  return {
    description:
      "Express Lane conformance vectors (envelope v2, docs/envelope.md), generated by scripts/conformance/generate.ts from enclave/signer.ts. " +
      "Verify each response against its request with the keys in pinned_keyids, the vector's nonce and now, skew_seconds of clock skew; " +
      "expect 'valid' or the named verifier/response.ts error code.",
    envelope: "v2",
    skew_seconds: 5,
    keys: [
      { keyid: key.keyid, jwk: key.info.jwk, role: "signer (RFC 9421 Appendix B.1.4 test-key-ed25519)" },
      { keyid: otherKey.keyid, jwk: otherKey.info.jwk, role: "another signer (Ed25519 seed 32 × 0x07)" },
    ],
    vectors,
  };
}

export function vectorsJson(): string {
  return `${JSON.stringify(generateVectors(), null, 2)}\n`;
}

if (require.main === module) {
  if (process.argv.includes("--write")) {
    writeFileSync(VECTORS_PATH, vectorsJson());
    process.stdout.write(`wrote ${VECTORS_PATH}\n`);
  } else {
    process.stdout.write(vectorsJson());
  }
}

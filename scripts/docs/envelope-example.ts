/**
 * Generates the worked examples in docs/envelope.md from the real signer code, with the public
 * RFC 9421 Appendix B.1.4 test key and a fixed clock, so the examples are reproducible and a test
 * (test/scripts/docs/envelope-example.test.ts) keeps the document in step with the code:
 *   - a single read (GET: no request body, so the base is the same as in envelope v1), and
 *   - a batch read (POST: envelope v2, the base also covers `"content-digest";req`).
 *
 *   npx tsx scripts/docs/envelope-example.ts          prints both examples
 *   npx tsx scripts/docs/envelope-example.ts --write  rewrites them in docs/envelope.md
 */
import { createPrivateKey } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SigningKey } from "../../enclave/key";
import { Signer } from "../../enclave/signer";
import { DEFAULT_REGISTRY } from "../../registry/views";
import { SealKeyring } from "../../enclave/seal";
import { objectKey } from "../../wire/object";
import { contentDigest, coveredComponents, signatureBase } from "../../wire/envelope";
import { encodeFrame, FRAME_HEADER_BYTES, FrameKind, type SignedResponse } from "../../wire/frames";
import { entityMapValue, sealCheckpoint, toWireProof, type WireProof } from "../../wire/checkpoint";
import { EntityMap, entityMapKey } from "../../wire/entity-map";

/** RFC 9421 Appendix B.1.4 "test-key-ed25519" — published in the RFC, a test key, not a secret. */
export const RFC9421_TEST_KEY_PEM = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n-----END PRIVATE KEY-----\n";
export const EXAMPLE_NOW_MS = 1_800_000_000_000;
export const DOC_PATH = join(__dirname, "../../docs/envelope.md");

/** The markers around each generated section in docs/envelope.md. */
export const EXAMPLE_MARKERS = {
  read: ["<!-- example:start -->", "<!-- example:end -->"],
  batch: ["<!-- example-v2-batch:start -->", "<!-- example-v2-batch:end -->"],
} as const;

export interface ExampleRequest {
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly acceptSignature: string;
  readonly contentType?: string;
  readonly body?: Buffer;
}

function exampleSigner(): { signer: Signer; keyring: SealKeyring; key: SigningKey } {
  const key = SigningKey.fromPrivateKey(createPrivateKey(RFC9421_TEST_KEY_PEM));
  // A fixed, public example writer key (the stored objects must be sealed: docs/object-layout.md).
  const keyring = new SealKeyring([{ kid: "example", key: Buffer.alloc(32, 0x42), writer: "loader" }]);
  const signer = new Signer({ registry: DEFAULT_REGISTRY, key, now: () => EXAMPLE_NOW_MS, validitySeconds: 60, keys: { keyring }, checkpointLane: "example" });
  return { signer, keyring, key };
}

/**
 * P8: the view's sequencer vouches for `stored` in a checkpoint (seq 7, as_of 2 s before the
 * read) the signer is given; returns the host's proofs for `entities` against it.
 */
function checkpointed(signer: Signer, stored: ReadonlyArray<readonly [string, Buffer]>, entities: readonly string[]): WireProof[] {
  const map = new EntityMap();
  for (const [entity, bytes] of stored) map.set(entityMapKey("user_profile", entity), entityMapValue(EXAMPLE_NOW_MS - 90_000, bytes));
  const sealed = sealCheckpoint(
    { lane: "example", view: "user_profile", seq: 7, as_of: EXAMPLE_NOW_MS - 2000, root: map.rootHash(), entities: map.size },
    "example",
    Buffer.alloc(32, 0x42),
  );
  signer.handle(
    { id: 1, kind: FrameKind.ProvideCheckpoints, payload: encodeFrame(1, FrameKind.ProvideCheckpoints, { checkpoints: [sealed] }).subarray(FRAME_HEADER_BYTES) },
    "provision",
  );
  return entities.map((e) => toWireProof(7, map.prove(entityMapKey("user_profile", e))));
}

function profile(keyring: SealKeyring, entity: string, features: Record<string, unknown>): Buffer {
  return keyring.seal({ view: "user_profile", entity, event_time: EXAMPLE_NOW_MS - 90_000, written_time: EXAMPLE_NOW_MS - 60_000, features: features as never });
}

/** The signature base a verifier rebuilds, from the request it sent and the answer it got. */
function baseOf(request: ExampleRequest, signed: SignedResponse): string {
  const params = signed.signatureInput.slice(signed.signatureInput.indexOf("=") + 1);
  return signatureBase(
    {
      status: signed.status,
      contentType: signed.contentType,
      contentDigest: signed.contentDigest,
      method: request.method,
      path: request.path,
      query: request.query,
      requestContentDigest: request.body !== undefined ? contentDigest(request.body) : undefined,
    },
    params,
  );
}

function render(request: ExampleRequest, signed: SignedResponse, storedKeys: string): string {
  const hasBody = request.body !== undefined;
  const components = coveredComponents(hasBody).length;
  return [
    storedKeys,
    "",
    "Request:",
    "",
    "```http",
    `${request.method} ${request.path}${request.query} HTTP/1.1`,
    "Host: lane.internal:8080",
    `Accept-Signature: ${request.acceptSignature}`,
    ...(hasBody ? [`Content-Type: ${request.contentType}`, `Content-Digest: ${contentDigest(request.body!)}`, "", request.body!.toString("utf8")] : []),
    "```",
    "",
    "Response:",
    "",
    "```http",
    `HTTP/1.1 ${signed.status} OK`,
    `Content-Type: ${signed.contentType}`,
    `Content-Digest: ${signed.contentDigest}`,
    `Signature-Input: ${signed.signatureInput}`,
    `Signature: ${signed.signature}`,
    "",
    Buffer.from(signed.body).toString("utf8"),
    "```",
    "",
    `Signature base (the exact bytes signed; ${components} components, then \`@signature-params\`, lines joined by \\n, no trailing newline):`,
    "",
    "```",
    baseOf(request, signed),
    "```",
  ].join("\n");
}

/** The single read (GET). Also returns what the test needs to re-verify it. */
export function readExample(): { text: string; request: ExampleRequest; signed: SignedResponse } {
  const { signer, keyring, key } = exampleSigner();
  const object = profile(keyring, "user_000042", { country: "IN", risk_score: 0.125, flag_0: true });
  const request: ExampleRequest = {
    method: "GET",
    path: "/v1/features/user_profile/user_000042",
    query: "?features=country,risk_score",
    acceptSignature: 'sig1=("@status" "content-digest");nonce="b3k2pp5k7z"',
  };
  const signed = signer.signRead({ ...request, objects: [object], proofs: checkpointed(signer, [["user_000042", object]], ["user_000042"]) });
  const text = [
    render(request, signed, "Stored object key: `" + objectKey("user_profile", "user_000042") + "`"),
    "",
    "Signer key (`GET /v1/signer`):",
    "",
    "```json",
    JSON.stringify(key.info),
    "```",
  ].join("\n");
  return { text, request, signed };
}

/** The batch read (POST, envelope v2): two entities, one of them never written. */
export function batchExample(): { text: string; request: ExampleRequest; signed: SignedResponse } {
  const { signer, keyring } = exampleSigner();
  const stored = profile(keyring, "user_000042", { country: "IN", risk_score: 0.125 });
  const request: ExampleRequest = {
    method: "POST",
    path: "/v1/features/user_profile/batch",
    query: "",
    acceptSignature: 'sig1=("@status" "content-digest");nonce="q8n1v4c2x0"',
    contentType: "application/json",
    body: Buffer.from(JSON.stringify({ entities: ["user_000042", "user_999999"], features: ["country"] })),
  };
  const signed = signer.signRead({ ...request, objects: [stored, null], proofs: checkpointed(signer, [["user_000042", stored]], ["user_000042", "user_999999"]) });
  return {
    text: render(
      request,
      signed,
      `Object keys the host reads: \`${objectKey("user_profile", "user_000042")}\` and \`${objectKey("user_profile", "user_999999")}\` (the second was never written)`,
    ),
    request,
    signed,
  };
}

/** Back-compat name: the single-read example (what docs/envelope.md first showed). */
export function envelopeExample(): string {
  return readExample().text;
}

/** `doc` with each generated section replaced by what the code produces now. */
export function withExamples(doc: string): string {
  let out = doc;
  for (const [name, text] of [
    ["read", readExample().text],
    ["batch", batchExample().text],
  ] as const) {
    const [start, end] = EXAMPLE_MARKERS[name];
    const from = out.indexOf(start);
    const to = out.indexOf(end);
    if (from < 0 || to < from) throw new Error(`docs/envelope.md has no ${start} … ${end} section`);
    out = `${out.slice(0, from + start.length)}\n${text}\n${out.slice(to)}`;
  }
  return out;
}

if (require.main === module) {
  if (process.argv.includes("--write")) {
    writeFileSync(DOC_PATH, withExamples(readFileSync(DOC_PATH, "utf8")));
    process.stdout.write(`updated ${DOC_PATH}\n`);
  } else {
    process.stdout.write(`${readExample().text}\n\n${batchExample().text}\n`);
  }
}

/**
 * Generates the worked example in docs/envelope.md from the real signer code, with the public
 * RFC 9421 Appendix B.1.4 test key and a fixed clock, so the example is reproducible and a test
 * (test/scripts/docs/envelope-example.test.ts) keeps the document in step with the code.
 */
import { createPrivateKey } from "node:crypto";
import { SigningKey } from "../../enclave/key";
import { Signer } from "../../enclave/signer";
import { SealKeyring } from "../../enclave/seal";
import { objectKey } from "../../wire/object";
import { COVERED_COMPONENTS, signatureBase } from "../../wire/envelope";

/** RFC 9421 Appendix B.1.4 "test-key-ed25519" — published in the RFC, a test key, not a secret. */
export const RFC9421_TEST_KEY_PEM = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n-----END PRIVATE KEY-----\n";
export const EXAMPLE_NOW_MS = 1_800_000_000_000;

export function envelopeExample(): string {
  const key = SigningKey.fromPrivateKey(createPrivateKey(RFC9421_TEST_KEY_PEM));
  // A fixed, public example seal key (the stored object must be sealed: docs/object-layout.md).
  const seals = new SealKeyring([{ kid: "example", key: Buffer.alloc(32, 0x42) }]);
  const signer = new Signer({ key, now: () => EXAMPLE_NOW_MS, validitySeconds: 60, seals });
  const object = seals.seal({
    view: "user_profile",
    entity: "user_000042",
    event_time: EXAMPLE_NOW_MS - 90_000,
    written_time: EXAMPLE_NOW_MS - 60_000,
    features: { country: "IN", risk_score: 0.125, flag_0: true },
  });
  const request = {
    method: "GET",
    path: "/v1/features/user_profile/user_000042",
    query: "?features=country,risk_score",
    acceptSignature: 'sig1=("@status" "content-digest");nonce="b3k2pp5k7z"',
  };
  const signed = signer.signRead({ ...request, objects: [object] });
  const params = signed.signatureInput.slice(signed.signatureInput.indexOf("=") + 1);
  const base = signatureBase(
    { status: signed.status, contentType: signed.contentType, contentDigest: signed.contentDigest, method: request.method, path: request.path, query: request.query },
    params,
  );
  return [
    "Stored object key: `" + objectKey("user_profile", "user_000042") + "`",
    "",
    "Request:",
    "",
    "```http",
    `${request.method} ${request.path}${request.query} HTTP/1.1`,
    "Host: lane.internal:8080",
    `Accept-Signature: ${request.acceptSignature}`,
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
    `Signature base (the exact bytes signed; ${COVERED_COMPONENTS.length} components, then \`@signature-params\`, lines joined by \\n, no trailing newline):`,
    "",
    "```",
    base,
    "```",
    "",
    "Signer key (`GET /v1/signer`):",
    "",
    "```json",
    JSON.stringify(key.info),
    "```",
  ].join("\n");
}

if (require.main === module) process.stdout.write(`${envelopeExample()}\n`);

import { readFileSync } from "node:fs";
import { createPublicKey, verify } from "node:crypto";
import { verifyMessage } from "http-message-signatures/lib/httpbis";
import { batchExample, DOC_PATH, readExample, RFC9421_TEST_KEY_PEM, withExamples } from "../../../scripts/docs/envelope-example";
import { contentDigest } from "../../../wire/envelope";
import { receivedFromSigned, verifyResponse, VerificationError } from "../../../verifier/response";

/** The key docs/envelope.md prints (SPKI, base64): a reader verifies with this and nothing else. */
const DOCUMENTED_KEY = createPublicKey({ key: Buffer.from("MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=", "base64"), format: "der", type: "spki" });
const DOCUMENTED_JWK = DOCUMENTED_KEY.export({ format: "jwk" }) as { kty: "OKP"; crv: "Ed25519"; x: string };
const NOW_S = 1_800_000_000;

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return "verified";
  } catch (err) {
    if (err instanceof VerificationError) return err.code;
    throw err;
  }
}

function documented(text: string): { base: string; signature: Buffer } {
  return {
    base: /Signature base[^\n]*\n\n```\n([\s\S]*?)\n```/.exec(text)![1]!,
    signature: Buffer.from(/Signature: sig1=:([^:]+):/.exec(text)![1]!, "base64"),
  };
}

describe("docs/envelope.md worked examples", () => {
  it("are exactly what the signer produces today (regenerate: npx tsx scripts/docs/envelope-example.ts --write)", () => {
    const doc = readFileSync(DOC_PATH, "utf8");
    expect(doc).toContain("<!-- example-v2-batch:start -->");
    expect(withExamples(doc)).toBe(doc);
  });

  it("the documented key is the RFC 9421 test key", () => {
    expect(createPublicKey(RFC9421_TEST_KEY_PEM).export({ format: "der", type: "spki" }).toString("base64")).toBe(
      DOCUMENTED_KEY.export({ format: "der", type: "spki" }).toString("base64"),
    );
  });

  it("the single read verifies with nothing but the documented public key and base", () => {
    const { base, signature } = documented(readExample().text);
    expect(base).not.toContain('"content-digest";req');
    expect(verify(null, Buffer.from(base), DOCUMENTED_KEY, signature)).toBe(true);
    expect(verify(null, Buffer.from(base.replace("200", "201")), DOCUMENTED_KEY, signature)).toBe(false);
  });

  it("the v2 batch read verifies with the documented key and base, whose last component is the request body's digest", () => {
    const { text, request } = batchExample();
    const { base, signature } = documented(text);
    expect(base).toContain(
      `\n"content-digest";req: ${contentDigest(request.body!)}\n"@signature-params": ("@status" "content-type" "content-digest" "@method";req "@path";req "@query";req "content-digest";req);`,
    );
    expect(verify(null, Buffer.from(base), DOCUMENTED_KEY, signature)).toBe(true);
    // Another batch (same entities, other order) has another digest: the documented signature is not for it.
    const reordered = Buffer.from(JSON.stringify({ entities: ["user_999999", "user_000042"], features: ["country"] }));
    expect(verify(null, Buffer.from(base.replace(contentDigest(request.body!), contentDigest(reordered))), DOCUMENTED_KEY, signature)).toBe(false);
  });

  it("the v2 batch read passes our verifier with the body sent, fails for another body, and is refused without one", () => {
    const { request, signed } = batchExample();
    const received = receivedFromSigned(signed);
    const sent = { method: request.method, path: request.path, query: request.query, body: request.body };
    const options = { key: DOCUMENTED_JWK, nonce: "q8n1v4c2x0", now: NOW_S };
    expect(codeOf(() => verifyResponse(received, sent, options))).toBe("verified");
    const otherFeatures = Buffer.from(JSON.stringify({ entities: ["user_000042", "user_999999"], features: ["risk_score"] }));
    expect(codeOf(() => verifyResponse(received, { ...sent, body: otherFeatures }, options))).toBe("bad_signature");
    expect(codeOf(() => verifyResponse(received, { ...sent, body: undefined }, options))).toBe("missing_request_body");
  });

  it("an independent RFC 9421 library verifies the v2 batch read given the request's Content-Digest", async () => {
    const { request, signed } = batchExample();
    const received = receivedFromSigned(signed);
    // The library reads the clock itself: put it at the example's time (no time bomb in 2027).
    jest.spyOn(Date, "now").mockReturnValue(NOW_S * 1000);
    const check = (body: Buffer) =>
      verifyMessage(
        {
          keyLookup: async () => ({ id: DOCUMENTED_JWK.x, algs: ["ed25519"], verify: async (data: Buffer, sig: Buffer) => verify(null, data, DOCUMENTED_KEY, sig) }),
          requiredFields: ["@status", "content-digest", "@method", "@path", "@query"],
        },
        { status: received.status, headers: received.headers as Record<string, string> },
        { method: "POST", url: `http://lane.internal:8080${request.path}`, headers: { "content-digest": contentDigest(body) } },
      );
    await expect(check(request.body!)).resolves.toBe(true);
    await expect(check(Buffer.from(JSON.stringify({ entities: ["user_000042"], features: ["country"] })))).resolves.toBe(false);
    jest.restoreAllMocks();
  });
});

import { Signer } from "../../enclave/signer";
import { generateSealKey, SealKeyring } from "../../enclave/seal";
import { defineRegistry } from "../../wire/registry";
import { verifyResponse, VerificationError, ReceivedResponse, SentRequest } from "../../verifier/response";

const NOW = 1_800_000_000_000;
const registry = defineRegistry([
  { name: "users", entityKey: "user_id", owner: "tests", description: "verifier tests", ttlSeconds: 3600, features: [{ name: "a", type: "int" }, { name: "b", type: "int" }] },
]);
const seals = new SealKeyring([generateSealKey("test")]);
const signer = new Signer({ now: () => NOW, registry, seals });
const other = new Signer({ now: () => NOW, registry, seals });
const obj = seals.seal({ view: "users", entity: "u1", event_time: NOW, written_time: NOW, features: { a: 1 } });

function signedResponse(): { response: ReceivedResponse; request: SentRequest } {
  const s = signer.signRead({ method: "GET", path: "/v1/features/users/u1", query: "?features=a", acceptSignature: 'sig1=();nonce="abc"', objects: [obj] });
  return {
    response: {
      status: s.status,
      headers: { "content-type": s.contentType, "content-digest": s.contentDigest, "signature-input": s.signatureInput, signature: s.signature },
      body: Buffer.from(s.body),
    },
    request: { method: "GET", path: "/v1/features/users/u1", query: "?features=a" },
  };
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof VerificationError) return err.code;
    throw err;
  }
  return "verified";
}

describe("verifier/response", () => {
  const key = signer.key.info.jwk;
  const opts = { key, nonce: "abc", now: NOW / 1000 };

  it("verifies an untouched response", () => {
    const { response, request } = signedResponse();
    expect(code(() => verifyResponse(response, request, opts))).toBe("verified");
  });

  it.each([
    ["status", (r: ReceivedResponse, q: SentRequest) => [{ ...r, status: 404 }, q], "bad_signature"],
    ["content-type", (r: ReceivedResponse, q: SentRequest) => [{ ...r, headers: { ...r.headers, "content-type": "text/plain" } }, q], "bad_signature"],
    ["one body byte", (r: ReceivedResponse, q: SentRequest) => {
      const body = Buffer.from(r.body);
      body[body.length - 3] ^= 1;
      return [{ ...r, body }, q];
    }, "digest_mismatch"],
    ["digest and body together", (r: ReceivedResponse, q: SentRequest) => {
      const body = Buffer.from(Buffer.from(r.body).toString().replace('"a":1', '"a":2'));
      const { contentDigest } = require("../../wire/envelope");
      return [{ ...r, body, headers: { ...r.headers, "content-digest": contentDigest(body) } }, q];
    }, "bad_signature"],
    ["method", (r: ReceivedResponse, q: SentRequest) => [r, { ...q, method: "POST" }], "bad_signature"],
    ["path", (r: ReceivedResponse, q: SentRequest) => [r, { ...q, path: "/v1/features/users/u2" }], "bad_signature"],
    ["query", (r: ReceivedResponse, q: SentRequest) => [r, { ...q, query: "?features=b" }], "bad_signature"],
    ["signature-input params", (r: ReceivedResponse, q: SentRequest) => [{ ...r, headers: { ...r.headers, "signature-input": String(r.headers["signature-input"]).replace(/expires=\d+/, "expires=1900000000") } }, q], "bad_signature"],
  ] as const)("fails when the %s is changed", (_name, mutate, expected) => {
    const { response, request } = signedResponse();
    const [r, q] = mutate(response, request) as [ReceivedResponse, SentRequest];
    expect(code(() => verifyResponse(r, q, opts))).toBe(expected);
  });

  it("fails for another key, a missing nonce, expiry and future created", () => {
    const { response, request } = signedResponse();
    expect(code(() => verifyResponse(response, request, { ...opts, key: other.key.info.jwk }))).toBe("wrong_keyid");
    expect(code(() => verifyResponse(response, request, { ...opts, nonce: "xyz" }))).toBe("nonce_mismatch");
    expect(code(() => verifyResponse(response, request, { ...opts, now: NOW / 1000 + 3600 }))).toBe("expired");
    expect(code(() => verifyResponse(response, request, { ...opts, now: NOW / 1000 - 3600 }))).toBe("not_yet_valid");
    expect(code(() => verifyResponse({ ...response, headers: { ...response.headers, signature: undefined } }, request, opts))).toBe("missing_header");
  });
});

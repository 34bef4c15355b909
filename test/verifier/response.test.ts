import { createPublicKey, verify as cryptoVerify } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { verifyMessage } from "http-message-signatures/lib/httpbis";
import { SigningKey } from "../../enclave/key";
import { contentDigest } from "../../wire/envelope";
import { requestHasBody, verifyResponse, VerificationError, ReceivedResponse, SentRequest } from "../../verifier/response";
import { batchRequest, signAnswer } from "./answers";

// Answers are built from wire/envelope.ts (./answers.ts), not by the signer: these tests pin the
// envelope a verifier accepts; test/enclave and test/e2e check the signer produces exactly that.
const NOW = 1_800_000_000_000;
const signer = { key: SigningKey.generate() };
const other = { key: SigningKey.generate() };

function signedResponse(): { response: ReceivedResponse; request: SentRequest } {
  const request: SentRequest = { method: "GET", path: "/v1/features/users/u1", query: "?features=a" };
  const body = { view: "users", entity: "u1", found: true, fresh_as_of: new Date(NOW - 2000).toISOString(), checkpoint_seq: 1, features: { a: 1 }, status: { a: "PRESENT" } };
  return { response: signAnswer({ key: signer.key, request, body, created: NOW / 1000, nonce: "abc" }), request };
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
    [
      "one body byte",
      (r: ReceivedResponse, q: SentRequest) => {
        const body = Buffer.from(r.body);
        body[body.length - 3] ^= 1;
        return [{ ...r, body }, q];
      },
      "digest_mismatch",
    ],
    [
      "digest and body together",
      (r: ReceivedResponse, q: SentRequest) => {
        const body = Buffer.from(Buffer.from(r.body).toString().replace('"a":1', '"a":2'));
        return [{ ...r, body, headers: { ...r.headers, "content-digest": contentDigest(body) } }, q];
      },
      "bad_signature",
    ],
    ["method", (r: ReceivedResponse, q: SentRequest) => [r, { ...q, method: "DELETE" }], "bad_signature"],
    ["method to POST (whose answers must cover a body)", (r: ReceivedResponse, q: SentRequest) => [r, { ...q, method: "POST", body: Buffer.from("{}") }], "wrong_components"],
    ["path", (r: ReceivedResponse, q: SentRequest) => [r, { ...q, path: "/v1/features/users/u2" }], "bad_signature"],
    ["query", (r: ReceivedResponse, q: SentRequest) => [r, { ...q, query: "?features=b" }], "bad_signature"],
    [
      "signature-input params",
      (r: ReceivedResponse, q: SentRequest) => [
        { ...r, headers: { ...r.headers, "signature-input": String(r.headers["signature-input"]).replace(/expires=\d+/, "expires=1900000000") } },
        q,
      ],
      "bad_signature",
    ],
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

describe("verifier/response: envelope v2 binds POST answers to the request body", () => {
  const key = SigningKey.generate();
  const created = NOW / 1000;
  const opts = { key: key.info.jwk, nonce: "n-1", now: created };
  const asked = batchRequest("users", ["u1", "u2"], ["a"]);
  const answerBody = {
    view: "users",
    results: [
      { entity: "u1", found: true, fresh_as_of: new Date(NOW - 2000).toISOString() },
      { entity: "u2", found: true, fresh_as_of: new Date(NOW - 2000).toISOString() },
    ],
  };
  const answer = (overrides: Partial<Parameters<typeof signAnswer>[0]> = {}) => signAnswer({ key, request: asked, body: answerBody, created, nonce: "n-1", ...overrides });

  it("verifies the answer signed for the body we sent", () => {
    const r = answer();
    expect(r.headers["signature-input"]).toContain('"@query";req "content-digest";req);');
    expect(code(() => verifyResponse(r, asked, opts))).toBe("verified");
  });

  it.each([
    ["other entities", batchRequest("users", ["u1", "u3"], ["a"])],
    ["another order", batchRequest("users", ["u2", "u1"], ["a"])],
    ["other features", batchRequest("users", ["u1", "u2"], ["b"])],
    ["all features instead of a projection", batchRequest("users", ["u1", "u2"])],
    ["the same JSON re-serialized (bytes count)", { ...asked, body: Buffer.from(JSON.stringify({ entities: ["u1", "u2"], features: ["a"] }, null, 1)) }],
  ])("refuses an answer the signer made for %s (bad_signature)", (_name, other) => {
    const swapped = answer({ signedRequestBody: other.body });
    expect(code(() => verifyResponse(swapped, asked, opts))).toBe("bad_signature");
    // …and that same answer does verify against the request it was made for: the binding, not the answer, failed.
    expect(code(() => verifyResponse(swapped, other, opts))).toBe("verified");
  });

  it("refuses an envelope v1 answer to a POST (wrong_components), even when its signature is good", () => {
    const v1 = answer({ envelope: "v1" });
    expect(v1.headers["signature-input"]).not.toContain('"content-digest";req');
    let message = "";
    try {
      verifyResponse(v1, asked, opts);
    } catch (err) {
      expect((err as VerificationError).code).toBe("wrong_components");
      message = (err as Error).message;
    }
    expect(message).toMatch(/envelope v1/);
  });

  it('refuses a GET answer that carries "content-digest";req (wrong_components)', () => {
    const get: SentRequest = { method: "GET", path: "/v1/features/users/u1", query: "" };
    const withBodyDigest = signAnswer({ key, request: get, body: { entity: "u1" }, created, signedRequestBody: Buffer.from("{}") });
    expect(code(() => verifyResponse(withBodyDigest, get, { key: key.info.jwk, now: created }))).toBe("wrong_components");
    expect(code(() => verifyResponse(signAnswer({ key, request: get, body: { entity: "u1" }, created }), get, { key: key.info.jwk, now: created }))).toBe("verified");
  });

  it("refuses to verify a POST answer without the request body (missing_request_body), never guesses it", () => {
    const { body: _omitted, ...noBody } = asked;
    expect(code(() => verifyResponse(answer(), noBody, opts))).toBe("missing_request_body");
    expect(requestHasBody({ method: "post", path: "/", query: "" })).toBe(true);
    expect(requestHasBody({ method: "GET", path: "/", query: "" })).toBe(false);
    expect(requestHasBody({ method: "GET", path: "/", query: "", body: Buffer.alloc(0) })).toBe(false);
    expect(requestHasBody({ method: "GET", path: "/", query: "", body: Buffer.from("x") })).toBe(true);
  });

  it("the answer's status, path and query are still covered", () => {
    const r = answer();
    expect(code(() => verifyResponse({ ...r, status: 201 }, asked, opts))).toBe("bad_signature");
    expect(code(() => verifyResponse(r, { ...asked, path: "/v1/features/other/batch" }, opts))).toBe("bad_signature");
    expect(code(() => verifyResponse(r, { ...asked, query: "?x=1" }, opts))).toBe("bad_signature");
  });

  it("without a pinned key nothing verifies, and the library has no way to fetch one", () => {
    expect(code(() => verifyResponse(answer(), asked, { ...opts, key: undefined as never }))).toBe("wrong_keyid");
    // P5: the only keys are the ones the caller passes; no module of the verifier talks to the network.
    const dir = join(__dirname, "../../verifier");
    const sources = readdirSync(dir, { recursive: true, encoding: "utf8" })
      .filter((f) => f.endsWith(".ts"))
      .map((f) => readFileSync(join(dir, f), "utf8"));
    expect(sources.length).toBeGreaterThanOrEqual(2);
    for (const text of sources) expect(text).not.toMatch(/\bfetch\(|from "node:(http|https|net|dns)"|from "undici"|require\("node:(http|https|net)"\)/);
  });

  it("accepts a key set: an answer by any pinned key verifies, by none fails", () => {
    const other = SigningKey.generate();
    expect(code(() => verifyResponse(answer(), asked, { ...opts, key: [other.info.jwk, key.info.jwk] }))).toBe("verified");
    expect(code(() => verifyResponse(answer(), asked, { ...opts, key: [other.info.jwk] }))).toBe("wrong_keyid");
    expect(code(() => verifyResponse(answer(), asked, { ...opts, key: [] }))).toBe("wrong_keyid");
  });

  it("an independent RFC 9421 library agrees: the answer verifies for our body's digest and not for another's", async () => {
    const r = answer();
    // The library reads the clock itself: put it at the answer's time (no time bomb in 2027).
    jest.spyOn(Date, "now").mockReturnValue(NOW);
    const publicKey = createPublicKey({ key: { ...key.info.jwk }, format: "jwk" });
    const library = (requestBody: Uint8Array) =>
      verifyMessage(
        {
          keyLookup: async () => ({ id: key.keyid, algs: ["ed25519"], verify: async (data: Buffer, sig: Buffer) => cryptoVerify(null, data, publicKey, sig) }),
          // The library matches required fields by name only, so "content-digest";req is asserted on
          // the Signature-Input below; the library does build it from the request's Content-Digest.
          requiredFields: ["@status", "content-digest", "@method", "@path"],
        },
        { status: r.status, headers: r.headers as Record<string, string> },
        { method: "POST", url: `https://lane.example${asked.path}`, headers: { "content-type": "application/json", "content-digest": contentDigest(requestBody) } },
      ).catch((err: Error) => `threw ${err.name}`);
    expect(r.headers["signature-input"]).toContain('"content-digest";req');
    await expect(library(asked.body!)).resolves.toBe(true);
    await expect(library(batchRequest("users", ["u2", "u1"], ["a"]).body!)).resolves.toBe(false);
    jest.restoreAllMocks();
  });
});

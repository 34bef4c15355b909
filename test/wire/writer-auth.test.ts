import { contentDigest } from "../../wire/envelope";
import {
  parseWriterSignature,
  signPush,
  WRITER_SIGNATURE_FUTURE_SKEW_S,
  WRITER_SIGNATURE_MAX_AGE_S,
  WriterAuthError,
  writerMac,
  type PushRequestFacts,
  type WriterSignatureHeaders,
} from "../../wire/writer-auth";

const NOW = 1_800_000_000;
const key = { kid: "alice-1", key: Buffer.alloc(32, 9) };
const NONCE = "nonce-0123456789abcdef";
const facts: PushRequestFacts = { method: "POST", path: "/v1/features/user", query: "", contentType: "application/json", body: Buffer.from('{"entity":"u1"}') };
const signed = (f = facts, o: { nowSeconds?: number; label?: string } = {}) => signPush(f, key, { nonce: NONCE, nowSeconds: NOW, ...o });

function codeOf(f: PushRequestFacts, h: WriterSignatureHeaders, now = NOW): string {
  try {
    parseWriterSignature(f, h, now);
    return "accepted";
  } catch (err) {
    expect(err).toBeInstanceOf(WriterAuthError);
    return (err as WriterAuthError).code;
  }
}

/** The MAC check the enclave does with the writer key (enclave/signer.ts). */
const macVerifies = (f: PushRequestFacts, h: WriterSignatureHeaders) => {
  const parsed = parseWriterSignature(f, h, NOW);
  return writerMac(key.key, parsed.base).equals(parsed.mac);
};

describe("signPush → parseWriterSignature", () => {
  it("round-trips: kid, created and nonce come back, and the MAC over the rebuilt base verifies", () => {
    const h = signed();
    const parsed = parseWriterSignature(facts, h, NOW);
    expect(parsed).toMatchObject({ kid: "alice-1", created: NOW, nonce: NONCE });
    expect(writerMac(key.key, parsed.base)).toEqual(parsed.mac);
    expect(h.contentDigest).toBe(contentDigest(facts.body!));
  });

  it("the base covers method, path, query, content type and digest: changing any breaks the MAC", () => {
    const h = signed();
    for (const changed of [
      { ...facts, method: "PUT" },
      { ...facts, path: "/v1/features/other" },
      { ...facts, query: "?x=1" },
      { ...facts, contentType: "text/csv" },
    ]) {
      expect(macVerifies(changed, h)).toBe(false);
    }
    expect(macVerifies(facts, h)).toBe(true);
  });

  it("an empty query signs as `?` and a missing body as the empty body's digest", () => {
    const bare = { method: "POST", path: "/_push", query: "" };
    const h = signPush(bare, key, { nonce: NONCE, nowSeconds: NOW });
    expect(parseWriterSignature(bare, h, NOW).base).toContain('"@query": ?\n');
    expect(h.contentDigest).toBe(contentDigest(new Uint8Array(0)));
  });

  it("finds the writer's member by its tag, whatever the label and next to other signatures", () => {
    const h = signed(facts, { label: "mine" });
    const withOther = {
      ...h,
      signatureInput: `other=("@method");created=${NOW};keyid="x", ${h.signatureInput}`,
      signature: `other=:${Buffer.alloc(32).toString("base64")}:, ${h.signature}`,
    };
    expect(macVerifies(facts, withOther)).toBe(true);
  });

  it("signPush refuses a malformed nonce", () => {
    expect(() => signPush(facts, key, { nonce: "short" })).toThrow(/nonce must match/);
  });
});

describe("refusals, each with its code", () => {
  const h = signed();
  const input = h.signatureInput;

  it.each<[string, WriterSignatureHeaders, string]>([
    ["no headers", {}, "writer_signature_missing"],
    ["no Signature", { signatureInput: input, contentDigest: h.contentDigest }, "writer_signature_missing"],
    ["no member tagged express-lane-write", { ...h, signatureInput: input.replace('tag="express-lane-write"', 'tag="other"') }, "writer_signature_missing"],
    ["an over-long header", { ...h, signatureInput: `${input}${" ".repeat(5000)}` }, "writer_signature_malformed"],
    ["not a structured dictionary", { ...h, signatureInput: "((((" }, "writer_signature_malformed"],
    ["two writer members", { ...h, signatureInput: `${input}, ${input.replace(/^wsig/, "wsig2")}` }, "writer_signature_malformed"],
    ["fewer components", { ...h, signatureInput: input.replace(' "content-digest"', "") }, "writer_signature_malformed"],
    ["components out of order", { ...h, signatureInput: input.replace('"@method" "@path"', '"@path" "@method"') }, "writer_signature_malformed"],
    ["a component with parameters", { ...h, signatureInput: input.replace('"@query"', '"@query";req') }, "writer_signature_malformed"],
    ["another alg", { ...h, signatureInput: input.replace('alg="hmac-sha256"', 'alg="ed25519"') }, "writer_signature_malformed"],
    ["an unexpected parameter", { ...h, signatureInput: `${input};extra=1` }, "writer_signature_malformed"],
    ["a bad keyid", { ...h, signatureInput: input.replace('keyid="alice-1"', 'keyid="a b"') }, "writer_signature_malformed"],
    ["a short nonce", { ...h, signatureInput: input.replace(NONCE, "abc") }, "writer_signature_malformed"],
    ["created as a string", { ...h, signatureInput: input.replace(`created=${NOW}`, `created="${NOW}"`) }, "writer_signature_malformed"],
    ["a Signature under another label", { ...h, signature: h.signature.replace(/^wsig/, "other") }, "writer_signature_malformed"],
    ["a Signature that is a token", { ...h, signature: "wsig=abc" }, "writer_signature_malformed"],
    ["a 16-byte MAC", { ...h, signature: `wsig=:${Buffer.alloc(16).toString("base64")}:` }, "writer_signature_malformed"],
    ["no Content-Digest", { ...h, contentDigest: undefined }, "content_digest_mismatch"],
    ["a Content-Digest of other bytes", { ...h, contentDigest: contentDigest(Buffer.from("other")) }, "content_digest_mismatch"],
  ])("%s", (_what, headers, code) => {
    expect(codeOf(facts, headers)).toBe(code);
  });

  it("freshness: older than the max age or further ahead than the skew is stale; the edges are accepted", () => {
    expect(codeOf(facts, signed(facts, { nowSeconds: NOW - WRITER_SIGNATURE_MAX_AGE_S }))).toBe("accepted");
    expect(codeOf(facts, signed(facts, { nowSeconds: NOW - WRITER_SIGNATURE_MAX_AGE_S - 1 }))).toBe("writer_signature_stale");
    expect(codeOf(facts, signed(facts, { nowSeconds: NOW + WRITER_SIGNATURE_FUTURE_SKEW_S }))).toBe("accepted");
    expect(codeOf(facts, signed(facts, { nowSeconds: NOW + WRITER_SIGNATURE_FUTURE_SKEW_S + 1 }))).toBe("writer_signature_stale");
  });

  it("an expires parameter in the past is stale", () => {
    expect(codeOf(facts, { ...h, signatureInput: `${input};expires=${NOW - 1}` })).toBe("writer_signature_stale");
    expect(codeOf(facts, { ...h, signatureInput: `${input};expires=${NOW + 10}` })).toBe("accepted");
  });

  it("the body digest is computed from the body the enclave holds, not taken from the header", () => {
    // The host swaps the body and recomputes Content-Digest: the digest check passes, the MAC does not.
    const swapped = { ...facts, body: Buffer.from('{"entity":"mallory"}') };
    const headers = { ...h, contentDigest: contentDigest(swapped.body) };
    expect(macVerifies(swapped, headers)).toBe(false);
  });
});

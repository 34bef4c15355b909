import { createSignatureBase, formatSignatureBase } from "http-message-signatures/lib/httpbis";
import { parseDictionary, isInnerList } from "structured-headers";
import { contentDigest, COVERED_COMPONENTS, serializeSignatureParams, signatureBase } from "../../wire/envelope";

describe("wire/envelope", () => {
  it("computes RFC 9530 sha-256 Content-Digest", () => {
    // RFC 9530 appendix B.1 example body {"hello": "world"}
    expect(contentDigest(Buffer.from('{"hello": "world"}\n'))).toBe("sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:");
  });

  it("builds the same signature base as an independent RFC 9421 implementation", () => {
    const params = serializeSignatureParams({ created: 1700000000, expires: 1700000060, keyid: "kid-1", nonce: 'n"o\\nce' });
    const facts = {
      status: 404,
      contentType: "application/json",
      contentDigest: "sha-256=:abc=:",
      method: "GET",
      path: "/v1/features/user_profile/user%20%C3%A9",
      query: "?features=a,b",
    };
    const ours = signatureBase(facts, params);
    const req = { method: "GET", url: `http://lane.local${facts.path}${facts.query}`, headers: {} };
    const res = { status: 404, headers: { "content-type": facts.contentType, "content-digest": facts.contentDigest } };
    const fields = COVERED_COMPONENTS.map((c) => (c.req ? `"${c.name}";req` : `"${c.name}"`));
    const theirs = formatSignatureBase(createSignatureBase({ fields }, res, req));
    expect(ours.slice(0, ours.lastIndexOf("\n"))).toBe(theirs);
    // The params line round-trips through a structured-field parser, nonce escaped correctly.
    const parsed = parseDictionary(`sig1=${params}`).get("sig1");
    expect(parsed && isInnerList(parsed) && parsed[1].get("nonce")).toBe('n"o\\nce');
  });

  it("uses '?' for an absent query (RFC 9421 §2.2.7)", () => {
    const base = signatureBase({ status: 200, contentType: "a/b", contentDigest: "d", method: "GET", path: "/x", query: "" }, "()");
    expect(base).toContain('"@query";req: ?\n');
  });
});

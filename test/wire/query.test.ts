/**
 * wire/query.ts, the one query grammar: declared parameters are decoded (form-encoding, UTF-8);
 * invalid percent-encoding, undeclared and repeated parameters are each 400 bad_query.
 */
import { parseQuery } from "../../wire/query";

const bad = (query: string, allowed: readonly string[]) => {
  try {
    parseQuery(query, allowed);
  } catch (err) {
    return [(err as { code: string }).code, (err as { status: number }).status];
  }
  return "accepted";
};

describe("wire/query", () => {
  it("decodes declared parameters: percent-encoding as UTF-8, + as a space, a bare name as empty", () => {
    expect([...parseQuery("", ["a"])]).toEqual([]);
    expect([...parseQuery("?", ["a"])]).toEqual([]);
    expect([...parseQuery("?nonce=n%20%C3%BC%2B+x", ["nonce"])]).toEqual([["nonce", "n ü+ x"]]);
    expect([...parseQuery("?features", ["features"])]).toEqual([["features", ""]]);
    expect([...parseQuery("?a=1&&b=2&", ["a", "b"])]).toEqual([
      ["a", "1"],
      ["b", "2"],
    ]);
    expect(parseQuery("?a=x=y", ["a"]).get("a")).toBe("x=y");
  });

  it.each([
    ["invalid percent-encoding in a value", "?nonce=%%%zz", ["nonce"]],
    ["a truncated escape", "?nonce=%E0%A4%A", ["nonce"]],
    ["invalid percent-encoding in a name", "?%zz=1", ["nonce"]],
    ["an undeclared parameter", "?limit=3", ["features"]],
    ["any parameter where none are declared", "?x", []],
    ["an empty name", "?=1", ["a"]],
    ["a repeated parameter", "?nonce=a&nonce=b", ["nonce"]],
    ["a parameter repeated under another encoding", "?nonce=a&n%6Fnce=b", ["nonce"]],
  ])("refuses %s with 400 bad_query", (_name, query, allowed) => {
    expect(bad(query, allowed)).toEqual(["bad_query", 400]);
  });
});

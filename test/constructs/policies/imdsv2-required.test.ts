import { Imdsv2Required } from "../../../constructs/policies";
import { errorsOf, lt } from "./helpers";

describe("EL-IMDSV2", () => {
  test("compliant: http_tokens required", () => expect(errorsOf(new Imdsv2Required(), (s) => lt(s))).toEqual([]));
  test("non-compliant: http_tokens optional or missing", () => {
    expect(errorsOf(new Imdsv2Required(), (s) => lt(s, { metadataOptions: { httpTokens: "optional" } }))).toEqual([expect.stringMatching(/EL-IMDSV2.*required/)]);
    expect(errorsOf(new Imdsv2Required(), (s) => lt(s, { metadataOptions: undefined }))).toHaveLength(1);
  });
});

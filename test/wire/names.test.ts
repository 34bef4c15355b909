import fc from "fast-check";
import { checkEntity, checkFeature, checkView, MAX_ENTITY_BYTES, NameError } from "../../wire/names";

const code = (f: () => unknown): string | null => {
  try {
    f();
    return null;
  } catch (err) {
    if (err instanceof NameError) return err.code;
    throw err;
  }
};

describe("wire/names", () => {
  test("views: lower-case identifiers up to 63 characters", () => {
    expect(checkView("user_profile")).toBe("user_profile");
    for (const bad of ["", "User", "1x", "a-b", "a/b", "..", "a".repeat(64)]) expect(code(() => checkView(bad))).toBe("bad_view");
    expect(code(() => checkView("a".repeat(63)))).toBeNull();
  });

  test("features: identifiers up to 128 characters", () => {
    expect(checkFeature("spend_30d_cat_1")).toBe("spend_30d_cat_1");
    for (const bad of ["", "1a", "a b", "a,b", "é", "a".repeat(129)]) expect(code(() => checkFeature(bad))).toBe("bad_feature");
  });

  test("entities: any well-formed string of 1..256 UTF-8 bytes without control characters", () => {
    expect(checkEntity("../x")).toBe("../x"); // object keys base64url-encode ids (wire/object.ts): no path tricks
    expect(code(() => checkEntity("é".repeat(MAX_ENTITY_BYTES / 2)))).toBeNull();
    expect(code(() => checkEntity("é".repeat(MAX_ENTITY_BYTES / 2 + 1)))).toBe("bad_entity"); // bytes, not characters
    for (const bad of ["", "a\nb", "a\u0085b", "\ud800", 42, null]) expect(code(() => checkEntity(bad))).toBe("bad_entity");
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", minLength: 1, maxLength: 40 }), (s) => {
        // eslint-disable-next-line no-control-regex -- the property restates the rule
        const ok = Buffer.byteLength(s) <= MAX_ENTITY_BYTES && !/[\u0000-\u001f\u007f-\u009f]/.test(s);
        expect(code(() => checkEntity(s))).toBe(ok ? null : "bad_entity");
      }),
    );
  });
});

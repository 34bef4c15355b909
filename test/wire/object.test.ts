import fc from "fast-check";
import { decodeObject, encodeObject, objectKey, ObjectFormatError } from "../../wire/object";
import { Packr } from "msgpackr";

const sample = {
  v: 1,
  view: "user_profile",
  entity: "u1",
  event_time: 1700000000000,
  written_time: 1700000001000,
  features: { a: 1, b: 2.5, c: "x", d: true, e: null, f: [0.5, -1.25], g: new Date(1700000000123) },
};

describe("wire/object", () => {
  it("round-trips every value type", () => {
    const decoded = decodeObject(encodeObject(sample));
    expect(decoded).toEqual(sample);
    expect(decoded.features.g).toBeInstanceOf(Date);
  });

  it("maps entity ids one-to-one into the view's key space", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", minLength: 1, maxLength: 60 }), fc.string({ unit: "grapheme", minLength: 1, maxLength: 60 }), (a, b) => {
        fc.pre(!/[\u0000-\u001f\u007f-\u009f]/.test(a + b) && a.isWellFormed() && b.isWellFormed());
        const ka = objectKey("view_a", a);
        expect(ka.startsWith("view_a/")).toBe(true);
        expect(ka.slice("view_a/".length)).toMatch(/^[A-Za-z0-9_-]+$/);
        if (a !== b) expect(objectKey("view_a", b)).not.toBe(ka);
      }),
    );
    expect(objectKey("v", "../../etc/passwd", "p/")).toBe(`p/v/${Buffer.from("../../etc/passwd").toString("base64url")}`);
  });

  it("refuses bad view names and entity ids in keys", () => {
    expect(() => objectKey("../x", "a")).toThrow(/view name/);
    expect(() => objectKey("v", "")).toThrow(/non-empty/);
    expect(() => objectKey("v", "a\nb")).toThrow(/control/);
    expect(() => objectKey("v", "x".repeat(257))).toThrow(/256 bytes/);
  });

  it.each([
    ["not msgpack", Buffer.from([0xc1])],
    ["truncated", encodeObject(sample).subarray(0, 40)],
    ["not a map", new Packr().pack([1, 2])],
    ["wrong version", new Packr({ useRecords: false }).pack({ ...sample, v: 9 })],
    ["bad times", new Packr({ useRecords: false }).pack({ ...sample, event_time: "yesterday" })],
    ["bad feature name", new Packr({ useRecords: false }).pack({ ...sample, features: { "a b": 1 } })],
    ["bad value type", new Packr({ useRecords: false }).pack({ ...sample, features: { a: { nested: 1 } } })],
    ["oversize", Buffer.alloc(1024 * 1024 + 1)],
  ])("rejects %s with ObjectFormatError", (_name, bytes) => {
    expect(() => decodeObject(bytes)).toThrow(ObjectFormatError);
  });
});

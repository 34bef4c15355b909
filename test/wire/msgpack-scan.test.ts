import fc from "fast-check";
import { Packr, Unpackr } from "msgpackr";
import { binAt, KeySelector, mapHeader, MsgpackScanError, readItem, selectKey, skipItem, strAt } from "../../wire/msgpack-scan";

// The encoder and decoder options of wire/object.ts: plain maps, no records.
const packr = new Packr({ useRecords: false, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/** Values of every MessagePack family the layout can hold, nested: what a hostile writer could store. */
const leaf = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 }),
  fc.maxSafeInteger(),
  fc.double({ noNaN: true }),
  fc.string({ maxLength: 80 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
  fc.date({ noInvalidDate: true }),
  fc.array(fc.double({ noNaN: true }), { maxLength: 40 }),
);
const value = fc.letrec((tie) => ({
  node: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    leaf,
    fc.array(tie("node"), { maxLength: 6 }),
    fc.dictionary(fc.string({ maxLength: 12 }), tie("node"), { maxKeys: 6 }),
  ),
})).node;

describe("wire/msgpack-scan", () => {
  it("finds the end of every item exactly where msgpackr stops, and reads it as msgpackr does", () => {
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 4 }), (items) => {
        const parts = items.map((item) => packr.pack(item));
        const src = Buffer.concat(parts);
        let pos = 0;
        for (const part of parts) {
          const end = skipItem(src, pos);
          expect(end - pos).toBe(part.length);
          expect(readItem(src, pos, end)).toEqual(unpackr.unpack(part));
          pos = end;
        }
        expect(pos).toBe(src.length);
      }),
      { numRuns: 500 },
    );
  });

  it("refuses every truncation of an item (never reads past the end, never throws another error)", () => {
    fc.assert(
      fc.property(value, fc.nat(), (item, at) => {
        const bytes = packr.pack(item);
        fc.pre(bytes.length > 1);
        const cut = bytes.subarray(0, at % bytes.length);
        expect(() => skipItem(cut, 0)).toThrow(MsgpackScanError);
      }),
      { numRuns: 500 },
    );
  });

  it("reads map headers, strings and binaries at any size class", () => {
    for (const n of [0, 3, 15, 16, 300, 70_000]) {
      const map = Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));
      const bytes = packr.pack(map);
      const header = mapHeader(bytes, 0);
      expect(header?.[0]).toBe(n);
      expect(skipItem(bytes, 0)).toBe(bytes.length);
    }
    for (const n of [0, 31, 32, 255, 256, 70_000]) {
      const s = packr.pack("a".repeat(n));
      const at = strAt(s, 0);
      if (n < 65_536) expect(at && s.toString("utf8", at[0], at[0] + at[1])).toBe("a".repeat(n));
      else expect(at).toBeNull(); // str32 keys go through msgpackr (selectKey)
      const b = packr.pack(Buffer.alloc(n, 7));
      expect(binAt(b, 0)?.[1]).toBe(n);
      expect(binAt(b.subarray(0, b.length - 1), 0)).toBeNull(); // bin bytes must lie inside src
    }
    expect(mapHeader(packr.pack([1, 2]), 0)).toBeNull();
  });

  it("selects keys by their bytes, whatever their encoding, and refuses keys msgpackr would refuse", () => {
    const selector = new KeySelector(["spend_30d_cat_1", "spend_30d_cat_2", "é", "7"]);
    for (const key of ["spend_30d_cat_1", "spend_30d_cat_2", "é", "spend_30d_cat_3", "x"]) {
      const bytes = packr.pack(key);
      expect(selectKey(bytes, 0, bytes.length, selector)).toBe(["spend_30d_cat_3", "x"].includes(key) ? null : key);
    }
    const numberKey = packr.pack(7);
    expect(selectKey(numberKey, 0, numberKey.length, selector)).toBe("7"); // msgpackr names a number key by its text
    const binaryKey = packr.pack(Buffer.from("7"));
    expect(() => selectKey(binaryKey, 0, binaryKey.length, selector)).toThrow(MsgpackScanError);
  });

  it("keeps no state between scans: interleaved walks of two buffers agree with separate walks", () => {
    const a = packr.pack({ e: [1.5, 2.5, "x", 3.5], f: [0.25, 0.5] });
    const b = packr.pack([[1.5, 2.5], [9, 8, 7], "tail"]);
    const endA = skipItem(a, 0);
    const endB = skipItem(b, 0);
    // Skip the inner items one by one, alternating between buffers.
    const innerB = [skipItem(b, 1)];
    const innerA = skipItem(a, 1);
    innerB.push(skipItem(b, innerB[0]));
    expect([endA, endB]).toEqual([a.length, b.length]);
    expect(innerA).toBe(3); // the "e" key: fixstr of 1
    expect(readItem(b, innerB[0], innerB[1])).toEqual([9, 8, 7]);
  });
});

/**
 * The session-7 fast paths of the projected decode (wire/msgpack-scan.ts readItem's in-place
 * strings and timestamps, KeySelector's char-code names, wire/object.ts's in-place keys, inline
 * scalar skips and single walk of the features map) against the simple paths they replace:
 * msgpackr itself (unpackr.unpack, decodeObjectBody). Inputs are built byte by byte so that they
 * hold what no encoder writes: duplicate keys, non-string keys, every str and map form, damage.
 */
import fc from "fast-check";
import { Packr, Unpackr } from "msgpackr";
import { KeySelector, readItem, skipItem, timestampAt } from "../../wire/msgpack-scan";
import { decodeObjectBody, decodeObjectBodyProjected, decodeStoredObject, encodeObjectBody, encodeSealedObject, ObjectFormatError, type FeatureObject } from "../../wire/object";

const packr = new Packr({ useRecords: false, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/** msgpackr's decode of one item, or the fact that it throws. */
function simple(bytes: Buffer): { value: unknown } | "throws" {
  try {
    return { value: unpackr.unpack(bytes) };
  } catch {
    return "throws";
  }
}

function fast(bytes: Buffer): { value: unknown } | "throws" {
  try {
    return { value: readItem(bytes, 0, skipItem(bytes, 0)) };
  } catch {
    return "throws";
  }
}

/** A str in a chosen form (fixstr only when it fits); what msgpackr would write is only one of them. */
function strBytes(s: string, form: number): Buffer {
  const utf8 = Buffer.from(s, "utf8");
  const n = utf8.length;
  if (form === 0 && n < 32) return Buffer.concat([Buffer.from([0xa0 | n]), utf8]);
  if (form <= 1 && n < 256) return Buffer.concat([Buffer.from([0xd9, n]), utf8]);
  if (form <= 2 && n < 65536) return Buffer.concat([Buffer.from([0xda, n >> 8, n & 0xff]), utf8]);
  return Buffer.concat([Buffer.from([0xdb, 0, 0, n >> 8, n & 0xff]), utf8]);
}

function mapHeaderBytes(n: number, form: number): Buffer {
  if (form === 0 && n < 16) return Buffer.from([0x80 | n]);
  if (form <= 1 && n < 65536) return Buffer.from([0xde, n >> 8, n & 0xff]);
  return Buffer.from([0xdf, 0, 0, n >> 8, n & 0xff]);
}

const anyString = fc.oneof(
  fc.string({ maxLength: 70 }),
  fc.string({ unit: "binary", maxLength: 40 }), // lone surrogates, any code point
  // eslint-disable-next-line no-control-regex -- every ASCII character, controls included
  fc.stringMatching(/^[\x00-\x7f]{0,40}$/),
);

describe("wire/msgpack-scan fast paths", () => {
  it("reads strings in every form, ASCII or not, as msgpackr does", () => {
    fc.assert(
      fc.property(anyString, fc.nat(3), (s, form) => {
        const bytes = strBytes(s, form);
        expect(fast(bytes)).toEqual(simple(bytes));
      }),
      { numRuns: 2000 },
    );
  });

  it("reads the timestamp extension in all three sizes exactly as msgpackr, whatever the bytes (invalid dates included)", () => {
    const forms = [
      [0xd6, 0xff],
      [0xd7, 0xff],
      [0xc7, 12, 0xff],
    ];
    const payload = [4, 8, 12];
    fc.assert(
      fc.property(fc.nat(2), fc.uint8Array({ minLength: 12, maxLength: 12 }), (f, random) => {
        const bytes = Buffer.concat([Buffer.from(forms[f]), Buffer.from(random.subarray(0, payload[f]))]);
        const expected = unpackr.unpack(bytes) as Date;
        const got = readItem(bytes, 0, bytes.length) as Date;
        expect(got).toBeInstanceOf(Date);
        expect(Object.is(got.getTime(), expected.getTime())).toBe(true);
        expect(timestampAt(bytes, 0, bytes.length)).not.toBeNull();
      }),
      { numRuns: 5000 },
    );
    // Dates msgpackr writes (timestamp32, 64 and 96), far past and future included.
    fc.assert(
      fc.property(fc.date({ noInvalidDate: true }), (d) => {
        const bytes = packr.pack(d);
        expect((readItem(bytes, 0, bytes.length) as Date).getTime()).toBe((unpackr.unpack(bytes) as Date).getTime());
      }),
      { numRuns: 2000 },
    );
  });

  it("leaves every other extension, and timestamps of other sizes, to msgpackr (same value or same refusal)", () => {
    fc.assert(
      fc.property(fc.constantFrom(0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xc7), fc.nat(255), fc.nat(20), fc.uint8Array({ maxLength: 20 }), (t, type, len, data) => {
        const size = { 0xd4: 1, 0xd5: 2, 0xd6: 4, 0xd7: 8, 0xd8: 16 }[t as 0xd4] ?? len;
        const body = Buffer.alloc(size);
        Buffer.from(data).copy(body);
        const bytes = Buffer.concat([Buffer.from(t === 0xc7 ? [t, size, type] : [t, type]), body]);
        const expected = simple(bytes);
        const got = fast(bytes);
        if (expected === "throws" || got === "throws") expect(got).toBe(expected);
        else if (expected.value instanceof Date) expect(Object.is((got.value as Date).getTime(), expected.value.getTime())).toBe(true);
        else expect(got).toEqual(expected);
      }),
      { numRuns: 3000 },
    );
    expect(timestampAt(Buffer.from([0xc7, 8, 0xff, 0, 0, 0, 0, 0, 0, 0, 0]), 0, 11)).toBeNull(); // ext8 of 8: msgpackr's
  });

  it("reads arrays of float64 (fixarray, array16) in place as msgpackr does, and leaves any other array to it (9-byte strings and int64s included)", () => {
    const float64 = (x: number) => {
      const b = Buffer.alloc(9);
      b[0] = 0xcb;
      b.writeDoubleBE(x, 1);
      return b;
    };
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            { weight: 9, arbitrary: fc.double().map(float64) },
            {
              weight: 1,
              arbitrary: fc
                .oneof(fc.integer(), fc.string({ maxLength: 3 }), fc.constant(null), fc.stringMatching(/^[a-z]{8}$/), fc.bigInt({ min: 2n ** 32n, max: 2n ** 63n - 1n }))
                .map((v) => packr.pack(v)),
            },
          ),
          { maxLength: 40 },
        ),
        fc.boolean(),
        (elements, wide) => {
          const n = elements.length;
          const header = wide || n > 15 ? Buffer.from([0xdc, n >> 8, n & 0xff]) : Buffer.from([0x90 | n]);
          const bytes = Buffer.concat([header, ...elements]);
          const got = fast(bytes);
          expect(got).toEqual(simple(bytes));
          if (got !== "throws") expect((got.value as number[]).map((x) => Object.is(x, -0))).toEqual((unpackr.unpack(bytes) as number[]).map((x) => Object.is(x, -0)));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("matches names with and without non-ASCII characters by their UTF-8 bytes", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.oneof(anyString, fc.constantFrom("é", "ß", "名前", "x\u0080", "a\u07ff", "😀", "\ud800")), { maxLength: 12 }), anyString, (names, probe) => {
        const selector = new KeySelector(names);
        for (const name of [...names, probe]) {
          const bytes = Buffer.from(name, "utf8");
          // A lone surrogate has no UTF-8 of its own (U+FFFD): names equal after encoding are one key.
          const expected = names.find((n) => Buffer.from(n, "utf8").equals(bytes)) ?? null;
          expect(selector.matchBytes(bytes, 0, bytes.length)).toBe(expected);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

/** A features map entry: a key (string in a chosen form, or another type) and any packed value. */
const featureKey = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom("a", "b", "risk", "emb", "é", "名前", "constructor", "toString", "x".repeat(40)), fc.nat(3)).map(([s, f]) => strBytes(s, f)) },
  { weight: 2, arbitrary: fc.tuple(anyString, fc.nat(3)).map(([s, f]) => strBytes(s, f)) },
  { weight: 1, arbitrary: fc.oneof(fc.integer({ min: -100, max: 300 }), fc.boolean(), fc.constant(null)).map((k) => packr.pack(k)) },
);
const featureValue = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 }),
  fc.double(),
  anyString,
  fc.date({ noInvalidDate: true }),
  fc.array(fc.double(), { maxLength: 40 }),
  fc.array(fc.oneof(fc.integer(), fc.string({ maxLength: 4 })), { maxLength: 5 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.oneof(fc.integer(), fc.array(fc.string(), { maxLength: 3 }))),
  fc.uint8Array({ maxLength: 40 }),
);
const entries = fc.array(
  fc.tuple(
    featureKey,
    featureValue.map((v) => packr.pack(v)),
  ),
  { maxLength: 40 },
);
const WANTED = ["a", "b", "risk", "emb", "é", "名前", "constructor", "toString", "x".repeat(40), "5", "true", "null", "missing"];

function body(features: Buffer, featuresFirst = false): Buffer {
  const head = packr.pack({ v: 2, view: "v", entity: "e", event_time: 1, written_time: 2 });
  const name = packr.pack("features");
  return featuresFirst ? Buffer.concat([Buffer.from([0x86]), name, features, head.subarray(1)]) : Buffer.concat([Buffer.from([0x86]), head.subarray(1), name, features]);
}

function expectSameProjection(full: FeatureObject, projected: FeatureObject, wanted: readonly string[]): void {
  expect({ ...projected, features: undefined }).toEqual({ ...full, features: undefined });
  for (const name of wanted) {
    const has = Object.prototype.hasOwnProperty.call(full.features, name);
    expect(Object.prototype.hasOwnProperty.call(projected.features, name)).toBe(has);
    if (has) expect(projected.features[name]).toEqual(full.features[name]);
  }
  for (const name of Object.keys(projected.features)) expect(wanted).toContain(name);
}

describe("wire/object projected decode fast paths", () => {
  it("agrees with the full decode on maps with duplicate keys, non-string keys, every str and map form, nested values", () => {
    fc.assert(
      fc.property(entries, fc.nat(2), fc.boolean(), fc.subarray(WANTED), (list, form, first, wanted) => {
        const features = Buffer.concat([mapHeaderBytes(list.length, form), ...list.flat()]);
        const bytes = body(features, first);
        let full: FeatureObject | "throws";
        try {
          full = decodeObjectBody(bytes, { checkFeatures: false });
        } catch (err) {
          expect(err).toBeInstanceOf(ObjectFormatError);
          full = "throws";
        }
        if (full === "throws") {
          // msgpackr refuses some keys the projection never reads (only wanted values are decoded)
          try {
            decodeObjectBodyProjected(bytes, new KeySelector(wanted));
          } catch (err) {
            expect(err).toBeInstanceOf(ObjectFormatError);
          }
          return;
        }
        expectSameProjection(full, decodeObjectBodyProjected(bytes, new KeySelector(wanted)), wanted);
      }),
      { numRuns: 1500 },
    );
  });

  it("agrees on empty and huge feature maps (map16, map32; 3,000 entries)", () => {
    for (const n of [0, 15, 16, 300, 3000]) {
      for (const form of [0, 1, 2]) {
        const list: Buffer[] = [];
        for (let i = 0; i < n; i++) list.push(strBytes(i % 7 === 0 ? "a" : `f${i}`, i % 3), packr.pack(i % 5 === 0 ? [i, 0.5] : i));
        const bytes = body(Buffer.concat([mapHeaderBytes(n, form), ...list]));
        expectSameProjection(decodeObjectBody(bytes, { checkFeatures: false }), decodeObjectBodyProjected(bytes, new KeySelector(["a", "f1", "f2999", "f3000"])), [
          "a",
          "f1",
          "f2999",
          "f3000",
        ]);
      }
    }
  });

  it("refuses every truncation with ObjectFormatError, as the full decode does", () => {
    fc.assert(
      fc.property(entries, fc.nat(2), fc.nat(), (list, form, at) => {
        const bytes = body(Buffer.concat([mapHeaderBytes(list.length, form), ...list.flat()]));
        const cut = bytes.subarray(0, at % bytes.length);
        expect(() => decodeObjectBodyProjected(cut, new KeySelector(WANTED))).toThrow(ObjectFormatError);
        expect(() => decodeObjectBody(cut, { checkFeatures: false })).toThrow(ObjectFormatError);
      }),
      { numRuns: 1500 },
    );
  });

  it("keeps a wanted __proto__ an own property (a plain object would take it as the prototype)", () => {
    const bytes = body(Buffer.concat([mapHeaderBytes(2, 0), strBytes("__proto__", 0), packr.pack({ polluted: 1 }), strBytes("a", 0), packr.pack(7)]));
    const projected = decodeObjectBodyProjected(bytes, new KeySelector(["__proto__", "a"]));
    expect(Object.prototype.hasOwnProperty.call(projected.features, "__proto__")).toBe(true);
    expect(projected.features.a).toBe(7);
    expect((projected.features as Record<string, unknown> & { polluted?: number }).polluted).toBeUndefined();
    expect(({} as { polluted?: number }).polluted).toBeUndefined();
  });
});

describe("wire/object sealed envelope kid cache", () => {
  it("reads each envelope's own kid whatever kids came before (same length, prefixes, invalid and non-ASCII kids)", () => {
    const kids = ["k1", "k2", "k1x", "k", "writer-a.2026", "writer-b.2026", "bad kid", "é", "k1\u0000", ""];
    const valid = /^[A-Za-z0-9_.-]{1,64}$/;
    const body = encodeObjectBody({ view: "v", entity: "e", event_time: 1, written_time: 2, features: { a: 1 } });
    const mac = Buffer.alloc(32, 7);
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...kids), { minLength: 1, maxLength: 12 }), (sequence) => {
        for (const kid of sequence) {
          // encodeSealedObject is what writers use; a kid it would refuse is packed by hand.
          const bytes = valid.test(kid) ? encodeSealedObject(body, kid, mac) : packr.pack({ v: 2, body, seal: { kid, mac } });
          if (valid.test(kid)) expect(decodeStoredObject(bytes)).toEqual({ v: 2, body, seal: { kid, mac } });
          else expect(() => decodeStoredObject(bytes)).toThrow(ObjectFormatError);
        }
      }),
      { numRuns: 500 },
    );
  });
});

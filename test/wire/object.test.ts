import fc from "fast-check";
import {
  decodeObject,
  decodeObjectBody,
  decodeObjectBodyProjected,
  decodeStoredObject,
  encodeObject,
  encodeObjectBody,
  encodeSealedObject,
  KeySelector,
  objectKey,
  ObjectFormatError,
  type FeatureObject,
} from "../../wire/object";
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
        // eslint-disable-next-line no-control-regex -- entity ids may not hold control characters
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

describe("wire/object projected body decoding", () => {
  const featureName = fc.oneof(fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,12}$/), fc.stringMatching(/^[a-z_]{30,60}$/));
  // What writers store, plus what a buggy writer could seal (nested maps, binary, big integers):
  // projected decoding must give exactly what the full decode gives for every wanted feature.
  const featureValue = fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.maxSafeInteger(),
    fc.double(),
    fc.string({ maxLength: 300 }),
    fc.string({ unit: "grapheme", maxLength: 20 }),
    fc.array(fc.double(), { maxLength: 40 }),
    fc.date({ noInvalidDate: true }), // an Invalid Date is never equal to itself under toEqual
    fc.date({ noInvalidDate: true }).map((d) => new Date(Math.floor(d.getTime() / 1000) * 1000)), // timestamp32 / 64 forms
    fc.constant(undefined), // msgpackr writes fixext1
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
    fc.uint8Array({ maxLength: 300 }),
    fc.dictionary(fc.string({ maxLength: 5 }), fc.oneof(fc.integer(), fc.array(fc.string(), { maxLength: 20 }))),
  );
  const body = fc.record({
    features: fc.dictionary(featureName, featureValue, { maxKeys: 80 }),
    event_time: fc.maxSafeInteger(),
    entity: fc.string({ minLength: 1, maxLength: 40 }),
  });

  function expectSameProjection(full: FeatureObject, projected: FeatureObject, wanted: readonly string[]): void {
    expect({ ...projected, features: undefined }).toEqual({ ...full, features: undefined });
    for (const name of wanted) {
      expect(Object.prototype.hasOwnProperty.call(projected.features, name)).toBe(Object.prototype.hasOwnProperty.call(full.features, name));
      if (Object.prototype.hasOwnProperty.call(full.features, name)) expect(projected.features[name]).toEqual(full.features[name]);
    }
    for (const name of Object.keys(projected.features)) expect(wanted).toContain(name);
  }

  it("decodes exactly what the full decode holds for every wanted feature, and nothing else", () => {
    fc.assert(
      fc.property(body, fc.array(featureName, { maxLength: 8 }), fc.integer({ min: 0, max: 100 }), (o, extra, share) => {
        const names = Object.keys(o.features);
        const wanted = [...names.filter((_, i) => (i * 37) % 100 < share), ...extra];
        const bytes = encodeObjectBody({ view: "user_profile", entity: o.entity, event_time: o.event_time, written_time: 1, features: o.features as never });
        const full = decodeObjectBody(bytes, { checkFeatures: false });
        expectSameProjection(full, decodeObjectBodyProjected(bytes, new KeySelector(wanted)), wanted);
      }),
      { numRuns: 400 },
    );
  });

  it("never throws anything but ObjectFormatError on damaged bytes, and agrees with the full decode whenever both succeed", () => {
    const wanted = ["a", "risk", "embedding_0", "missing"];
    const features = { a: 1, risk: 0.25, embedding_0: [0.5, -1.5, 2], name: "x".repeat(40), t: new Date(5), n: null };
    const valid = encodeObjectBody({ view: "v", entity: "e", event_time: 1, written_time: 2, features });
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(valid.length - 1), fc.nat(255)), { minLength: 1, maxLength: 4 }), fc.nat(valid.length), (flips, cut) => {
        const bytes = Buffer.from(valid.subarray(0, Math.max(cut, 1)));
        for (const [at, value] of flips) if (at < bytes.length) bytes[at] = value;
        let full: FeatureObject | undefined;
        let projected: FeatureObject | undefined;
        try {
          projected = decodeObjectBodyProjected(bytes, new KeySelector(wanted));
        } catch (err) {
          expect(err).toBeInstanceOf(ObjectFormatError);
        }
        try {
          full = decodeObjectBody(bytes, { checkFeatures: false });
        } catch {
          // the full decode may refuse damage in a value the projection skips
        }
        if (full && projected) expectSameProjection(full, projected, wanted);
      }),
      { numRuns: 2000 },
    );
  });

  it("names non-string keys as msgpackr does (a feature called true is found under a boolean key)", () => {
    const packr = new Packr({ useRecords: false, variableMapSize: true });
    const features = new Map<unknown, unknown>([
      [true, 7],
      [5, "five"],
      ["b", 2],
    ]);
    const bytes = packr.pack(
      new Map<string, unknown>([
        ["v", 2],
        ["view", "v"],
        ["entity", "e"],
        ["event_time", 1],
        ["written_time", 2],
        ["features", features],
      ]),
    );
    const full = decodeObjectBody(bytes, { checkFeatures: false });
    expect(full.features).toEqual({ true: 7, 5: "five", b: 2 });
    expectSameProjection(full, decodeObjectBodyProjected(bytes, new KeySelector(["true", "b", "c"])), ["true", "b", "c"]);
    const binaryKey = packr.pack(
      new Map<string, unknown>([
        ["v", 2],
        ["features", new Map([[Buffer.from("a"), 1]])],
      ]),
    );
    expect(() => decodeObjectBodyProjected(binaryKey, new KeySelector(["a"]))).toThrow(ObjectFormatError);
  });

  it("skips every MessagePack form a skipped value can take and finds the wanted value after it", () => {
    const hex = (h: string) => Buffer.from(h.replace(/ /g, ""), "hex");
    const forms: Array<[string, Buffer]> = [
      ["float32", hex("ca 3f800000")],
      ["uint64", hex("cf 0000000000000001")],
      ["int64", hex("d3 ffffffffffffffff")],
      ["int8", hex("d0 80")],
      ["int16", hex("d1 8000")],
      ["int32", hex("d2 80000000")],
      ["uint8", hex("cc ff")],
      ["uint16", hex("cd ffff")],
      ["uint32", hex("ce ffffffff")],
      ["fixext1", hex("d4 01 aa")],
      ["fixext2", hex("d5 01 aabb")],
      ["fixext4", hex("d6 ff 00000001")],
      ["fixext8", hex("d7 ff 0000000000000001")],
      ["fixext16", hex("d8 01" + "00".repeat(16))],
      ["ext8", hex("c7 03 01 aabbcc")],
      ["ext16", hex("c8 0003 01 aabbcc")],
      ["ext32", hex("c9 00000003 01 aabbcc")],
      ["bin8", hex("c4 02 0102")],
      ["bin16", hex("c5 0002 0102")],
      ["bin32", hex("c6 00000002 0102")],
      ["str8", hex("d9 02 6869")],
      ["str16", hex("da 0002 6869")],
      ["str32", hex("db 00000002 6869")],
      ["array16", hex("dc 0002 01 02")],
      ["array32", hex("dd 00000002 01 02")],
      ["map16", hex("de 0001 a161 01")],
      ["map32", hex("df 00000001 a161 01")],
      ["nested", hex("92 81 a178 93 c0 c2 c3 a0")],
    ];
    const packr = new Packr({ useRecords: false, variableMapSize: true });
    for (const [form, encoded] of forms) {
      // features: { skipped: <form>, wanted: 42 }, written by hand around the packed top level.
      const features = Buffer.concat([hex("82"), packr.pack("skipped"), encoded, packr.pack("wanted"), hex("2a")]);
      const head = packr.pack({ v: 2, view: "v", entity: "e", event_time: 1, written_time: 2 });
      const bytes = Buffer.concat([hex("86"), head.subarray(1), packr.pack("features"), features]);
      expect({ form, value: decodeObjectBodyProjected(bytes, new KeySelector(["wanted"])).features.wanted }).toEqual({ form, value: 42 });
    }
  });

  it.each([
    ["empty", Buffer.alloc(0)],
    ["not a map", new Packr().pack([1, 2])],
    ["data after the map", Buffer.concat([encodeObjectBody({ ...sample }), Buffer.from([0x01])])],
    ["truncated", encodeObjectBody({ ...sample }).subarray(0, 60)],
    ["wrong version", new Packr({ useRecords: false }).pack({ ...sample, v: 1 })],
    ["features not a map", new Packr({ useRecords: false }).pack({ ...sample, v: 2, features: [1] })],
    [
      "a huge declared array",
      Buffer.concat([new Packr({ useRecords: false }).pack({ ...sample, v: 2, features: {} }).subarray(0, 10), Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff])]),
    ],
  ])("refuses %s with ObjectFormatError, as the full decode does", (_name, bytes) => {
    expect(() => decodeObjectBodyProjected(bytes, new KeySelector(["a"]))).toThrow(ObjectFormatError);
    expect(() => decodeObjectBody(bytes)).toThrow(ObjectFormatError);
  });
});

describe("wire/object sealed envelope reading", () => {
  // The same map with a map16 header instead of fixmap: identical MessagePack meaning, but not the
  // exact shape the in-place reader accepts, so it always goes through msgpackr.
  const viaMsgpackr = (bytes: Buffer): Buffer => (bytes[0] === 0x83 ? Buffer.concat([Buffer.from([0xde, 0x00, 0x03]), bytes.subarray(1)]) : bytes);
  const outcome = (bytes: Buffer): unknown => {
    try {
      const stored = decodeStoredObject(bytes);
      return stored.v === 2 ? { body: Buffer.from(stored.body).toString("hex"), seal: stored.seal && { kid: stored.seal.kid, mac: stored.seal.mac.toString("hex") } } : stored;
    } catch (err) {
      expect(err).toBeInstanceOf(ObjectFormatError);
      return "ObjectFormatError";
    }
  };

  it("reads writers' envelopes in place exactly as msgpackr reads them, damaged ones included", () => {
    const kid = fc.oneof(fc.stringMatching(/^[A-Za-z0-9_.-]{1,64}$/), fc.string({ maxLength: 70 }));
    fc.assert(
      fc.property(
        kid,
        fc.uint8Array({ maxLength: 600 }),
        fc.uint8Array({ minLength: 30, maxLength: 34 }),
        fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 3 }),
        (k, body, mac, flips) => {
          const bytes = Buffer.from(new Packr({ useRecords: false, variableMapSize: true }).pack({ v: 2, body: Buffer.from(body), seal: { kid: k, mac: Buffer.from(mac) } }));
          for (const [at, value] of flips) bytes[at % bytes.length] = value;
          expect(outcome(bytes)).toEqual(outcome(viaMsgpackr(bytes)));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("takes the in-place path for what encodeSealedObject writes", () => {
    const bytes = encodeSealedObject(encodeObjectBody({ ...sample }), "k1", Buffer.alloc(32, 7));
    expect(bytes[0]).toBe(0x83);
    const stored = decodeStoredObject(bytes);
    // In place: the body is a view into the stored bytes, not a copy.
    expect(stored.v === 2 && stored.body.buffer === bytes.buffer).toBe(true);
    expect(outcome(bytes)).toEqual(outcome(viaMsgpackr(bytes)));
  });
});

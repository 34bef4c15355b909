import { createHash } from "node:crypto";
import fc from "fast-check";
import { unpack } from "msgpackr";
import type { WireProof } from "../../wire/checkpoint";
import { decodeSignRead, encodeFrame, FrameDecoder, FrameKind, signReadFrameBound, writeSignReadFrame, type SignReadRequest } from "../../wire/frames";

/** The field writer's frame for `request` at `offset` of a buffer filled with `fill` (to catch reads of stale bytes). */
function written(id: number, request: SignReadRequest, offset = 0, fill = 0xee): { frame: Buffer; bound: number; used: number } {
  const bound = signReadFrameBound(request);
  const target = Buffer.alloc(offset + bound + 16, fill);
  const end = writeSignReadFrame(target, offset, id, request);
  return { frame: target.subarray(offset, end), bound, used: end - offset };
}

function onlyFrame(bytes: Buffer) {
  const frames = new FrameDecoder().push(bytes);
  expect(frames).toHaveLength(1);
  return frames[0]!;
}

/** Bytes as their digest: jest's element-wise Buffer comparison is far too slow for 70 KB objects. */
function comparable(value: unknown): unknown {
  if (value instanceof Uint8Array) return `bytes ${value.length} ${createHash("sha256").update(value).digest("hex")}`;
  if (Array.isArray(value)) return value.map(comparable);
  if (value !== null && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, comparable(v)]));
  return value;
}

const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));
const exactly = (n: number) => fc.uint8Array({ minLength: n, maxLength: n }).map((a) => Buffer.from(a));
// Lengths around every header width the writer picks (fixstr < 32, str8 < 256, str16 < 65536 at 3 bytes per unit).
const text = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 40 }),
  fc.string({ minLength: 80, maxLength: 90 }),
  fc.string({ unit: "binary", minLength: 20, maxLength: 300 }),
);
// Proofs as a proof list can carry them (wire/checkpoint.ts): siblings in 32-byte units, a leaf whole or not at all, seq < 2^48.
const proof = fc.option(
  fc
    .record({
      seq: fc.oneof(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 0xffffffff }), fc.constant(2 ** 48 - 1)),
      siblings: fc.integer({ min: 0, max: 20 }).chain((n) => fc.uint8Array({ minLength: 32 * n, maxLength: 32 * n }).map((a) => Buffer.from(a))),
      leaf: fc.option(fc.tuple(exactly(32), exactly(40)), { nil: undefined }),
    })
    .map(({ seq, siblings, leaf }) => (leaf ? { seq, siblings, leaf_key: leaf[0], leaf_value: leaf[1] } : { seq, siblings })),
  { nil: null },
);
const request: fc.Arbitrary<SignReadRequest> = fc
  .record(
    {
      method: fc.constantFrom("GET", "POST"),
      path: text,
      query: text,
      accept: fc.option(text, { nil: undefined }),
      acceptSignature: fc.option(text, { nil: undefined }),
      contentType: fc.option(text, { nil: undefined }),
      body: fc.option(
        fc.oneof(
          bytes(300),
          fc.integer({ min: 65_530, max: 65_540 }).map((n) => Buffer.alloc(n, 7)),
        ),
        { nil: undefined },
      ),
      objects: fc.array(fc.option(fc.oneof(bytes(300), fc.constant(Buffer.alloc(70_000, 3))), { nil: null }), { maxLength: 12 }),
      trace: fc.option(fc.boolean(), { nil: undefined }),
    },
    { requiredKeys: ["method", "path", "query", "objects"] },
  )
  .chain((r) =>
    fc.option(fc.array(proof, { minLength: r.objects.length, maxLength: r.objects.length }), { nil: undefined }).map((proofs) => (proofs === undefined ? r : { ...r, proofs })),
  );

describe("wire/frames writeSignReadFrame (the runtime's SignRead without msgpackr's object walk)", () => {
  it("decodes to the same request as msgpackr's encoding, within its bound, at any offset", () => {
    fc.assert(
      fc.property(request, fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 50 }), (r, id, offset) => {
        const { frame, bound, used } = written(id, r, offset);
        expect(used).toBeLessThanOrEqual(bound);
        const ours = onlyFrame(frame);
        const theirs = onlyFrame(encodeFrame(id, FrameKind.SignRead, r));
        expect(ours.id).toBe(id >>> 0);
        expect(ours.kind).toBe(FrameKind.SignRead);
        expect(comparable(decodeSignRead(ours.payload))).toEqual(comparable(decodeSignRead(theirs.payload)));
      }),
      { numRuns: 200 },
    );
  });

  it("strings at every header-width boundary, in 1-, 2-, 3- and 4-byte characters, decode exactly (as MessagePack; the frame decoder's own length limits aside)", () => {
    const units = ["a", "é", "€", "😀"];
    const lengths = [0, 1, 10, 11, 12, 31, 32, 84, 85, 86, 255, 256, 21_844, 21_845, 21_846, 65_535, 65_536];
    for (const unit of units) {
      for (const n of lengths) {
        const text = unit.repeat(Math.ceil(n / unit.length)).slice(0, n - (n % unit.length));
        const r: SignReadRequest = { method: "GET", path: text, query: text, accept: text, objects: [] };
        const decoded = unpack(onlyFrame(written(3, r).frame).payload) as Record<string, unknown>;
        expect([unit, n, decoded.path === text, decoded.query === text, decoded.accept === text]).toEqual([unit, n, true, true, true]);
      }
    }
  });

  it("a read as the runtime sends it: same fields, proofs and trace flag", () => {
    const r: SignReadRequest = {
      method: "GET",
      path: "/v1/features/user_profile/user_000007",
      query: "?features=country,segment",
      accept: "application/json",
      acceptSignature: undefined,
      contentType: undefined,
      body: undefined,
      objects: [Buffer.from("sealed object")],
      proofs: [{ seq: 42, siblings: Buffer.alloc(64, 1), leaf_key: Buffer.alloc(32, 2), leaf_value: Buffer.alloc(40, 3) }],
      trace: true,
    };
    const decoded = decodeSignRead(onlyFrame(written(9, r).frame).payload);
    expect(decoded).toEqual({ ...r, objects: [Buffer.from("sealed object")], acceptSignature: undefined, contentType: undefined, body: undefined });
    expect(decodeSignRead(onlyFrame(written(9, { ...r, proofs: undefined, trace: undefined }).frame).payload)).not.toHaveProperty("proofs");
  });

  it("a proof no proof list can carry (seq −1, 1.5 or ≥ 2^48, a partial leaf) is refused by both encoders alike (the runtime makes none)", () => {
    const r = (p: Partial<WireProof>): SignReadRequest => ({ method: "GET", path: "/p", query: "", objects: [null], proofs: [{ seq: 1, siblings: Buffer.alloc(32), ...p }] });
    for (const bad of [{ seq: -1 }, { seq: 1.5 }, { seq: 2 ** 48 }, { leaf_key: Buffer.alloc(32) }, { siblings: Buffer.alloc(31) }]) {
      expect(() => written(1, r(bad))).toThrow(RangeError);
      expect(() => encodeFrame(1, FrameKind.SignRead, r(bad))).toThrow(RangeError);
    }
  });
});

// wire/checkpoint.ts: the sealed checkpoint format both ends use (docs/trust.md P8), the 40-byte
// entity-map leaf value and proofs on the wire.
import { createHash, createHmac } from "node:crypto";
import { Packr } from "msgpackr";
import {
  CheckpointFormatError,
  checkpointMacValid,
  decodeProofList,
  encodeProofList,
  entityMapValue,
  fromWireProof,
  MAX_SEALED_CHECKPOINT_BYTES,
  parseEntityMapValue,
  parseSealedCheckpoint,
  ProofListError,
  sealCheckpoint,
  toWireProof,
} from "../../wire/checkpoint";
import { EntityMap, entityMapKey, verifyEntityMapProof } from "../../wire/entity-map";
import { sealInput } from "../../wire/object";

const key = Buffer.alloc(32, 7);
const fields = { lane: "unit", view: "users", seq: 3, as_of: 1_800_000_000_000, root: Buffer.alloc(32, 9), entities: 12 };
const packr = new Packr({ useRecords: false, moreTypes: false });

describe("wire/checkpoint", () => {
  it("seals and parses back exactly; the MAC verifies under its key only", () => {
    const bytes = sealCheckpoint(fields, "seq-1", key);
    expect(bytes.length).toBeLessThan(MAX_SEALED_CHECKPOINT_BYTES);
    const parsed = parseSealedCheckpoint(bytes);
    expect(parsed.checkpoint).toEqual({ v: 1, ...fields });
    expect(parsed.kid).toBe("seq-1");
    expect(checkpointMacValid(parsed, key)).toBe(true);
    expect(checkpointMacValid(parsed, Buffer.alloc(32, 8))).toBe(false);
  });

  it("a changed body byte or another kid breaks the MAC", () => {
    const parsed = parseSealedCheckpoint(sealCheckpoint(fields, "seq-1", key));
    const outer = packr.unpack(sealCheckpoint(fields, "seq-1", key)) as { body: Buffer; seal: { kid: string; mac: Buffer } };
    const other = parseSealedCheckpoint(packr.pack({ v: 1, body: outer.body, seal: { kid: "seq-2", mac: outer.seal.mac } }));
    expect(checkpointMacValid(other, key)).toBe(false);
    const later = packr.pack({ v: 1, body: packr.pack({ ...packr.unpack(parsed.body), seq: 4 }), seal: outer.seal });
    expect(checkpointMacValid(parseSealedCheckpoint(later), key)).toBe(false);
  });

  it("its MAC domain differs from an object seal's: the same key over the same body gives another MAC", () => {
    const parsed = parseSealedCheckpoint(sealCheckpoint(fields, "seq-1", key));
    const objectSealMac = createHmac("sha256", key).update(sealInput("seq-1", parsed.body)).digest();
    expect(objectSealMac.equals(parsed.mac)).toBe(false);
  });

  it.each([
    ["not MessagePack", Buffer.from([0xc1])],
    ["too large", Buffer.alloc(MAX_SEALED_CHECKPOINT_BYTES + 1)],
    ["no seal", packr.pack({ v: 1, body: packr.pack({ v: 1 }) })],
    ["short MAC", packr.pack({ v: 1, body: packr.pack({ v: 1 }), seal: { kid: "k", mac: Buffer.alloc(8) } })],
    ["seq 0", packr.pack({ v: 1, body: packr.pack({ ...fields, v: 1, seq: 0 }), seal: { kid: "k", mac: Buffer.alloc(32) } })],
    ["short root", packr.pack({ v: 1, body: packr.pack({ ...fields, v: 1, root: Buffer.alloc(31) }), seal: { kid: "k", mac: Buffer.alloc(32) } })],
    ["bad lane", packr.pack({ v: 1, body: packr.pack({ ...fields, v: 1, lane: "Not A Lane" }), seal: { kid: "k", mac: Buffer.alloc(32) } })],
  ])("refuses %s (CheckpointFormatError, code checkpoint_malformed)", (_name, bytes) => {
    expect(() => parseSealedCheckpoint(bytes)).toThrow(CheckpointFormatError);
  });

  it("entityMapValue = int64 event time ‖ SHA-256(bytes), and parses back", () => {
    const v = entityMapValue(1_800_000_000_123, Buffer.from("object"));
    expect(v).toHaveLength(40);
    expect(parseEntityMapValue(v).eventTimeMs).toBe(1_800_000_000_123);
    expect(parseEntityMapValue(v).digest).toEqual(createHash("sha256").update("object").digest());
    expect(() => entityMapValue(1.5, Buffer.alloc(1))).toThrow(RangeError);
  });

  it("wire proofs round trip (inclusion and absence) and hostile sizes are null", () => {
    const map = new EntityMap();
    for (let i = 0; i < 50; i++) map.set(entityMapKey("users", `u${i}`), entityMapValue(i, Buffer.from(`o${i}`)));
    const root = map.rootHash();
    for (const entity of ["u7", "nobody"]) {
      const key = entityMapKey("users", entity);
      const back = fromWireProof(toWireProof(5, map.prove(key)))!;
      expect(verifyEntityMapProof(root, key, back)).toMatchObject({ ok: true, present: entity === "u7" });
    }
    expect(fromWireProof({ seq: 1, siblings: Buffer.alloc(33) })).toBeNull();
    expect(fromWireProof({ seq: 1, siblings: Buffer.alloc(32), leaf_key: Buffer.alloc(32) })).toBeNull();
    expect(fromWireProof({ seq: 1, siblings: Buffer.alloc(32), leaf_key: Buffer.alloc(31), leaf_value: Buffer.alloc(40) })).toBeNull();
  });
});

describe("the proof list (SignReadRequest.proofs on the wire)", () => {
  const map = new EntityMap();
  for (let i = 0; i < 300; i++) map.set(entityMapKey("users", `u${i}`), entityMapValue(i, Buffer.from(`o${i}`)));
  const root = map.rootHash();
  const proofOf = (entity: string, seq = 5) => toWireProof(seq, map.prove(entityMapKey("users", entity)));

  it("round trips inclusion, absence and no proof, in order, and the proofs still verify", () => {
    const proofs = [proofOf("u7"), null, proofOf("nobody", 2 ** 48 - 1), proofOf("u299", 1), null];
    const back = decodeProofList(encodeProofList(proofs), proofs.length);
    expect(back).toEqual(
      proofs.map((p) =>
        p === null ? null : { seq: p.seq, siblings: Buffer.from(p.siblings), ...(p.leaf_key ? { leaf_key: Buffer.from(p.leaf_key), leaf_value: Buffer.from(p.leaf_value!) } : {}) },
      ),
    );
    expect(verifyEntityMapProof(root, entityMapKey("users", "u7"), fromWireProof(back[0]!)!)).toMatchObject({ ok: true, present: true });
    expect(verifyEntityMapProof(root, entityMapKey("users", "nobody"), fromWireProof(back[2]!)!)).toMatchObject({ ok: true, present: false });
    expect(decodeProofList(encodeProofList([]), 0)).toEqual([]);
    // A proof with no siblings (a map of one leaf) and one at the depth bound.
    const deep = { seq: 3, siblings: Buffer.alloc(256 * 32, 1) };
    expect(decodeProofList(encodeProofList([{ seq: 1, siblings: Buffer.alloc(0) }, deep]), 2)).toEqual([{ seq: 1, siblings: Buffer.alloc(0) }, deep]);
  });

  it("hostile bytes: a wrong count, truncation anywhere, trailing bytes, an unknown tag, too many siblings → ProofListError", () => {
    const good = encodeProofList([proofOf("u7"), proofOf("nobody")]);
    expect(() => decodeProofList(good, 3)).toThrow(ProofListError);
    expect(() => decodeProofList(good, 1)).toThrow(/after the last/);
    for (let cut = 0; cut < good.length; cut++) expect(() => decodeProofList(good.subarray(0, cut), 2)).toThrow(ProofListError);
    expect(() => decodeProofList(Buffer.concat([good, Buffer.from([0])]), 2)).toThrow(ProofListError);
    for (const tag of [3, 0x80, 0xff]) expect(() => decodeProofList(Buffer.from([tag]), 1)).toThrow(/unknown tag/);
    const tooDeep = Buffer.alloc(9 + 257 * 32);
    tooDeep[0] = 1;
    tooDeep.writeUInt16BE(257, 7);
    expect(() => decodeProofList(tooDeep, 1)).toThrow(/257 siblings/);
  });

  it("the encoder refuses a proof no record can carry", () => {
    expect(() => encodeProofList([{ seq: 1, siblings: Buffer.alloc(33) }])).toThrow(RangeError);
    expect(() => encodeProofList([{ seq: 1, siblings: Buffer.alloc(32), leaf_key: Buffer.alloc(32) }])).toThrow(RangeError);
    expect(() => encodeProofList([{ seq: 2 ** 48, siblings: Buffer.alloc(0) }])).toThrow(RangeError);
    expect(() => encodeProofList([{ seq: 1, siblings: Buffer.alloc(257 * 32) }])).toThrow(RangeError);
  });
});

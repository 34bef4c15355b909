// P8 (docs/trust.md): the enclave's acceptance of writer checkpoints and the per-object freshness
// table (enclave/checkpoint-state.ts), one test per rule and per refusal.
import { hash } from "node:crypto";
import { CHECKPOINTS_PER_VIEW, CheckpointState, freshnessOf, HeldCheckpoints, VerifiedLookups, type HeldCheckpoint } from "../../enclave/checkpoint-state";
import { generateSealKey, SealKeyring } from "../../enclave/seal";
import { CHECKPOINT_FUTURE_SKEW_MS, CHECKPOINT_REPORT_WINDOW_MS, entityMapValue, sealCheckpoint } from "../../wire/checkpoint";
import { EntityMap, entityMapKey } from "../../wire/entity-map";
import { defineRegistry } from "../../wire/registry";

const LANE = "unit";
const NOW = 1_800_000_000_000;
const writer = { ...generateSealKey("seq"), writer: "sequencer", use: "write" as const };
const verifyOnly = { ...generateSealKey("old"), writer: "retired", use: "verify" as const };
const keyring = new SealKeyring([writer, verifyOnly], writer.kid, { expiresAt: NOW + 3600_000 });
const registry = defineRegistry([
  { name: "users", entityKey: "user_id", owner: "t", description: "t", ttlSeconds: 3600, features: [{ name: "score", type: "float" }] },
  { name: "items", entityKey: "item_id", owner: "t", description: "t", ttlSeconds: 3600, features: [{ name: "score", type: "float" }] },
]);
const root = (b: number) => Buffer.alloc(32, b);

function state(options: { lane?: string | undefined; keyring?: SealKeyring | null; now?: number; sequencers?: Record<string, readonly string[]> } = {}): CheckpointState {
  return new CheckpointState({
    lane: "lane" in options ? options.lane : LANE,
    keyring: () => (options.keyring === undefined ? keyring : options.keyring),
    registry: () => registry,
    now: () => options.now ?? NOW,
    // Default: every key sequences every view (the rule itself has its own tests below).
    maySequence: (kid, view) => (options.sequencers ? (options.sequencers[kid] ?? []).includes(view) : true),
  });
}
const seal = (fields: Partial<{ lane: string; view: string; seq: number; as_of: number; root: Buffer; entities: number }> = {}, key: { kid: string; key: Buffer } = writer) =>
  sealCheckpoint({ lane: LANE, view: "users", seq: 1, as_of: NOW - 1000, root: root(1), entities: 1, ...fields }, key.kid, key.key);

describe("CheckpointState: acceptance (ProvideCheckpoints)", () => {
  it("accepts a checkpoint a held write key of this lane sealed for a known view, and holds it", () => {
    const s = state();
    const r = s.accept(seal());
    expect(r).toMatchObject({ ok: true, changed: true, checkpoint: { view: "users", seq: 1, as_of: NOW - 1000 } });
    expect(s.held.get("users", 1)?.root).toEqual(root(1));
    expect(s.provide([]).held).toEqual([{ view: "users", seq: 1, as_of: NOW - 1000 }]);
  });

  it("refuses bytes that are not a sealed checkpoint (checkpoint_malformed)", () => {
    expect(state().accept(Buffer.from("nonsense"))).toMatchObject({ ok: false, code: "checkpoint_malformed" });
  });

  it("refuses another lane's checkpoint, and any when the signer has no lane (checkpoint_wrong_lane)", () => {
    expect(state().accept(seal({ lane: "other" }))).toMatchObject({ ok: false, code: "checkpoint_wrong_lane" });
    expect(state({ lane: undefined }).accept(seal())).toMatchObject({ ok: false, code: "checkpoint_wrong_lane" });
  });

  it("refuses a host-made key, a verify-only key, no directory and an expired one (checkpoint_key_unknown)", () => {
    const host = generateSealKey("host");
    expect(state().accept(seal({}, host))).toMatchObject({ ok: false, code: "checkpoint_key_unknown" });
    expect(state().accept(seal({}, verifyOnly))).toMatchObject({ ok: false, code: "checkpoint_key_unknown" });
    expect(state({ keyring: null }).accept(seal())).toMatchObject({ ok: false, code: "checkpoint_key_unknown" });
    expect(state({ now: NOW + 3600_000 }).accept(seal({ as_of: NOW }))).toMatchObject({ ok: false, code: "checkpoint_key_unknown" });
  });

  it("refuses a MAC made with another key under a listed kid (checkpoint_mac_invalid)", () => {
    const forged = seal({}, { kid: writer.kid, key: generateSealKey("x").key });
    expect(state().accept(forged)).toMatchObject({ ok: false, code: "checkpoint_mac_invalid" });
  });

  it("refuses a view the held registry does not define (checkpoint_unknown_view)", () => {
    expect(state().accept(seal({ view: "nope" }))).toMatchObject({ ok: false, code: "checkpoint_unknown_view" });
  });

  it("refuses a write key the directory does not name as the view's sequencer (checkpoint_not_sequencer), accepts the named one", () => {
    const only = state({ sequencers: { [writer.kid]: ["items"] } });
    expect(only.accept(seal({ view: "users" }))).toMatchObject({ ok: false, code: "checkpoint_not_sequencer" });
    expect(only.accept(seal({ view: "items" }))).toMatchObject({ ok: true });
    expect(state({ sequencers: {} }).accept(seal())).toMatchObject({ ok: false, code: "checkpoint_not_sequencer" });
  });

  it("refuses an as_of beyond the allowed skew (checkpoint_future), accepts one within it", () => {
    expect(state().accept(seal({ as_of: NOW + CHECKPOINT_FUTURE_SKEW_MS + 1 }))).toMatchObject({ ok: false, code: "checkpoint_future" });
    expect(state().accept(seal({ as_of: NOW + CHECKPOINT_FUTURE_SKEW_MS }))).toMatchObject({ ok: true });
  });

  it("seq moves forward only: a lower seq is checkpoint_rolled_back, an equal seq with another body checkpoint_conflict, the same bytes a no-op", () => {
    const s = state();
    const two = seal({ seq: 2, as_of: NOW - 500 });
    expect(s.accept(two)).toMatchObject({ ok: true, changed: true });
    expect(s.accept(two)).toMatchObject({ ok: true, changed: false });
    expect(s.version).toBe(1);
    expect(s.accept(seal({ seq: 1, as_of: NOW - 900 }))).toMatchObject({ ok: false, code: "checkpoint_rolled_back" });
    expect(s.accept(seal({ seq: 2, as_of: NOW - 500, root: root(9) }))).toMatchObject({ ok: false, code: "checkpoint_conflict" });
    expect(s.held.get("users", 2)?.root).toEqual(root(1));
    // A genuine older checkpoint, still held, replayed byte for byte: refused too.
    const s2 = state();
    const one = seal({ seq: 1, as_of: NOW - 900 });
    s2.accept(one);
    s2.accept(two);
    expect(s2.accept(one)).toMatchObject({ ok: false, code: "checkpoint_rolled_back" });
  });

  it("refuses a higher seq whose as_of goes back (checkpoint_rolled_back)", () => {
    const s = state();
    s.accept(seal({ seq: 5, as_of: NOW - 100 }));
    expect(s.accept(seal({ seq: 6, as_of: NOW - 200 }))).toMatchObject({ ok: false, code: "checkpoint_rolled_back" });
    expect(s.accept(seal({ seq: 6, as_of: NOW - 100 }))).toMatchObject({ ok: true });
  });

  it(`keeps the newest ${CHECKPOINTS_PER_VIEW} per view, views independent`, () => {
    const s = state();
    for (let seq = 1; seq <= CHECKPOINTS_PER_VIEW + 3; seq++) expect(s.accept(seal({ seq, as_of: NOW - 10_000 + seq }))).toMatchObject({ ok: true });
    expect(s.accept(seal({ view: "items", seq: 1 }))).toMatchObject({ ok: true });
    expect(s.held.get("users", 3)).toBeUndefined();
    expect(s.held.get("users", 4)?.seq).toBe(4);
    expect(s.held.get("users", CHECKPOINTS_PER_VIEW + 3)?.seq).toBe(CHECKPOINTS_PER_VIEW + 3);
    expect(s.held.snapshot()).toHaveLength(CHECKPOINTS_PER_VIEW + 1);
    // A copy for a worker thread answers the same.
    const copy = HeldCheckpoints.fromSnapshot(s.held.snapshot());
    expect(s.held.get("users", 4)).toMatchObject({ ...copy.get("users", 4)! });
    expect(copy.get("items", 1)?.root).toEqual(root(1));
  });

  it("ProvideCheckpoints: each refused one is named by index, the others are accepted", () => {
    const reply = state().provide([seal({ seq: 1 }), Buffer.from("x"), seal({ seq: 2, lane: "other" }), seal({ seq: 3 })]);
    expect(reply.refused.map((r) => [r.index, r.code])).toEqual([
      [1, "checkpoint_malformed"],
      [2, "checkpoint_wrong_lane"],
    ]);
    expect(reply.held).toEqual([{ view: "users", seq: 3, as_of: NOW - 1000 }]);
  });
});

describe("freshnessOf: the per-object table", () => {
  const map = new EntityMap();
  const current = keyring.seal({ view: "users", entity: "u1", event_time: NOW - 60_000, written_time: NOW - 59_000, features: { score: 2 } });
  const older = keyring.seal({ view: "users", entity: "u1", event_time: NOW - 120_000, written_time: NOW - 119_000, features: { score: 1 } });
  const sameTimeOther = keyring.seal({ view: "users", entity: "u1", event_time: NOW - 60_000, written_time: NOW - 58_000, features: { score: 3 } });
  const newer = keyring.seal({ view: "users", entity: "u1", event_time: NOW - 1000, written_time: NOW - 500, features: { score: 4 } });
  map.set(entityMapKey("users", "u1"), entityMapValue(NOW - 60_000, current));
  for (let i = 0; i < 50; i++) map.set(entityMapKey("users", `other${i}`), entityMapValue(NOW - 1, Buffer.from(`o${i}`)));
  const C: HeldCheckpoint = { view: "users", seq: 7, as_of: NOW - 10_000, root: map.rootHash() };
  const k1 = entityMapKey("users", "u1");
  const kNew = entityMapKey("users", "brand_new");
  const served = (bytes: Buffer, eventTimeMs: number, writtenTimeMs: number) => ({ bytes, eventTimeMs, writtenTimeMs });
  const fresh = { kind: "fresh", asOf: C.as_of, seq: 7 };

  it("no proof, no held checkpoint, or a proof that does not verify → unproven (fresh_as_of null)", () => {
    const s = served(current, NOW - 60_000, NOW - 59_000);
    expect(freshnessOf(C, k1, null, s)).toEqual({ kind: "unproven" });
    expect(freshnessOf(undefined, k1, map.prove(k1), s)).toEqual({ kind: "unproven" });
    expect(freshnessOf({ ...C, root: root(5) }, k1, map.prove(k1), s)).toEqual({ kind: "unproven" });
    // A proof for another entity does not verify for this key.
    expect(freshnessOf(C, k1, map.prove(entityMapKey("users", "other3")), s)).toEqual({ kind: "unproven" });
  });

  it("present, leaf = (event_time, digest) of the served object → fresh as of the checkpoint", () => {
    expect(freshnessOf(C, k1, map.prove(k1), served(current, NOW - 60_000, NOW - 59_000))).toEqual(fresh);
  });

  it("present, served object newer than the leaf (written after the checkpoint) → fresh", () => {
    expect(freshnessOf(C, k1, map.prove(k1), served(newer, NOW - 1000, NOW - 500))).toEqual(fresh);
  });

  it("present, served object older than the leaf → rolled_back", () => {
    expect(freshnessOf(C, k1, map.prove(k1), served(older, NOW - 120_000, NOW - 119_000))).toEqual({ kind: "refused", code: "rolled_back" });
  });

  it("present, same event time but another digest → rolled_back", () => {
    expect(freshnessOf(C, k1, map.prove(k1), served(sameTimeOther, NOW - 60_000, NOW - 58_000))).toEqual({ kind: "refused", code: "rolled_back" });
  });

  it("absent, object written within the report window before as_of (or after) → fresh", () => {
    const absence = map.prove(kNew);
    expect(freshnessOf(C, kNew, absence, served(newer, NOW - 1000, C.as_of - CHECKPOINT_REPORT_WINDOW_MS))).toEqual(fresh);
    expect(freshnessOf(C, kNew, absence, served(newer, NOW - 1000, NOW))).toEqual(fresh);
  });

  it("absent, object written before the report window → rolled_back (purged entity put back, or never reported)", () => {
    expect(freshnessOf(C, kNew, map.prove(kNew), served(older, NOW - 120_000, C.as_of - CHECKPOINT_REPORT_WINDOW_MS - 1))).toEqual({ kind: "refused", code: "rolled_back" });
  });

  it("host sent no object + absence proof → not found, fresh", () => {
    expect(freshnessOf(C, kNew, map.prove(kNew), null)).toEqual(fresh);
  });

  it("host sent no object + presence proof → object_withheld", () => {
    expect(freshnessOf(C, k1, map.prove(k1), null)).toEqual({ kind: "refused", code: "object_withheld" });
  });

  it("host sent no object + no valid proof → unproven; an 'absence' proof for an entity that exists never verifies", () => {
    expect(freshnessOf(C, k1, null, null)).toEqual({ kind: "unproven" });
    // The absence proof of another key (empty end or another leaf) presented for u1.
    const forgedAbsence = { siblings: map.prove(k1).siblings };
    expect(freshnessOf(C, k1, forgedAbsence, null)).toEqual({ kind: "unproven" });
    expect(freshnessOf(C, k1, map.prove(kNew), null).kind).not.toBe("fresh");
  });
});

describe("VerifiedLookups: what verified proofs showed, per map root", () => {
  const m = new EntityMap();
  for (let i = 0; i < 50; i++) m.set(entityMapKey("users", `e${i}`), Buffer.alloc(40, i));
  const r = m.rootHash();
  const key = (i: number) => entityMapKey("users", `e${i}`);

  it("verifies once, then answers from memory without asking for the proof again", () => {
    const lookups = new VerifiedLookups();
    let asked = 0;
    const proofOf = (i: number) => () => (asked++, m.prove(key(i)));
    expect(lookups.check(r, key(1), proofOf(1))).toMatchObject({ ok: true, present: true, value: Buffer.alloc(40, 1) });
    expect(lookups.check(r, key(1), proofOf(2))).toMatchObject({ ok: true, present: true, value: Buffer.alloc(40, 1) });
    expect(asked).toBe(1);
    // Absence is remembered too.
    expect(lookups.check(r, entityMapKey("users", "nobody"), () => m.prove(entityMapKey("users", "nobody")))).toEqual({ ok: true, present: false });
    expect(lookups.size).toBe(2);
  });

  it("never remembers a failed check or a missing proof, and keys by root", () => {
    const lookups = new VerifiedLookups();
    expect(lookups.check(r, key(1), () => m.prove(key(2)))).toMatchObject({ ok: false });
    expect(lookups.check(r, key(1), () => null)).toMatchObject({ ok: false });
    expect(lookups.size).toBe(0);
    expect(lookups.check(r, key(1), () => m.prove(key(1)))).toMatchObject({ ok: true, present: true });
    // Another root: nothing known; the proof under the old root does not verify against it.
    expect(lookups.check(Buffer.alloc(32, 7), key(1), () => m.prove(key(1)))).toMatchObject({ ok: false, reason: "root_mismatch" });
  });

  it("checkEntity: by names, the same outcomes as check under the derived key, remembered per (root, view, entity)", () => {
    const lookups = new VerifiedLookups();
    let asked = 0;
    const proofOf = (k: Buffer) => () => (asked++, m.prove(k));
    for (let i = 0; i < 5; i++) expect(lookups.checkEntity(r, "users", `e${i}`, proofOf(key(i)))).toEqual(new VerifiedLookups().check(r, key(i), proofOf(key(i))));
    asked = 0;
    expect(lookups.checkEntity(r, "users", "e3", proofOf(key(3)))).toMatchObject({ ok: true, present: true, value: Buffer.alloc(40, 3) });
    expect(asked).toBe(0); // remembered
    // Another entity's proof does not verify for this one (its key is derived, not taken from the proof), and is not remembered.
    expect(lookups.checkEntity(r, "users", "e7", proofOf(key(8)))).toMatchObject({ ok: false });
    expect(lookups.checkEntity(r, "users", "e7", proofOf(key(7)))).toMatchObject({ ok: true, present: true, value: Buffer.alloc(40, 7) });
    // Names the view: the same entity id in another view is another key (here absent from the map).
    const other = entityMapKey("orders", "e3");
    expect(lookups.checkEntity(r, "orders", "e3", proofOf(other))).toEqual({ ok: true, present: false });
    // Another root (content, not object identity): nothing known, the old proof does not verify.
    expect(lookups.checkEntity(Buffer.alloc(32, 7), "users", "e3", proofOf(key(3)))).toMatchObject({ ok: false, reason: "root_mismatch" });
    expect(lookups.checkEntity(Buffer.from(r), "users", "e3", () => null)).toMatchObject({ ok: true, present: true }); // same root, a copy
  });

  it("is bounded: the oldest entry goes first", () => {
    const lookups = new VerifiedLookups(3);
    for (let i = 0; i < 5; i++) lookups.check(r, key(i), () => m.prove(key(i)));
    expect(lookups.size).toBe(3);
    let asked = 0;
    lookups.check(r, key(0), () => (asked++, m.prove(key(0)))); // evicted: asked again
    lookups.check(r, key(4), () => (asked++, m.prove(key(4)))); // kept
    expect(asked).toBe(1);
  });
});

describe("VerifiedLookups.isLeafObject: the served object against a leaf's digest, hashed once per seal", () => {
  const objectKeyring = new SealKeyring([writer], writer.kid, { expiresAt: NOW + 3600_000 });
  const served = (country: number) => {
    const bytes = objectKeyring.seal({ view: "users", entity: "u1", event_time: NOW - 1000, written_time: NOW - 900 + country, features: { score: country } });
    const opened = objectKeyring.open(bytes, "users", "u1", null, NOW);
    if (!opened.ok) throw new Error(opened.code);
    return { eventTimeMs: NOW - 1000, writtenTimeMs: NOW - 900 + country, bytes, seal: opened.seal };
  };
  const digestOf = (b: Uint8Array) => hash("sha256", b, "buffer") as Buffer;

  it("matches the bytes whose SHA-256 the leaf holds and refuses any other, remembered or not", () => {
    const lookups = new VerifiedLookups();
    const newest = served(1);
    const other = served(2);
    expect(lookups.isLeafObject(digestOf(newest.bytes), newest)).toBe(true);
    expect(lookups.isLeafObject(digestOf(newest.bytes), newest)).toBe(true);
    // Another object (its own valid seal) against the newest's digest: hashed, not the leaf's.
    expect(lookups.isLeafObject(digestOf(newest.bytes), other)).toBe(false);
    // The newest's seal remembered for its digest says nothing about another digest.
    expect(lookups.isLeafObject(digestOf(other.bytes), newest)).toBe(false);
    expect(lookups.isLeafObject(digestOf(other.bytes), other)).toBe(true);
  });

  it("once matched, recognises the object by its seal without hashing: same seal, same body (envelope bytes aside)", () => {
    const lookups = new VerifiedLookups();
    const newest = served(1);
    const leaf = digestOf(newest.bytes);
    // The same sealed body in an envelope encoded otherwise (one trailing byte here stands in for
    // another MessagePack encoding): bytes that no longer hash to the leaf, same seal.
    const reencoded = { ...newest, bytes: Buffer.concat([newest.bytes, Buffer.from([0xc0])]) };
    expect(lookups.isLeafObject(leaf, reencoded)).toBe(false); // not seen yet: hashed
    expect(lookups.isLeafObject(leaf, newest)).toBe(true); // hashed and remembered
    expect(lookups.isLeafObject(leaf, reencoded)).toBe(true); // its seal names the remembered body
    // An object without a seal is always hashed.
    const { seal: _unused, ...unsealed } = reencoded;
    expect(lookups.isLeafObject(leaf, unsealed)).toBe(false);
  });

  it("keeps nothing at capacity 0 (every object hashed) and is bounded, the oldest seal first", () => {
    const none = new VerifiedLookups(0);
    const newest = served(1);
    const leaf = digestOf(newest.bytes);
    const reencoded = { ...newest, bytes: Buffer.concat([newest.bytes, Buffer.from([0xc0])]) };
    expect(none.isLeafObject(leaf, newest)).toBe(true);
    expect(none.isLeafObject(leaf, reencoded)).toBe(false);
    const small = new VerifiedLookups(2);
    const objects = [served(1), served(2), served(3)];
    for (const o of objects) expect(small.isLeafObject(digestOf(o.bytes), o)).toBe(true);
    const again = (o: (typeof objects)[number]) => small.isLeafObject(digestOf(o.bytes), { ...o, bytes: Buffer.concat([o.bytes, Buffer.from([0xc0])]) });
    expect(again(objects[2]!)).toBe(true); // kept
    expect(again(objects[0]!)).toBe(false); // evicted: hashed, and these bytes do not match
  });
});

// P8 provable freshness (docs/trust.md), against the REAL dev signer process: the test plays the
// legitimate writer and the view's sequencer (it holds the lane's dev writer key: it seals objects,
// keeps the view's entity map and seals checkpoints), and the hostile host, which forwards
// checkpoints (ProvideCheckpoints) and builds proofs and read frames as it likes. Each roll-back
// attack is refused or shows as a fresh_as_of the consumer rejects by default; next to it the
// legitimate path gives a fresh bound that verifies.
import { SealKeyring } from "../../enclave/seal";
import { receivedFromSigned, verifyResponse, VerificationError } from "../../verifier/response";
import { encodeProofList, entityMapValue, sealCheckpoint, toWireProof, type WireProof } from "../../wire/checkpoint";
import { EntityMap, entityMapKey } from "../../wire/entity-map";
import { decodeErrorReply, decodeKeyInfo, decodeProvideCheckpointsResponse, decodeSignedResponse, FrameKind, type KeyInfo, type SignedResponse } from "../../wire/frames";
import { DEMO_VIEW } from "../../dev/lane/demo-data";
import { directoryOf, listed, testWriterKey } from "../helpers/key-directory";
import { HostConnection, LANE, startRealSigner, type RealSigner } from "./hostile-host";

const VIEW = DEMO_VIEW;
const QUERY = "?features=country";
let signer: RealSigner;
let key: KeyInfo;
let read: HostConnection;
let provision: HostConnection;

// ---- the legitimate writer and sequencer ----
let writer: SealKeyring;
const map = new EntityMap();
let seq = 0;
const T0 = Date.now();
function write(entity: string, eventTime: number, country: string, writtenTime = eventTime + 10): Buffer {
  return writer.seal({ view: VIEW, entity, event_time: eventTime, written_time: writtenTime, features: { country } });
}
/** The sequencer learns of a write (load / push report) and updates the view's map. */
function report(entity: string, eventTime: number, bytes: Buffer): void {
  map.set(entityMapKey(VIEW, entity), entityMapValue(eventTime, bytes));
}
function checkpoint(fields: Partial<{ lane: string; view: string; seq: number; as_of: number; root: Buffer }> = {}, k: { kid: string; key: Buffer } = signer.writer): Buffer {
  return sealCheckpoint({ lane: LANE, view: VIEW, seq: fields.seq ?? ++seq, as_of: Date.now(), root: map.rootHash(), entities: map.size, ...fields }, k.kid, k.key);
}

// ---- the host ----
async function provide(checkpoints: Buffer[]) {
  return decodeProvideCheckpointsResponse(await provision.ok(FrameKind.ProvideCheckpoints, { checkpoints }));
}
const proofOf = (entity: string, atSeq: number, m: EntityMap = map): WireProof => toWireProof(atSeq, m.prove(entityMapKey(VIEW, entity)));
/** A read the signer must refuse outright: its error reply (code), never a signed answer. */
async function refusedRead(entity: string, object: Uint8Array | null, proof: WireProof | null): Promise<string> {
  const reply = await read.request(FrameKind.SignRead, { method: "GET", path: `/v1/features/${VIEW}/${entity}`, query: QUERY, objects: [object], proofs: [proof] });
  if (reply === "closed" || reply.kind !== FrameKind.Error) throw new Error("expected an error reply");
  return decodeErrorReply(reply.payload).code;
}

async function signedRead(entity: string, object: Uint8Array | null, proof: WireProof | null): Promise<SignedResponse> {
  return decodeSignedResponse(await read.ok(FrameKind.SignRead, { method: "GET", path: `/v1/features/${VIEW}/${entity}`, query: QUERY, objects: [object], proofs: [proof] }));
}
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are walked freely in assertions
const bodyOf = (s: SignedResponse) => JSON.parse(Buffer.from(s.body).toString()) as Record<string, any>;

// ---- the consumer: verifies with the pinned key and the default freshness policy ----
function consumerVerdict(entity: string, s: SignedResponse, maxStaleness?: number): string {
  try {
    verifyResponse(
      receivedFromSigned(s),
      { method: "GET", path: `/v1/features/${VIEW}/${entity}`, query: QUERY },
      { key: key.jwk, ...(maxStaleness === undefined ? {} : { maxStaleness }) },
    );
    return "verified";
  } catch (err) {
    if (err instanceof VerificationError) return err.code;
    throw err;
  }
}

// The world: e_current (one version, reported), e_two and e_three (v1 then v2, both reported: the
// map holds v2; this signer is never shown e_three's v2, so P2's high-water marks cannot help),
// e_purged (written long ago, then purged: not in the map), plus bulk so proofs have depth.
let current: Buffer;
let twoOld: Buffer;
let twoNew: Buffer;
let purged: Buffer;
let threeOld: Buffer;
let sameFirst: Buffer;
let sameSecond: Buffer;

beforeAll(async () => {
  signer = await startRealSigner();
  read = await signer.open("read");
  provision = await signer.open("provision");
  key = decodeKeyInfo(await read.ok(FrameKind.KeyInfo, {}));
  writer = new SealKeyring([{ ...signer.writer, use: "write" }]);
  current = write("e_current", T0 - 30_000, "IN");
  report("e_current", T0 - 30_000, current);
  twoOld = write("e_two", T0 - 600_000, "FR");
  report("e_two", T0 - 600_000, twoOld);
  twoNew = write("e_two", T0 - 20_000, "DE");
  report("e_two", T0 - 20_000, twoNew);
  threeOld = write("e_three", T0 - 900_000, "BR");
  report("e_three", T0 - 900_000, threeOld);
  const threeNew = write("e_three", T0 - 25_000, "AR");
  report("e_three", T0 - 25_000, threeNew);
  purged = write("e_purged", T0 - 7200_000, "US");
  // e_same: two writes with one event time (a correction); the map holds the second.
  sameFirst = write("e_same", T0 - 40_000, "CA", T0 - 39_000);
  sameSecond = write("e_same", T0 - 40_000, "MX", T0 - 38_000);
  report("e_same", T0 - 40_000, sameSecond);
  for (let i = 0; i < 200; i++) {
    const b = write(`bulk_${i}`, T0 - 50_000, "IN");
    report(`bulk_${i}`, T0 - 50_000, b);
  }
}, 60_000);
afterAll(() => {
  for (const c of [read, provision]) c?.close();
  signer?.stop();
});

describe("P8: a checkpoint withheld makes fresh_as_of age, visibly (first: the view starts with an old one)", () => {
  test("the host forwards only an old checkpoint: the answer is signed with that old bound and the consumer rejects it by default", async () => {
    const old = checkpoint({ as_of: Date.now() - 120_000 });
    expect((await provide([old])).refused).toEqual([]);
    const s = await signedRead("e_current", current, proofOf("e_current", seq));
    const body = bodyOf(s);
    expect(body).toMatchObject({ found: true, checkpoint_seq: seq, max_staleness: 60 });
    expect(Date.now() - Date.parse(body.fresh_as_of)).toBeGreaterThan(119_000);
    expect(consumerVerdict("e_current", s)).toBe("stale_answer");
    // A consumer that chose a looser bound for this call accepts it (the bound is the consumer's).
    expect(consumerVerdict("e_current", s, 3600)).toBe("verified");
  });
});

describe("P8: the legitimate path", () => {
  test("the newest checkpoint forwarded, the proof against it: fresh_as_of within seconds of now, the consumer verifies", async () => {
    const reply = await provide([checkpoint()]);
    expect(reply.refused).toEqual([]);
    expect(reply.held).toEqual([{ view: VIEW, seq, as_of: expect.any(Number) }]);
    const s = await signedRead("e_current", current, proofOf("e_current", seq));
    const body = bodyOf(s);
    expect(body).toMatchObject({ found: true, features: { country: "IN" }, checkpoint_seq: seq });
    expect(Date.now() - Date.parse(body.fresh_as_of)).toBeLessThan(10_000);
    expect(consumerVerdict("e_current", s)).toBe("verified");
  });

  test("a not-found entity with its absence proof is a fresh not_found; an entity written after the checkpoint is fresh too", async () => {
    const s = await signedRead("e_never", null, proofOf("e_never", seq));
    expect(bodyOf(s)).toMatchObject({ found: false, error: { code: "not_found" }, checkpoint_seq: seq });
    expect(consumerVerdict("e_never", s)).toBe("verified");
    const brandNew = write("e_brand_new", Date.now() - 100, "JP", Date.now());
    const n = await signedRead("e_brand_new", brandNew, proofOf("e_brand_new", seq));
    expect(bodyOf(n)).toMatchObject({ found: true, features: { country: "JP" }, checkpoint_seq: seq });
    expect(consumerVerdict("e_brand_new", n)).toBe("verified");
  });
});

describe("P8 attacks: rolled-back objects", () => {
  test("an older genuine object put back for an entity this signer never saw → rolled_back (signed refusal, no value)", async () => {
    const s = await signedRead("e_two", twoOld, proofOf("e_two", seq));
    const body = bodyOf(s);
    expect(s.status).toBe(502);
    expect(body).toMatchObject({ found: false, error: { code: "rolled_back" }, fresh_as_of: null });
    expect(body.features).toBeUndefined();
    // …and the newest one next to it is fresh.
    const ok = await signedRead("e_two", twoNew, proofOf("e_two", seq));
    expect(bodyOf(ok)).toMatchObject({ found: true, features: { country: "DE" } });
    expect(consumerVerdict("e_two", ok)).toBe("verified");
  });

  test("another object with the leaf's event time, after the leaf's own object was served (and remembered by its seal) → rolled_back", async () => {
    // The legitimate path twice: hashed and matched the first time, recognised by its seal the second.
    for (let i = 0; i < 2; i++) {
      const ok = await signedRead("e_same", sameSecond, proofOf("e_same", seq));
      expect(bodyOf(ok)).toMatchObject({ found: true, features: { country: "MX" }, checkpoint_seq: seq });
      expect(consumerVerdict("e_same", ok)).toBe("verified");
    }
    // The first write put back: same view, entity and event time, another seal → hashed, refused.
    const s = await signedRead("e_same", sameFirst, proofOf("e_same", seq));
    expect(s.status).toBe(502);
    expect(bodyOf(s)).toMatchObject({ found: false, error: { code: "rolled_back" }, fresh_as_of: null });
    expect(bodyOf(s).features).toBeUndefined();
    expect(bodyOf(await signedRead("e_same", sameSecond, proofOf("e_same", seq)))).toMatchObject({ found: true, features: { country: "MX" } });
  });

  test("the older object without a proof: served with fresh_as_of null, which the consumer rejects by default", async () => {
    const s = await signedRead("e_three", threeOld, null);
    expect(bodyOf(s)).toMatchObject({ found: true, fresh_as_of: null, features: { country: "BR" } });
    expect(consumerVerdict("e_three", s)).toBe("stale_answer");
    expect(consumerVerdict("e_three", s, 1e9)).toBe("stale_answer"); // no bound makes null acceptable
  });

  test("a purged entity's old object put back, with a (valid) absence proof → rolled_back", async () => {
    const s = await signedRead("e_purged", purged, proofOf("e_purged", seq));
    expect(bodyOf(s)).toMatchObject({ found: false, error: { code: "rolled_back" } });
  });

  test("a proof for another entity → fresh_as_of null (never a bound), rejected", async () => {
    const s = await signedRead("e_three", threeOld, proofOf("bulk_7", seq));
    expect(bodyOf(s)).toMatchObject({ found: true, fresh_as_of: null });
    expect(consumerVerdict("e_three", s)).toBe("stale_answer");
  });

  test("an absence proof for an entity that exists (built from a map without it) → null, never a fresh not_found", async () => {
    const forged = new EntityMap();
    for (let i = 0; i < 200; i++) if (i !== 7) forged.set(entityMapKey(VIEW, `bulk_${i}`), map.get(entityMapKey(VIEW, `bulk_${i}`))!);
    forged.set(entityMapKey(VIEW, "e_current"), map.get(entityMapKey(VIEW, "e_current"))!);
    // bulk_7: nothing proven about it under this root yet, so the forged path is all the signer sees: unproven.
    const s = await signedRead("bulk_7", null, proofOf("bulk_7", seq, forged));
    expect(bodyOf(s)).toMatchObject({ found: false, error: { code: "not_found" }, fresh_as_of: null });
    expect(consumerVerdict("bulk_7", s)).toBe("stale_answer");
  });

  test("the same forgery for an entity this signer has already proven under the root → object_withheld (it remembers the root's answer)", async () => {
    const forged = new EntityMap();
    for (let i = 0; i < 200; i++) forged.set(entityMapKey(VIEW, `bulk_${i}`), map.get(entityMapKey(VIEW, `bulk_${i}`))!);
    expect(bodyOf(await signedRead("e_current", current, proofOf("e_current", seq)))).toMatchObject({ found: true, checkpoint_seq: seq });
    const s = await signedRead("e_current", null, proofOf("e_current", seq, forged));
    // A signed refusal naming the withholding: the consumer verifies it and sees no value.
    expect(bodyOf(s)).toMatchObject({ found: false, error: { code: "object_withheld" }, fresh_as_of: null });
  });

  test("proof lists the host garbles (truncated, trailing bytes, another count, unknown tag, over-deep, a leaf swapped in) → bad_frame or no bound, never a value fresher than proven; the signer keeps serving", async () => {
    const good = encodeProofList([proofOf("e_current", seq)]);
    const leafless = encodeProofList([{ seq, siblings: proofOf("e_current", seq).siblings }]);
    const tooDeep = Buffer.alloc(9 + 257 * 32);
    tooDeep[0] = 1;
    tooDeep.writeUInt16BE(257, 7);
    for (const proofs of [good.subarray(0, good.length - 1), Buffer.concat([good, Buffer.from([0])]), Buffer.concat([good, good]), Buffer.from([7]), tooDeep]) {
      const reply = await read.request(FrameKind.SignRead, { method: "GET", path: `/v1/features/${VIEW}/e_current`, query: QUERY, objects: [current], proofs });
      if (reply === "closed" || reply.kind !== FrameKind.Error) throw new Error("expected an error reply");
      expect(decodeErrorReply(reply.payload).code).toBe("bad_frame");
    }
    // Well-formed bytes claiming absence for an entity in the map: the path does not verify → unproven.
    const s = decodeSignedResponse(await read.ok(FrameKind.SignRead, { method: "GET", path: `/v1/features/${VIEW}/bulk_9`, query: QUERY, objects: [null], proofs: leafless }));
    expect(bodyOf(s)).toMatchObject({ found: false, fresh_as_of: null });
    // The legitimate list, as raw bytes: fresh.
    const ok = decodeSignedResponse(await read.ok(FrameKind.SignRead, { method: "GET", path: `/v1/features/${VIEW}/e_current`, query: QUERY, objects: [current], proofs: good }));
    expect(bodyOf(ok)).toMatchObject({ found: true, checkpoint_seq: seq });
    expect(consumerVerdict("e_current", ok)).toBe("verified");
  });

  test("the object withheld next to its (true) presence proof → object_withheld", async () => {
    const s = await signedRead("e_current", null, proofOf("e_current", seq));
    expect(bodyOf(s)).toMatchObject({ found: false, error: { code: "object_withheld" }, fresh_as_of: null });
  });

  test("a proof against a seq the signer does not hold → no answer at all (503 checkpoint_unheld, the host must hand it over)", async () => {
    expect(await refusedRead("e_current", current, proofOf("e_current", seq + 50))).toBe("checkpoint_unheld");
  });
});

describe("P8 attacks: checkpoints the host makes or replays", () => {
  test("an older checkpoint replayed → checkpoint_rolled_back; another body under the held seq → checkpoint_conflict; the same bytes again change nothing", async () => {
    const head = checkpoint();
    expect((await provide([head])).refused).toEqual([]);
    const previous = checkpoint();
    expect((await provide([previous])).refused).toEqual([]);
    const newest = checkpoint();
    expect((await provide([newest])).refused).toEqual([]);
    // The genuine previous checkpoint (still among the 8 held), replayed byte for byte.
    expect((await provide([previous])).refused).toEqual([{ index: 0, code: "checkpoint_rolled_back", message: expect.any(String) }]);
    expect((await provide([head])).refused[0]?.code).toBe("checkpoint_rolled_back");
    const other = checkpoint({ seq, root: Buffer.alloc(32, 7) });
    expect((await provide([other])).refused[0]?.code).toBe("checkpoint_conflict");
    const again = await provide([newest]);
    expect(again.refused).toEqual([]);
    expect(again.held).toEqual([{ view: VIEW, seq, as_of: expect.any(Number) }]);
  });

  test("a checkpoint the host sealed with its own key (also under the writer's kid), another lane's, an unknown view's → refused, nothing held changes", async () => {
    const hostKey = testWriterKey("host");
    const sameKid = { kid: signer.writer.kid, key: testWriterKey("host").key };
    // A host-made root that holds the old object as e_two's current one.
    const fake = new EntityMap();
    fake.set(entityMapKey(VIEW, "e_three"), entityMapValue(T0 - 900_000, threeOld));
    const reply = await provide([
      checkpoint({ seq: seq + 1, root: fake.rootHash() }, hostKey),
      checkpoint({ seq: seq + 1, root: fake.rootHash() }, sameKid),
      checkpoint({ seq: seq + 1, lane: "another-lane" }),
      checkpoint({ seq: seq + 1, view: "no_such_view" }),
      checkpoint({ seq: seq + 1, as_of: Date.now() + 3600_000 }),
    ]);
    expect(reply.refused.map((r) => r.code)).toEqual(["checkpoint_key_unknown", "checkpoint_mac_invalid", "checkpoint_wrong_lane", "checkpoint_unknown_view", "checkpoint_future"]);
    expect(reply.held).toEqual([{ view: VIEW, seq, as_of: expect.any(Number) }]);
    // A proof against the refused seq gets no answer; against the held one it does not verify (null).
    expect(await refusedRead("e_three", threeOld, toWireProof(seq + 1, fake.prove(entityMapKey(VIEW, "e_three"))))).toBe("checkpoint_unheld");
    const s = await signedRead("e_three", threeOld, toWireProof(seq, fake.prove(entityMapKey(VIEW, "e_three"))));
    expect(bodyOf(s)).toMatchObject({ found: true, fresh_as_of: null });
    expect(consumerVerdict("e_three", s)).toBe("stale_answer");
  });

  test("checkpoints are refused on the read connection (provision role only)", async () => {
    expect((await read.refused(FrameKind.ProvideCheckpoints, { checkpoints: [checkpoint()] })).code).toBe("frame_not_allowed");
  });

  // Last: it makes the suite's writer key verify-only.
  test("a checkpoint sealed with a key the directory lists verify-only → checkpoint_key_unknown", async () => {
    const directory = await signer.admin.sign(directoryOf(LANE, 2, Date.now(), [listed(signer.writer, "verify")]));
    await provision.ok(FrameKind.ProvisionKeys, { directory });
    const reply = await provide([checkpoint()]);
    expect(reply.refused[0]?.code).toBe("checkpoint_key_unknown");
  });
});

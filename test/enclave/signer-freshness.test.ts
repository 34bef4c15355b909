// P8 in the signer (docs/trust.md): ProvideCheckpoints on the provision role, and fresh_as_of /
// checkpoint_seq / max_staleness in every read path (single, batch, MessagePack, Feast), on the
// main thread and on signing workers (--workers 2).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Unpackr } from "msgpackr";
import { Signer } from "../../enclave/signer";
import { generateSealKey, SealKeyring } from "../../enclave/seal";
import { SignerClient } from "../../runtime/signer-client";
import { entityMapValue, sealCheckpoint, toWireProof, type WireProof } from "../../wire/checkpoint";
import { EntityMap, entityMapKey } from "../../wire/entity-map";
import { decodeErrorReply, decodeProvideCheckpointsResponse, encodeFrame, FRAME_HEADER_BYTES, FrameKind, type SignedResponse } from "../../wire/frames";
import { defineRegistry } from "../../wire/registry";

jest.setTimeout(60_000);

const LANE = "unit";
const NOW = Date.now();
const registry = defineRegistry([
  { name: "users", entityKey: "user_id", owner: "t", description: "t", ttlSeconds: 3600, features: [{ name: "a", type: "int" }] },
  { name: "items", entityKey: "user_id", owner: "t", description: "t", ttlSeconds: 3600, maxStalenessSeconds: 300, features: [{ name: "a", type: "int" }] },
]);
const writer = { ...generateSealKey("seq"), writer: "loader", use: "write" as const };
const seals = new SealKeyring([writer]);
const obj = (entity: string, eventTime: number, a = 1, view = "users") => seals.seal({ view, entity, event_time: eventTime, written_time: eventTime + 10, features: { a } });

// The writer side: the view's entity map and its checkpoints.
const current = obj("u1", NOW - 60_000, 2);
const older = obj("u1", NOW - 120_000, 1);
const stranger = obj("u9", NOW - 3600_000, 9); // never reported to the map, sealed long ago
const map = new EntityMap();
map.set(entityMapKey("users", "u1"), entityMapValue(NOW - 60_000, current));
for (let i = 0; i < 20; i++) map.set(entityMapKey("users", `o${i}`), entityMapValue(NOW - 1000, obj(`o${i}`, NOW - 1000)));
const AS_OF = NOW - 2000;
const checkpoint = (seq: number, view = "users", root = map.rootHash(), asOf = AS_OF) =>
  sealCheckpoint({ lane: LANE, view, seq, as_of: asOf, root, entities: map.size }, writer.kid, writer.key);
const proof = (entity: string, seq = 3, view = "users", m = map): WireProof => toWireProof(seq, m.prove(entityMapKey(view, entity)));

const json = (s: SignedResponse) => JSON.parse(Buffer.from(s.body).toString());
function provide(signer: Signer, checkpoints: Uint8Array[]) {
  return signer.handle({ id: 1, kind: FrameKind.ProvideCheckpoints, payload: payloadOf(encodeFrame(1, FrameKind.ProvideCheckpoints, { checkpoints })) }, "provision");
}
function payloadOf(frame: Buffer): Buffer {
  return frame.subarray(FRAME_HEADER_BYTES);
}

describe("enclave/signer: ProvideCheckpoints", () => {
  it("accepts a writer checkpoint on the provision role only, and says what it holds", () => {
    const signer = new Signer({ now: () => NOW, registry, keys: { keyring: seals }, checkpointLane: LANE });
    const frame = provide(signer, [checkpoint(3), Buffer.from("junk")]) as Buffer;
    expect(frame.readUInt8(8)).toBe(FrameKind.Reply);
    const reply = decodeProvideCheckpointsResponse(payloadOf(frame));
    expect(reply.held).toEqual([{ view: "users", seq: 3, as_of: AS_OF }]);
    expect(reply.refused).toEqual([{ index: 1, code: "checkpoint_malformed", message: expect.any(String) }]);
    const onRead = signer.handle(
      { id: 2, kind: FrameKind.ProvideCheckpoints, payload: payloadOf(encodeFrame(2, FrameKind.ProvideCheckpoints, { checkpoints: [] })) },
      "read",
    ) as Buffer;
    expect(onRead.readUInt8(8)).toBe(FrameKind.Error);
    expect(decodeErrorReply(payloadOf(onRead)).code).toBe("frame_not_allowed");
  });

  it("without a lane (no key state, no checkpointLane) every checkpoint is refused", () => {
    const signer = new Signer({ now: () => NOW, registry, keys: { keyring: seals } });
    const reply = decodeProvideCheckpointsResponse(payloadOf(provide(signer, [checkpoint(3)]) as Buffer));
    expect(reply.refused[0]?.code).toBe("checkpoint_wrong_lane");
    expect(reply.held).toEqual([]);
  });
});

describe("enclave/signer: fresh_as_of in every read path", () => {
  const signer = new Signer({ now: () => NOW, registry, keys: { keyring: seals }, checkpointLane: LANE });
  provide(signer, [checkpoint(3)]);
  const iso = new Date(AS_OF).toISOString();

  it("single read: the proven current object is fresh as of the checkpoint; the answer names the view's max_staleness", () => {
    const s = signer.signRead({ method: "GET", path: "/v1/features/users/u1", query: "", objects: [current], proofs: [proof("u1")] });
    expect(json(s)).toMatchObject({ max_staleness: 60, entity: "u1", found: true, fresh_as_of: iso, checkpoint_seq: 3, features: { a: 2 } });
  });

  it("single read without a proof: served with fresh_as_of null; against a seq not held: refused (checkpoint_unheld)", () => {
    const none = json(signer.signRead({ method: "GET", path: "/v1/features/users/u1", query: "", objects: [current] }));
    expect(none).toMatchObject({ found: true, fresh_as_of: null });
    expect(none.checkpoint_seq).toBeUndefined();
    // Against a seq it does not hold: no answer at all, so the host hands the checkpoint over again.
    expect(() => signer.signRead({ method: "GET", path: "/v1/features/users/u1", query: "", objects: [current], proofs: [proof("u1", 99)] })).toThrow(
      expect.objectContaining({ code: "checkpoint_unheld" }),
    );
  });

  it("batch: proof of another entity (null), fresh, not_found (absence proof), rolled_back (older object), object_withheld, unreported old object (rolled_back)", () => {
    // A fresh signer: the other-entity proof comes before any proof of u1 verified (VerifiedLookups, next test).
    const signer = new Signer({ now: () => NOW, registry, keys: { keyring: seals }, checkpointLane: LANE });
    provide(signer, [checkpoint(3)]);
    const body = Buffer.from(JSON.stringify({ entities: ["u1", "u1", "nobody", "u1", "u1", "u9"] }));
    const s = signer.signRead({
      method: "POST",
      path: "/v1/features/users/batch",
      query: "",
      contentType: "application/json",
      body,
      objects: [current, current, null, older, null, stranger],
      proofs: [proof("o3"), proof("u1"), proof("nobody"), proof("u1"), proof("u1"), proof("u9")],
    });
    const results = json(s).results;
    expect(json(s).max_staleness).toBe(60);
    expect(results[0]).toMatchObject({ found: true, fresh_as_of: null });
    expect(results[1]).toMatchObject({ found: true, fresh_as_of: iso, checkpoint_seq: 3 });
    expect(results[2]).toMatchObject({ found: false, error: { code: "not_found" }, fresh_as_of: iso, checkpoint_seq: 3 });
    expect(results[3]).toMatchObject({ found: false, error: { code: "rolled_back" }, fresh_as_of: null });
    expect(results[3].features).toBeUndefined();
    expect(results[4]).toMatchObject({ found: false, error: { code: "object_withheld" }, fresh_as_of: null });
    expect(results[5]).toMatchObject({ found: false, error: { code: "rolled_back" }, fresh_as_of: null });
    expect(s.entityErrors).toEqual(["rolled_back", "object_withheld", "rolled_back"]);
  });

  it("a lookup once verified is remembered per map root: a later proof of another entity changes nothing, and the served object is still judged", () => {
    const signer = new Signer({ now: () => NOW, registry, keys: { keyring: seals }, checkpointLane: LANE });
    provide(signer, [checkpoint(3)]);
    const read = (object: Uint8Array | null, p: WireProof) => json(signer.signRead({ method: "GET", path: "/v1/features/users/u1", query: "", objects: [object], proofs: [p] }));
    expect(read(current, proof("o3"))).toMatchObject({ found: true, fresh_as_of: null }); // nothing known yet: unproven
    expect(read(current, proof("u1"))).toMatchObject({ found: true, fresh_as_of: iso }); // verified, remembered
    // The host now sends junk for u1: the root's answer for u1 is already known, and it is the truth.
    expect(read(current, proof("o3"))).toMatchObject({ found: true, fresh_as_of: iso });
    // The remembered answer is the map's leaf, not a pass: the older object is rolled back, a withheld one is caught.
    expect(read(older, proof("o3"))).toMatchObject({ found: false, error: { code: "rolled_back" }, fresh_as_of: null });
    expect(read(null, proof("o3"))).toMatchObject({ found: false, error: { code: "object_withheld" } });
    // A new checkpoint with a different root knows nothing remembered under the old one.
    const next = new EntityMap();
    next.set(entityMapKey("users", "u1"), entityMapValue(NOW - 60_000, current));
    for (let i = 0; i < 5; i++) next.set(entityMapKey("users", `o${i}`), entityMapValue(NOW - 500, obj(`o${i}`, NOW - 500)));
    provide(signer, [checkpoint(4, "users", next.rootHash(), AS_OF + 1000)]);
    expect(read(current, proof("o3", 4, "users", next))).toMatchObject({ found: true, fresh_as_of: null });
    expect(read(current, proof("u1", 4, "users", next))).toMatchObject({ found: true, checkpoint_seq: 4 });
  });

  it("a tombstone proven current is not_found with a fresh bound", () => {
    const tomb = seals.seal({ view: "users", entity: "t1", event_time: NOW - 5000, written_time: NOW - 5000, features: {}, deleted: true });
    const m = new EntityMap();
    m.set(entityMapKey("users", "t1"), entityMapValue(NOW - 5000, tomb));
    const own = new Signer({ now: () => NOW, registry, keys: { keyring: seals }, checkpointLane: LANE });
    provide(own, [sealCheckpoint({ lane: LANE, view: "users", seq: 1, as_of: AS_OF, root: m.rootHash(), entities: 1 }, writer.kid, writer.key)]);
    const r = json(own.signRead({ method: "GET", path: "/v1/features/users/t1", query: "", objects: [tomb], proofs: [proof("t1", 1, "users", m)] }));
    expect(r).toMatchObject({ found: false, error: { code: "not_found" }, fresh_as_of: iso, checkpoint_seq: 1 });
  });

  it("MessagePack: fresh_as_of is a timestamp", () => {
    const s = signer.signRead({ method: "GET", path: "/v1/features/users/u1", query: "?features=a", accept: "application/msgpack", objects: [current], proofs: [proof("u1")] });
    const body = new Unpackr({ useRecords: false, mapsAsObjects: true }).unpack(Buffer.from(s.body));
    expect(body.fresh_as_of).toEqual(new Date(AS_OF));
    expect(body.checkpoint_seq).toBe(3);
    expect(body.max_staleness).toBe(60);
  });

  it("Feast: per view, fresh_as_of and checkpoint_seq per entity and the view's max_staleness", () => {
    const body = Buffer.from(JSON.stringify({ entities: { user_id: ["u1", "nobody"] }, features: ["users:a", "items:a"], full_feature_names: true }));
    const s = signer.signRead({
      method: "POST",
      path: "/get-online-features",
      query: "",
      contentType: "application/json",
      body,
      objects: [current, null, null, null],
      proofs: [proof("u1"), proof("nobody"), null, null],
    });
    expect(json(s).freshness).toEqual([
      { view: "users", max_staleness: 60, fresh_as_of: [iso, iso], checkpoint_seq: [3, 3] },
      { view: "items", max_staleness: 300, fresh_as_of: [null, null], checkpoint_seq: [null, null] },
    ]);
  });
});

describe("enclave/signer --workers 2: accepted checkpoints reach every worker before the reply", () => {
  it("reads answered on workers carry the bound right after ProvideCheckpoints", async () => {
    const dir = mkdtempSync(join(tmpdir(), "signer-fresh-"));
    const signer = new Signer({ registry, keys: { keyring: seals }, checkpointLane: LANE, workers: 2 });
    const server = await signer.listen(join(dir, "s.sock"));
    const client = new SignerClient({ socketPath: join(dir, "s.sock"), timeoutMs: 20_000 });
    try {
      await client.ready(20_000);
      const read = () => client.signRead({ method: "GET", path: "/v1/features/users/u1", query: "", objects: [current], proofs: [proof("u1", 4)] });
      await expect(read()).rejects.toMatchObject({ code: "checkpoint_unheld" }); // seq 4 not held yet: no answer, never a wrong bound
      provide(signer, [checkpoint(4)]);
      const answers = await Promise.all([read(), read(), read(), read()]);
      for (const a of answers) expect(json(a)).toMatchObject({ fresh_as_of: new Date(AS_OF).toISOString(), checkpoint_seq: 4 });
    } finally {
      client.close();
      server.close();
      await signer.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

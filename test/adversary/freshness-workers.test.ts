// P8 with signing workers (--workers 2), against the real dev signer process: a checkpoint the
// host forwards reaches every signing thread before the ProvideCheckpoints reply, so reads proven
// against it right after are fresh on whichever thread answers; a proof against a checkpoint not
// forwarded yet is null on every thread, never a bound. Next to it: a host-keyed checkpoint is
// refused on the main thread and so never reaches a worker.
import { SealKeyring } from "../../enclave/seal";
import { receivedFromSigned, verifyResponse } from "../../verifier/response";
import { entityMapValue, sealCheckpoint, toWireProof } from "../../wire/checkpoint";
import { EntityMap, entityMapKey } from "../../wire/entity-map";
import { decodeErrorReply, decodeKeyInfo, decodeProvideCheckpointsResponse, decodeSignedResponse, FrameKind, type KeyInfo } from "../../wire/frames";
import { DEMO_VIEW } from "../../dev/lane/demo-data";
import { testWriterKey } from "../helpers/key-directory";
import { HostConnection, LANE, startRealSigner, type RealSigner } from "./hostile-host";

let signer: RealSigner;
let key: KeyInfo;
let reads: HostConnection[];
let provision: HostConnection;
const map = new EntityMap();
const T0 = Date.now();
let object: Buffer;

beforeAll(async () => {
  signer = await startRealSigner(["--workers", "2"]);
  reads = [await signer.open("read"), await signer.open("read"), await signer.open("read")];
  provision = await signer.open("provision");
  key = decodeKeyInfo(await reads[0]!.ok(FrameKind.KeyInfo, {}));
  object = new SealKeyring([{ ...signer.writer, use: "write" }]).seal({
    view: DEMO_VIEW,
    entity: "w1",
    event_time: T0 - 5000,
    written_time: T0 - 4000,
    features: { country: "IN" },
  });
  map.set(entityMapKey(DEMO_VIEW, "w1"), entityMapValue(T0 - 5000, object));
  for (let i = 0; i < 50; i++) map.set(entityMapKey(DEMO_VIEW, `f${i}`), entityMapValue(T0, Buffer.from(`f${i}`)));
}, 60_000);
afterAll(() => {
  for (const c of [...(reads ?? []), provision]) c?.close();
  signer?.stop();
});

const checkpoint = (seq: number, k: { kid: string; key: Buffer } = signer.writer) =>
  sealCheckpoint({ lane: LANE, view: DEMO_VIEW, seq, as_of: Date.now(), root: map.rootHash(), entities: map.size }, k.kid, k.key);
async function readAll(seq: number, times = 24) {
  const frame = { method: "GET", path: `/v1/features/${DEMO_VIEW}/w1`, query: "", objects: [object], proofs: [toWireProof(seq, map.prove(entityMapKey(DEMO_VIEW, "w1")))] };
  const answers = await Promise.all(Array.from({ length: times }, (_, i) => reads[i % reads.length]!.ok(FrameKind.SignRead, frame)));
  return answers.map((a) => decodeSignedResponse(a));
}
/** Every thread refuses a read proven against a checkpoint it does not hold (unsigned, retryable). */
async function refusedAll(seq: number, times = 24): Promise<string[]> {
  const frame = { method: "GET", path: `/v1/features/${DEMO_VIEW}/w1`, query: "", objects: [object], proofs: [toWireProof(seq, map.prove(entityMapKey(DEMO_VIEW, "w1")))] };
  const replies = await Promise.all(Array.from({ length: times }, (_, i) => reads[i % reads.length]!.request(FrameKind.SignRead, frame)));
  return replies.map((r) => (r === "closed" || r.kind !== FrameKind.Error ? "answered" : decodeErrorReply(r.payload).code));
}
const freshOf = (s: ReturnType<typeof decodeSignedResponse>) => (JSON.parse(Buffer.from(s.body).toString()) as { fresh_as_of: string | null }).fresh_as_of;

test("before any checkpoint: every thread refuses a proven read (checkpoint_unheld) and answers an unproven one with fresh_as_of null", async () => {
  expect(new Set(await refusedAll(1))).toEqual(new Set(["checkpoint_unheld"]));
  const frame = { method: "GET", path: `/v1/features/${DEMO_VIEW}/w1`, query: "", objects: [object] };
  for (const a of await Promise.all(Array.from({ length: 24 }, (_, i) => reads[i % reads.length]!.ok(FrameKind.SignRead, frame))))
    expect(freshOf(decodeSignedResponse(a))).toBeNull();
});

test("legitimate: right after the ProvideCheckpoints reply, every thread proves the read fresh and the consumer verifies", async () => {
  expect((await provide([checkpoint(1)])).refused).toEqual([]);
  for (const s of await readAll(1)) {
    expect(freshOf(s)).not.toBeNull();
    verifyResponse(receivedFromSigned(s), { method: "GET", path: `/v1/features/${DEMO_VIEW}/w1`, query: "" }, { key: key.jwk });
  }
});

test("a host-keyed checkpoint is refused and reaches no worker: proofs against its seq are null on every thread", async () => {
  expect((await provide([checkpoint(2, testWriterKey("host"))])).refused[0]?.code).toBe("checkpoint_key_unknown");
  expect(new Set(await refusedAll(2))).toEqual(new Set(["checkpoint_unheld"]));
});

async function provide(checkpoints: Buffer[]) {
  return decodeProvideCheckpointsResponse(await provision.ok(FrameKind.ProvideCheckpoints, { checkpoints }));
}

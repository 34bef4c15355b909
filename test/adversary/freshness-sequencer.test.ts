// P8, who may checkpoint a view (docs/trust.md): against the REAL dev signer process. The signer
// holds two write keys of the lane — the view's sequencer ("loader", named for the view in the key
// directory's `sequences`) and another writer ("intruder", a write key like any other, named for
// nothing) — and the hostile host forwards checkpoints either sealed. Any writer may write a view's
// objects (P1); only the sequencer the admin named may say what the view holds, so the intruder
// can neither fork the view's seq nor vouch for an old map. The host cannot name one either: the
// directory is admin-signed.
import { sealCheckpoint } from "../../wire/checkpoint";
import { EntityMap, entityMapKey } from "../../wire/entity-map";
import { decodeProvideCheckpointsResponse, FrameKind } from "../../wire/frames";
import { entityMapValue } from "../../wire/checkpoint";
import { DEMO_VIEW } from "../../dev/lane/demo-data";
import { directoryOf, listed, testWriterKey } from "../helpers/key-directory";
import { HostConnection, LANE, startRealSigner, type RealSigner } from "./hostile-host";

const VIEW = DEMO_VIEW;
const intruder = testWriterKey("intruder");
let signer: RealSigner;
let provision: HostConnection;
let epoch = 1;
let seq = 0;

const map = new EntityMap();
map.set(entityMapKey(VIEW, "e1"), entityMapValue(Date.now() - 1000, Buffer.from("sealed bytes of e1")));
const checkpoint = (k: { kid: string; key: Buffer }, fields: Partial<{ seq: number; root: Buffer }> = {}) =>
  sealCheckpoint({ lane: LANE, view: VIEW, seq: fields.seq ?? ++seq, as_of: Date.now(), root: fields.root ?? map.rootHash(), entities: map.size }, k.kid, k.key);
const provide = async (checkpoints: Buffer[]) => decodeProvideCheckpointsResponse(await provision.ok(FrameKind.ProvideCheckpoints, { checkpoints }));

beforeAll(async () => {
  signer = await startRealSigner([], [{ key: intruder, entry: listed(intruder, "write", null) }]);
  provision = await signer.open("provision");
  // The admin names the loader the sequencer of this view only (not "*").
  const directory = await signer.admin.sign(directoryOf(LANE, ++epoch, Date.now(), [listed(signer.writer, "write", [VIEW]), listed(intruder, "write", null)]));
  await provision.ok(FrameKind.ProvisionKeys, { directory });
}, 60_000);
afterAll(() => {
  provision?.close();
  signer?.stop();
});

test("the legitimate path: the view's named sequencer seals a checkpoint → held", async () => {
  const reply = await provide([checkpoint(signer.writer)]);
  expect(reply.refused).toEqual([]);
  expect(reply.held).toEqual([{ view: VIEW, seq, as_of: expect.any(Number) }]);
});

test("another lane writer's genuine write key seals the view's checkpoint (a fork, an old root) → checkpoint_not_sequencer, nothing moves", async () => {
  const held = seq;
  const fork = await provide([checkpoint(intruder, { seq: held + 100, root: Buffer.alloc(32, 9) })]);
  expect(fork.refused).toEqual([{ index: 0, code: "checkpoint_not_sequencer", message: expect.stringContaining(intruder.kid) }]);
  expect(fork.held).toEqual([{ view: VIEW, seq: held, as_of: expect.any(Number) }]);
  // The genuine sequencer's next checkpoint is not blocked by the attempt (the seq did not move).
  expect((await provide([checkpoint(signer.writer)])).refused).toEqual([]);
});

test("a key named for another view only → checkpoint_not_sequencer for this one", async () => {
  const directory = await signer.admin.sign(directoryOf(LANE, ++epoch, Date.now(), [listed(signer.writer, "write", [VIEW]), listed(intruder, "write", ["some_other_view"])]));
  await provision.ok(FrameKind.ProvisionKeys, { directory });
  expect((await provide([checkpoint(intruder)])).refused[0]?.code).toBe("checkpoint_not_sequencer");
  expect((await provide([checkpoint(signer.writer)])).refused).toEqual([]);
});

test("a directory that names no sequencer for the view: every checkpoint refused (fail closed, fresh_as_of stays null)", async () => {
  const directory = await signer.admin.sign(directoryOf(LANE, ++epoch, Date.now(), [listed(signer.writer, "write", null), listed(intruder, "write", null)]));
  await provision.ok(FrameKind.ProvisionKeys, { directory });
  expect((await provide([checkpoint(signer.writer)])).refused[0]?.code).toBe("checkpoint_not_sequencer");
});

// The checkpoint log key path (_lane/checkpoints/, wire/checkpoint-log.ts) against the REAL dev
// signer: the test runs the view's real sequencer (sequencer/view-sequencer.ts, the lane's writer key) and the
// runtime's real follower (runtime/checkpoint-follower.ts over a SignerClient on the provision
// connection); the store between them is the hostile host's. Whatever the host does to the log —
// replay an older head, swap in a checkpoint it sealed itself, rewrite a delta so an older object
// looks current — the signer never signs a fresh_as_of for an object that is not the newest, and
// the follower never proves against a map it could not match to a sealed root. Next to each: the
// legitimate path gives a fresh bound.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SealKeyring } from "../../enclave/seal";
import { ViewSequencer } from "../../sequencer/view-sequencer";
import { CheckpointFollower } from "../../runtime/checkpoint-follower";
import { SignerClient } from "../../runtime/signer-client";
import { MemoryStore } from "../../runtime/store/memory-store";
import { entityMapValue, sealCheckpoint } from "../../wire/checkpoint";
import { checkpointLogKeys, decodeLogDelta, decodeLogHead, encodeLogDelta, encodeLogHead } from "../../wire/checkpoint-log";
import { decodeSignedResponse, FrameKind, type SignedResponse } from "../../wire/frames";
import { DEMO_VIEW } from "../../dev/lane/demo-data";
import { HostConnection, LANE, startRealSigner, type RealSigner } from "./hostile-host";

const VIEW = DEMO_VIEW;
let signer: RealSigner;
let read: HostConnection;
let provision: SignerClient;
let store: MemoryStore;
let sequencer: ViewSequencer;
let follower: CheckpointFollower;
let writer: SealKeyring;
let stateDir: string;
const keys = checkpointLogKeys(VIEW);

const seal = (entity: string, eventTime: number, country: string) =>
  writer.seal({ view: VIEW, entity, event_time: eventTime, written_time: eventTime + 10, features: { country } });

async function signedRead(entity: string, object: Buffer | null): Promise<Record<string, unknown>> {
  const proofs = follower.proofs([{ view: VIEW, entity }]);
  const s: SignedResponse = decodeSignedResponse(
    await read.ok(FrameKind.SignRead, { method: "GET", path: `/v1/features/${VIEW}/${entity}`, query: "?features=country", objects: [object], proofs }),
  );
  return JSON.parse(Buffer.from(s.body).toString()) as Record<string, unknown>;
}

async function headNow() {
  const got = await store.get(keys.head);
  if (!got.found) throw new Error("no head");
  return decodeLogHead(got.body, VIEW);
}

beforeAll(async () => {
  signer = await startRealSigner();
  read = await signer.open("read");
  provision = new SignerClient({ role: "provision", socketPath: signer.socket });
  await provision.ready(10_000);
  store = new MemoryStore();
  stateDir = mkdtempSync(join(tmpdir(), "el-adversary-log-"));
  writer = new SealKeyring([{ ...signer.writer, use: "write" }]);
  sequencer = new ViewSequencer({ view: VIEW, lane: LANE, key: signer.writer, store, stateDir });
  follower = new CheckpointFollower({ store, signer: provision, views: () => [VIEW] });
}, 120_000);

afterAll(async () => {
  await sequencer?.close();
  provision?.close();
  read?.close();
  signer?.stop();
  rmSync(stateDir, { recursive: true, force: true });
});

describe("the checkpoint log in a hostile store", () => {
  const t = Date.now() - 600_000;
  let v1: Buffer;
  let v2: Buffer;

  it("legitimate: a reported write, followed from the log, reads with fresh_as_of = the checkpoint's as_of", async () => {
    v1 = seal("e1", t, "FR");
    await sequencer.report([["e1", entityMapValue(t, v1)]]);
    await follower.poll();
    const proving = follower.proving(VIEW);
    expect(proving?.seq).toBe(sequencer.current!.seq);
    const body = await signedRead("e1", v1);
    expect(body).toMatchObject({ found: true, checkpoint_seq: proving!.seq, fresh_as_of: new Date(proving!.asOf).toISOString() });
  });

  it("a replayed older head is never forwarded over a newer one; proofs stay against the newer", async () => {
    const oldHead = (await store.get(keys.head)) as { found: true; body: Buffer };
    v2 = seal("e1", t + 60_000, "DE");
    await sequencer.report([["e1", entityMapValue(t + 60_000, v2)]]);
    await follower.poll();
    const newer = follower.proving(VIEW)!.seq;
    await store.put(keys.head, oldHead.body);
    await follower.poll();
    expect(follower.proving(VIEW)!.seq).toBe(newer);
    // The older object under the newer checkpoint: refused, never fresh.
    expect(await signedRead("e1", v1)).toMatchObject({ found: false, error: { code: "rolled_back" }, fresh_as_of: null });
    expect(await signedRead("e1", v2)).toMatchObject({ found: true, checkpoint_seq: newer });
  });

  it("a head carrying a checkpoint the host sealed itself is refused by the signer and never proven against", async () => {
    const before = follower.proving(VIEW)!.seq;
    const h = await headNow();
    // The host's own "map" where e1 still has v1, under a key no directory lists.
    const forged = sealCheckpoint({ lane: LANE, view: VIEW, seq: h.seq + 10, as_of: Date.now(), root: randomBytes(32), entities: 1 }, "host-made", randomBytes(32));
    await store.put(keys.head, encodeLogHead({ ...h, seq: h.seq + 10, checkpoint: forged }));
    await follower.poll();
    expect(follower.proving(VIEW)!.seq).toBe(before);
    expect(await signedRead("e1", v1)).toMatchObject({ found: false, error: { code: "rolled_back" } });
  });

  it("a delta rewritten so the older object looks current: the rebuilt root does not match, the follower keeps the last good checkpoint", async () => {
    const before = follower.proving(VIEW)!.seq;
    const t3 = t + 120_000;
    const v3 = seal("e1", t3, "IT");
    await sequencer.report([["e1", entityMapValue(t3, v3)]]);
    const h = await headNow();
    const d = decodeLogDelta(((await store.get(keys.delta(h.last_change))) as { body: Buffer }).body, VIEW, h.last_change);
    await store.put(keys.delta(h.last_change), encodeLogDelta({ ...d, changes: [["e1", entityMapValue(t + 60_000, v2)]] }));
    await follower.poll();
    expect(follower.proving(VIEW)!.seq).toBe(before);
    // Proofs stay against the last good checkpoint: v2 is what it held (fresh at that older as_of,
    // which only ages from here); v1 is still refused.
    expect(await signedRead("e1", v2)).toMatchObject({ found: true, checkpoint_seq: before });
    expect(await signedRead("e1", v1)).toMatchObject({ found: false, error: { code: "rolled_back" } });
    // The sequencer's next snapshot (a restart forces one) heals the follower: v3 is proven, v2 refused.
    await sequencer.close();
    sequencer = new ViewSequencer({ view: VIEW, lane: LANE, key: signer.writer, store, stateDir });
    await sequencer.report([]);
    await follower.poll();
    expect(follower.proving(VIEW)!.seq).toBe(sequencer.current!.seq);
    expect(await signedRead("e1", v3)).toMatchObject({ found: true, checkpoint_seq: sequencer.current!.seq });
    expect(await signedRead("e1", v2)).toMatchObject({ found: false, error: { code: "rolled_back" } });
  });
});

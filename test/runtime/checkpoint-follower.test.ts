import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Registry } from "prom-client";
import { MemoryStore } from "../../runtime/store/memory-store";
import { CheckpointFollower, PENDING_MAX_MS, type CheckpointSigner } from "../../runtime/checkpoint-follower";
import { ViewSequencer } from "../../sequencer/view-sequencer";
import { checkpointMacValid, entityMapValue, fromWireProof, parseEntityMapValue, parseSealedCheckpoint } from "../../wire/checkpoint";
import { checkpointLogKeys, decodeLogDelta, decodeLogHead, encodeLogDelta } from "../../wire/checkpoint-log";
import { entityMapKey, verifyEntityMapProof } from "../../wire/entity-map";
import type { ProvideCheckpointsResponse } from "../../wire/frames";

const VIEW = "user_profile";
const key = { kid: "dev-sequencer", key: randomBytes(32) };
const value = (t: number, tag: string) => entityMapValue(t, Buffer.from(tag));

/** The enclave's acceptance rules, enough for the host side: MAC, forward-only seq, newest 8 held. */
class FakeSigner implements CheckpointSigner {
  up = true;
  forwarded = 0;
  readonly held = new Map<number, { root: Buffer; as_of: number }>();
  async provideCheckpoints(checkpoints: readonly Uint8Array[]): Promise<ProvideCheckpointsResponse> {
    const refused: Array<{ index: number; code: string; message: string }> = [];
    checkpoints.forEach((bytes, index) => {
      this.forwarded++;
      const s = parseSealedCheckpoint(bytes);
      const newest = Math.max(0, ...this.held.keys());
      if (!checkpointMacValid(s, key.key)) refused.push({ index, code: "checkpoint_invalid", message: "mac" });
      else if (s.checkpoint.seq < newest) refused.push({ index, code: "checkpoint_rolled_back", message: "older" });
      else this.held.set(s.checkpoint.seq, { root: s.checkpoint.root, as_of: s.checkpoint.as_of });
    });
    const seq = Math.max(0, ...this.held.keys());
    return { held: seq ? [{ view: VIEW, seq, as_of: this.held.get(seq)!.as_of }] : [], refused };
  }
  /** What the enclave does with a proof: verify it against the held checkpoint it names. */
  check(entity: string, proof: ReturnType<CheckpointFollower["proofs"]>[number]) {
    if (!proof) return null;
    const held = this.held.get(proof.seq);
    const p = fromWireProof(proof);
    if (!held || !p) return null;
    return verifyEntityMapProof(held.root, entityMapKey(VIEW, entity), p);
  }
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "follow-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function setup() {
  const store = new MemoryStore();
  const sequencer = new ViewSequencer({ view: VIEW, lane: "local", key, store, stateDir: dir });
  const signer = new FakeSigner();
  const registry = new Registry();
  const follower = new CheckpointFollower({ store, signer, views: () => [VIEW], registry });
  return { store, sequencer, signer, follower, registry };
}

describe("CheckpointFollower", () => {
  it("proves nothing before the signer holds a checkpoint", async () => {
    const { follower, sequencer } = setup();
    expect(follower.active).toBe(false);
    expect(follower.proofs([{ view: VIEW, entity: "a" }])).toEqual([null]);
    await follower.poll(); // no head yet
    expect(follower.active).toBe(false);
    await sequencer.close();
  });

  it("rebuilds the sequencer's map from the log (snapshot, then deltas) and proves against the checkpoint the signer accepted", async () => {
    const { follower, sequencer, signer, registry } = setup();
    await sequencer.report([
      ["a", value(1000, "a")],
      ["b", value(1000, "b")],
    ]);
    await follower.poll();
    let c = follower.proving(VIEW)!;
    expect(c.seq).toBe(sequencer.current!.seq);
    expect(signer.held.has(c.seq)).toBe(true);
    const [pa, pz] = follower.proofs([
      { view: VIEW, entity: "a" },
      { view: VIEW, entity: "zz" },
    ]);
    expect(signer.check("a", pa)).toMatchObject({ ok: true, present: true });
    expect(parseEntityMapValue((signer.check("a", pa) as { value: Buffer }).value).eventTimeMs).toBe(1000);
    expect(signer.check("zz", pz)).toMatchObject({ ok: true, present: false });
    // Deltas: a change, a removal, a new entity.
    await sequencer.report([["a", value(2000, "a2")]]);
    await sequencer.report([
      ["b", null],
      ["c", value(1500, "c")],
    ]);
    await follower.poll();
    c = follower.proving(VIEW)!;
    expect(c.seq).toBe(sequencer.current!.seq);
    const [a2, b2, c2] = follower.proofs(["a", "b", "c"].map((entity) => ({ view: VIEW, entity })));
    expect(parseEntityMapValue((signer.check("a", a2) as { value: Buffer }).value).eventTimeMs).toBe(2000);
    expect(signer.check("b", b2)).toMatchObject({ ok: true, present: false });
    expect(signer.check("c", c2)).toMatchObject({ ok: true, present: true });
    // A heartbeat: new seq, same root, no rebuild.
    await sequencer.report([]);
    await follower.poll();
    expect(follower.proving(VIEW)!.seq).toBe(sequencer.current!.seq);
    expect(await registry.getSingleMetricAsString("lane_checkpoint_age_seconds")).toMatch(/lane_checkpoint_age_seconds\{view="user_profile"\} \d/);
    await sequencer.close();
  });

  it("a batch's proofs (siblings of all in one buffer) are each the proof of its lookup alone, and verify; other views get null", async () => {
    const { follower, sequencer, signer } = setup();
    const entities = Array.from({ length: 40 }, (_, i) => `e${i}`);
    await sequencer.report(entities.filter((_, i) => i % 3 !== 0).map((e, i) => [e, value(1000 + i, e)] as [string, Buffer]));
    await follower.poll();
    const lookups = entities.flatMap((entity, i) =>
      i === 7
        ? [
            { view: "not_followed", entity },
            { view: VIEW, entity },
          ]
        : [{ view: VIEW, entity }],
    );
    const batch = follower.proofs(lookups);
    expect(batch).toEqual(lookups.map((l) => follower.proofs([l])[0]));
    lookups.forEach((l, i) => {
      if (l.view !== VIEW) return expect(batch[i]).toBeNull();
      const present = entities.indexOf(l.entity) % 3 !== 0;
      expect(signer.check(l.entity, batch[i]!)).toMatchObject({ ok: true, present });
    });
    await sequencer.close();
  });

  it("a tampered delta never becomes a proof: root mismatch → keep proving against the last good checkpoint, then rebuild from the snapshot", async () => {
    const { store, follower, sequencer, signer } = setup();
    await sequencer.report([["a", value(1000, "a")]]);
    await follower.poll();
    const good = follower.proving(VIEW)!.seq;
    await sequencer.report([["a", value(2000, "a2")]]);
    // The hostile store rewrites the delta: "a" keeps its old value.
    const keys = checkpointLogKeys(VIEW);
    const headGot = await store.get(keys.head);
    const h = decodeLogHead((headGot as { body: Buffer }).body, VIEW);
    const d = decodeLogDelta(((await store.get(keys.delta(h.last_change))) as { body: Buffer }).body, VIEW, h.last_change);
    await store.put(keys.delta(h.last_change), encodeLogDelta({ ...d, changes: [["a", value(1000, "a")]] }));
    await follower.poll();
    expect(follower.proving(VIEW)!.seq).toBe(good); // not the new seq
    expect(parseEntityMapValue((signer.check("a", follower.proofs([{ view: VIEW, entity: "a" }])[0]) as { value: Buffer }).value).eventTimeMs).toBe(1000);
    // Next poll: rebuilt from the snapshot the head names (the sequencer's first checkpoint) + deltas → still the tampered delta: no switch.
    await follower.poll();
    expect(follower.proving(VIEW)!.seq).toBe(good);
    // The sequencer's next snapshot (forced here by a restart) heals it.
    await sequencer.close();
    const again = new ViewSequencer({ view: VIEW, lane: "local", key, store, stateDir: dir });
    await again.report([]);
    await follower.poll();
    expect(follower.proving(VIEW)!.seq).toBe(again.current!.seq);
    expect(parseEntityMapValue((signer.check("a", follower.proofs([{ view: VIEW, entity: "a" }])[0]) as { value: Buffer }).value).eventTimeMs).toBe(2000);
    await again.close();
  });

  it("a signer restart: forwards the current checkpoint again before proving", async () => {
    const { follower, sequencer, signer } = setup();
    await sequencer.report([["a", value(1000, "a")]]);
    await follower.poll();
    signer.held.clear();
    follower.signerReconnected();
    expect(follower.proofs([{ view: VIEW, entity: "a" }])).toEqual([null]);
    await follower.poll();
    expect(signer.held.has(sequencer.current!.seq)).toBe(true);
    expect(follower.proving(VIEW)!.seq).toBe(sequencer.current!.seq);
    await sequencer.close();
  });

  it("a checkpoint the signer refuses is not proven against", async () => {
    const { store, follower, sequencer, signer } = setup();
    await sequencer.report([["a", value(1000, "a")]]);
    signer.held.set(1_000_000, { root: Buffer.alloc(32), as_of: 0 }); // it holds a newer seq
    await follower.poll();
    expect(follower.active).toBe(false);
    expect(store).toBeDefined();
    await sequencer.close();
  });
});

describe("reads wait while a view's checkpoint is on its way to the signer (503 checkpoint_pending)", () => {
  it("pending before the first poll and after a signer reconnect; not once proven; a view without a log never waits", async () => {
    const { sequencer, signer, follower } = setup();
    await sequencer.report([["user_000001", value(1000, "a")]]);
    expect(follower.pending(VIEW)).toBe(true);
    expect(follower.ready).toBe(false);
    await follower.poll();
    expect(follower.pending(VIEW)).toBe(false);
    expect(follower.pending("view_without_a_sequencer")).toBe(false);
    expect(follower.ready).toBe(true);
    // A restarted signer holds nothing: reads wait until the next round handed it the checkpoint.
    signer.up = false;
    follower.signerReconnected();
    expect(follower.pending(VIEW)).toBe(true);
    expect(follower.ready).toBe(false);
    await new Promise((r) => setImmediate(r)); // the round signerReconnected began (signer down) ends
    signer.up = true;
    await follower.poll();
    expect(follower.pending(VIEW)).toBe(false);
    expect(follower.proving(VIEW)).not.toBeNull();
  });

  it("a checkpoint the signer refuses holds reads back only for PENDING_MAX_MS, then they go on, unproven", async () => {
    const { signer, follower, advance } = await followerAfterOneReport();
    signer.provideCheckpoints = async () => ({ held: [], refused: [{ index: 0, code: "checkpoint_key_unknown", message: "not a write key" }] });
    follower.signerReconnected();
    await follower.poll();
    expect(follower.proving(VIEW)).toBeNull();
    expect(follower.pending(VIEW)).toBe(true); // the key directory may still be on its way
    advance(PENDING_MAX_MS + 1);
    expect(follower.pending(VIEW)).toBe(false);
  });
});

it(`reads wait at most PENDING_MAX_MS (${PENDING_MAX_MS} ms) when the signer's checkpoint cannot be delivered, then go on unproven`, async () => {
  const { signer, follower, advance } = await followerAfterOneReport();
  signer.up = false; // e.g. no provision connection to be had
  follower.signerReconnected();
  expect(follower.pending(VIEW)).toBe(true);
  advance(PENDING_MAX_MS + 1);
  expect(follower.pending(VIEW)).toBe(false);
  expect(follower.proving(VIEW)).toBeNull();
});

/** A view with one reported write and a follower on a clock the test moves (`advance`). */
async function followerAfterOneReport() {
  const store = new MemoryStore();
  const sequencer = new ViewSequencer({ view: VIEW, lane: "local", key, store, stateDir: dir });
  await sequencer.report([["user_000001", value(1000, "a")]]);
  let now = Date.now();
  const signer = new FakeSigner();
  const follower = new CheckpointFollower({ store, signer, views: () => [VIEW], now: () => now });
  return { signer, follower, advance: (ms: number) => (now += ms) };
}

/**
 * Host side of provable freshness (issue #16, docs/trust.md P8): follow each view's checkpoint log
 * in the store (wire/checkpoint-log.ts), rebuild the view's entity map (wire/entity-map.ts),
 * forward every new sealed checkpoint to the signer (FrameKind.ProvideCheckpoints on the provision
 * connection) and — only once the signer holds it and the rebuilt map has exactly its root — prove
 * each served object against it (SignReadRequest.proofs, wire/checkpoint.ts toWireProof).
 *
 * The host can make neither a checkpoint (no writer key) nor a proof the enclave accepts for a map
 * the sequencer did not seal; what this module gets wrong, or what a tampered log makes it get
 * wrong, only turns into proofs that do not verify: fresh_as_of null or older, never inflated.
 * That is why a root mismatch is handled by falling back (snapshot, else keep proving against the
 * last good checkpoint while the signer still holds it), never by proving against a guess.
 *
 * Map updates are applied synchronously, in the same event-loop turn that switches the proving
 * seq, so a read never gets a proof from a map that is half-way between two checkpoints; a read
 * already in flight carries a proof against the previous seq, which the signer still holds (it
 * keeps the newest 8 per view). No import of enclave/.
 */
import { Gauge, type Registry } from "prom-client";
import type { ProvideCheckpointsResponse } from "../wire/frames";
import { parseSealedCheckpoint, toWireProof, type WireProof } from "../wire/checkpoint";
import { checkpointLogKeys, decodeLogDelta, decodeLogHead, decodeLogSnapshotPart, type LogDelta, type LogHead } from "../wire/checkpoint-log";
import { EntityMap, entityMapKey } from "../wire/entity-map";
import type { ObjectStore } from "./store/types";

/** Deltas walked back from the head before the follower takes the snapshot instead. */
const MAX_DELTA_WALK = 256;
/** Map keys remembered for proofs (one SHA-256 each otherwise, on every read of every entity); cleared when full. */
const KEY_CACHE_ENTRIES = 100_000;

export interface CheckpointSigner {
  provideCheckpoints(checkpoints: readonly Uint8Array[]): Promise<ProvideCheckpointsResponse>;
  readonly up: boolean;
}

export interface FollowerLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** The longest reads wait (503 checkpoint_pending) for a view's checkpoint to reach the signer. */
export const PENDING_MAX_MS = 5000;

interface ViewState {
  map: EntityMap;
  /** Seq of the last delta (or snapshot) the map reflects. */
  appliedChange: number;
  /** The checkpoint the signer accepted and the map matches: proofs name it. */
  proving: { readonly seq: number; readonly asOf: number } | null;
  /** The newest seq the signer accepted from us (0 after a signer restart). */
  accepted: number;
  /** A root mismatch after deltas: rebuild from the snapshot next time. */
  needSnapshot: boolean;
  /** The view has a published log (a sequencer): until the signer holds its checkpoint, reads wait. */
  headSeen: boolean;
}

/** What a poll prepared before forwarding: either deltas to apply in place or a whole new map. */
type Plan = { readonly kind: "none" } | { readonly kind: "deltas"; readonly deltas: readonly LogDelta[] } | { readonly kind: "map"; readonly map: EntityMap };

export class CheckpointFollower {
  private readonly views = new Map<string, ViewState>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  /** A full round finished since the signer (re)connected. */
  private polled = false;
  /** When the follower started or the signer last (re)connected: reads wait at most PENDING_MAX_MS from here. */
  private pendingSince = Date.now();
  /** view → entity → map key: two lookups, no joined string to build and hash on every read. */
  private readonly keyCache = new Map<string, Map<string, Buffer>>();
  private keyCacheSize = 0;

  constructor(
    private readonly options: {
      /** Where the log is (the store the runtime reads objects from, or the folder behind a memory store). */
      readonly store: ObjectStore;
      readonly signer: CheckpointSigner;
      /** The views to follow (the registry the signer holds). */
      readonly views: () => readonly string[];
      readonly keyPrefix?: string;
      /** @default 250 ms */
      readonly pollMs?: number;
      readonly logger?: FollowerLogger;
      /** lane_checkpoint_age_seconds{view} goes here. */
      readonly registry?: Registry;
      readonly now?: () => number;
    },
  ) {
    if (options.registry) {
      const ages = (): Map<string, number> => this.ages();
      new Gauge({
        name: "lane_checkpoint_age_seconds",
        help: "Age of the newest checkpoint the signer holds and reads are proven against, per view (answers' fresh_as_of is at most this old)",
        labelNames: ["view"],
        registers: [options.registry],
        collect() {
          this.reset();
          for (const [view, age] of ages()) this.set({ view }, age);
        },
      });
    }
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** Seconds since the as_of of the checkpoint each view is proven against. */
  ages(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [view, s] of this.views) if (s.proving) out.set(view, Math.max(0, (this.now() - s.proving.asOf) / 1000));
    return out;
  }

  /** The checkpoint reads of `view` are proven against (null: none yet; answers carry fresh_as_of null). */
  proving(view: string): { readonly seq: number; readonly asOf: number } | null {
    return this.views.get(view)?.proving ?? null;
  }

  /** One proof per lookup, parallel to the objects of a SignRead; null where the view has no usable checkpoint. */
  proofs(lookups: ReadonlyArray<{ readonly view: string; readonly entity: string }>): Array<WireProof | null> {
    // provePacked: one Buffer per proof (siblings and leaf), no Buffer.concat; the SignRead
    // frame writes them as one proof list (wire/checkpoint.ts).
    return lookups.map(({ view, entity }) => {
      const s = this.views.get(view);
      if (!s?.proving) return null;
      return toWireProof(s.proving.seq, s.map.provePacked(this.keyOf(view, entity)));
    });
  }

  private keyOf(view: string, entity: string): Buffer {
    let byEntity = this.keyCache.get(view);
    if (byEntity === undefined) {
      byEntity = new Map();
      this.keyCache.set(view, byEntity);
    }
    let key = byEntity.get(entity);
    if (key === undefined) {
      if (this.keyCacheSize >= KEY_CACHE_ENTRIES) {
        this.keyCache.clear();
        this.keyCacheSize = 0;
        byEntity = new Map();
        this.keyCache.set(view, byEntity);
      }
      key = entityMapKey(view, entity);
      byEntity.set(entity, key);
      this.keyCacheSize++;
    }
    return key;
  }

  /**
   * Whether reads of `view` should wait (503 checkpoint_pending): before the first poll after the
   * signer (re)connected, or while the view's published checkpoint is being forwarded (or refused:
   * often only until the key directory reaches a restarted signer). A view with no log does not
   * wait: its answers say fresh_as_of null, and consumers reject them.
   */
  pending(view: string): boolean {
    // Bounded: a follower that cannot reach the signer's provision channel or the store must not turn
    // every read into a 503 forever; after PENDING_MAX_MS reads go on unproven (verifiers reject them;
    // readiness and lane_checkpoint_age_seconds say why).
    if (this.now() - this.pendingSince > PENDING_MAX_MS) return false;
    if (!this.polled) return true;
    const s = this.views.get(view);
    return s !== undefined && s.headSeen && s.proving === null;
  }

  /** For /health/ready: every view with a log is proven. */
  get ready(): boolean {
    if (!this.polled) return false;
    for (const s of this.views.values()) if (s.headSeen && s.proving === null) return false;
    return true;
  }

  /** Whether any view has a checkpoint to prove against (reads without one skip the proof work). */
  get active(): boolean {
    for (const s of this.views.values()) if (s.proving) return true;
    return false;
  }

  /** The signer (re)connected: it holds no checkpoint; forward the current ones again at the next poll. */
  signerReconnected(): void {
    for (const s of this.views.values()) {
      s.accepted = 0;
      s.proving = null;
    }
    this.polled = false;
    this.pendingSince = this.now();
    void this.poll();
  }

  start(): void {
    void this.poll();
    this.timer = setInterval(() => void this.poll(), this.options.pollMs ?? 250);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One round over every view. Never throws; concurrent calls share the round. */
  poll(): Promise<void> {
    if (this.running) return this.running;
    this.running = (async () => {
      if (!this.options.signer.up) return;
      for (const view of this.options.views()) {
        try {
          await this.followView(view);
        } catch (err) {
          // Transient (store or signer busy, reconnecting): reads keep waiting, within PENDING_MAX_MS.
          this.options.logger?.warn({ view, err: (err as Error).message }, "checkpoint follow failed; retried at the next poll");
        }
      }
      this.polled = true;
    })().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private stateOf(view: string): ViewState {
    let s = this.views.get(view);
    if (!s) {
      s = { map: new EntityMap(), appliedChange: 0, proving: null, accepted: 0, needSnapshot: false, headSeen: false };
      this.views.set(view, s);
    }
    return s;
  }

  private async followView(view: string): Promise<void> {
    const keys = checkpointLogKeys(view, this.options.keyPrefix);
    const got = await this.options.store.get(keys.head);
    if (!got.found) return;
    this.stateOf(view).headSeen = true;
    const head = decodeLogHead(got.body, view);
    const sealed = parseSealedCheckpoint(head.checkpoint);
    if (sealed.checkpoint.view !== view || sealed.checkpoint.seq !== head.seq) throw new Error("log head names another checkpoint than it carries");
    const s = this.stateOf(view);
    // An older head (a store serving stale data) is ignored: the signer would refuse it anyway.
    if (head.seq <= s.accepted) return;
    const root = sealed.checkpoint.root;
    const plan = await this.plan(view, s, head, root);
    const reply = await this.options.signer.provideCheckpoints([head.checkpoint]);
    const refused = reply.refused.find((r) => r.index === 0);
    if (refused) {
      // Often transient (the key directory is still on its way to a restarted signer; another
      // forwarder on the same signer was first with a newer seq): the next poll forwards again, and
      // reads wait for at most PENDING_MAX_MS.
      this.options.logger?.warn({ view, seq: head.seq, code: refused.code, message: refused.message }, "signer refused a checkpoint");
      return;
    }
    const held = reply.held.find((h) => h.view === view);
    if (!held || held.seq !== head.seq) return;
    // From here to the end: synchronous, so reads see either the old map and seq or the new ones.
    if (!this.apply(s, view, plan, root)) {
      this.options.logger?.warn({ view, seq: head.seq }, "rebuilt entity map does not match the checkpoint root; proving against the previous checkpoint, snapshot next");
      return;
    }
    s.accepted = head.seq;
    s.appliedChange = head.last_change;
    s.proving = { seq: head.seq, asOf: sealed.checkpoint.as_of };
  }

  /** Fetch what turns the map into the head's: nothing (same root), the deltas since ours, or a map from the snapshot. */
  private async plan(view: string, s: ViewState, head: LogHead, root: Buffer): Promise<Plan> {
    if (s.map.rootHash().equals(root)) return { kind: "none" };
    if (!s.needSnapshot && s.appliedChange <= head.last_change) {
      const deltas = await this.deltasBetween(view, s.appliedChange, head.last_change);
      if (deltas) return { kind: "deltas", deltas };
    }
    return { kind: "map", map: await this.fromSnapshot(view, head, root) };
  }

  /** The deltas after `from` up to `to`, oldest first, walking back the prev chain; null if the chain does not lead to `from`. */
  private async deltasBetween(view: string, from: number, to: number): Promise<LogDelta[] | null> {
    const keys = checkpointLogKeys(view, this.options.keyPrefix);
    const out: LogDelta[] = [];
    let at = to;
    while (at > from) {
      if (out.length >= MAX_DELTA_WALK) return null;
      const got = await this.options.store.get(keys.delta(at));
      if (!got.found) return null;
      const d = decodeLogDelta(got.body, view, at);
      out.push(d);
      at = d.prev;
    }
    return at === from ? out.reverse() : null;
  }

  private async fromSnapshot(view: string, head: LogHead, root: Buffer): Promise<EntityMap> {
    if (!head.snapshot) throw new Error("no snapshot to rebuild from");
    const keys = checkpointLogKeys(view, this.options.keyPrefix);
    const { seq, parts } = head.snapshot;
    const map = new EntityMap();
    for (let p = 0; p < parts; p++) {
      const got = await this.options.store.get(keys.snapshotPart(seq, p));
      if (!got.found) throw new Error(`snapshot ${seq} part ${p} missing`);
      for (const [entity, value] of decodeLogSnapshotPart(got.body, view, seq, p, parts).entries) map.set(entityMapKey(view, entity), value);
    }
    if (head.last_change > seq) {
      const deltas = await this.deltasBetween(view, seq, head.last_change);
      if (!deltas) throw new Error(`deltas after snapshot ${seq} do not chain`);
      for (const d of deltas) applyDelta(map, view, d, null);
    }
    if (!map.rootHash().equals(root)) throw new Error(`snapshot ${seq} and its deltas do not rebuild the checkpoint root`);
    return map;
  }

  /** Apply a plan in place; on a root mismatch undo it and return false. Synchronous. */
  private apply(s: ViewState, view: string, plan: Plan, root: Buffer): boolean {
    if (plan.kind === "none") return s.map.rootHash().equals(root);
    if (plan.kind === "map") {
      s.map = plan.map;
      s.needSnapshot = false;
      return true;
    }
    const undo: Array<readonly [Buffer, Buffer | undefined]> = [];
    for (const d of plan.deltas) applyDelta(s.map, view, d, undo);
    if (s.map.rootHash().equals(root)) return true;
    for (let i = undo.length - 1; i >= 0; i--) {
      const [key, before] = undo[i]!;
      if (before === undefined) s.map.delete(key);
      else s.map.set(key, before);
    }
    s.needSnapshot = true;
    return false;
  }
}

function applyDelta(map: EntityMap, view: string, d: LogDelta, undo: Array<readonly [Buffer, Buffer | undefined]> | null): void {
  for (const [entity, value] of d.changes) {
    const key = entityMapKey(view, entity);
    if (undo) {
      const before = map.get(key);
      undo.push([key, before === undefined ? undefined : Buffer.from(before)]);
    }
    if (value === null) map.delete(key);
    else map.set(key, value);
  }
}

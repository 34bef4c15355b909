/**
 * A view's sequencer (issue #16, docs/trust.md P8, docs/operations.md "The checkpoint sequencer"):
 * the one writer-side process that owns a view's entity map (wire/entity-map.ts), learns every
 * write from the writers themselves — never by scanning the store, which the hostile host can
 * refill with old genuine objects first — and seals a numbered checkpoint of the map's root under
 * its writer key (wire/checkpoint.ts) after every batch of reports and as a 1 s heartbeat. It
 * publishes them to the store as the view's checkpoint log (wire/checkpoint-log.ts), which every
 * host follows (runtime/checkpoint-follower.ts).
 *
 * State (its own state dir, never the store): per view `<view>.state` (the map's entries, seq,
 * as_of and log pointers, rewritten now and then) and `<view>.journal` (one JSON line per sealed
 * checkpoint, fsynced before the checkpoint is published, so seq only moves forward across
 * restarts: a sequencer that came back with an older seq would seal a different body under a seq
 * enclaves already hold, which they refuse as checkpoint_conflict). A lock file keeps a second
 * sequencer off the same state.
 *
 * Writer-side code: it holds a writer key. No import of enclave/ or runtime/ except the store
 * client it publishes with.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { Packr } from "msgpackr";
import { sealCheckpoint, parseEntityMapValue } from "../wire/checkpoint";
import { checkpointLogKeys, encodeLogDelta, encodeLogHead, encodeLogSnapshotPart, MAX_LOG_ENTRIES } from "../wire/checkpoint-log";
import { EntityMap, entityMapKey, VALUE_BYTES } from "../wire/entity-map";
import type { ObjectWriter } from "../runtime/store/types";

/** Heartbeat: a new seq (same root, new as_of) when nothing else was sealed for this long. */
export const HEARTBEAT_MS = 1000;
/** A snapshot after this many deltas (or when the changes since the last one exceed a quarter of the map). */
const SNAPSHOT_EVERY_DELTAS = 64;
/** The journal is folded into the state file after this many lines. */
const COMPACT_EVERY_LINES = 600;

export type Change = readonly [entity: string, value: Buffer | null];

export interface SequencerKey {
  readonly kid: string;
  readonly key: Uint8Array;
}

export interface ReportOutcome {
  readonly view: string;
  readonly seq: number;
  readonly as_of: number;
  /** Changes that moved the map. */
  readonly applied: number;
  /** Same value as held already. */
  readonly unchanged: number;
  /** Values older (event time) than the one held: a late or replayed report; newer event time wins. */
  readonly ignored_older: number;
}

export interface SequencedCheckpoint {
  readonly seq: number;
  readonly as_of: number;
  readonly root: Buffer;
  readonly entities: number;
  readonly sealed: Buffer;
}

interface Snapshot {
  readonly seq: number;
  readonly parts: number;
}

interface JournalLine {
  readonly seq: number;
  readonly as_of: number;
  readonly last_change: number;
  readonly snapshot: Snapshot | null;
  readonly changes?: ReadonlyArray<readonly [string, string | null]>;
}

const packr = new Packr({ useRecords: false, moreTypes: false });
const eventTimeOf = (value: Buffer): number => parseEntityMapValue(value).eventTimeMs;

export class SequencerStateError extends Error {}

/**
 * One view's sequencer. Reports are applied in arrival order, coalesced: while one checkpoint is
 * being sealed and published, reports that arrive wait and go into the next one.
 */
export class ViewSequencer {
  private readonly entries = new Map<string, Buffer>();
  private readonly map = new EntityMap();
  private seq = 0;
  private asOf = 0;
  private lastChange = 0;
  private snapshot: Snapshot | null = null;
  private deltasSinceSnapshot = 0;
  private changesSinceSnapshot = 0;
  private journalLines = 0;
  /** The first publication after a start (or after a failed one) writes a snapshot: it covers anything a crash left unpublished. */
  private needSnapshot = true;
  private lastSealed: SequencedCheckpoint | null = null;
  private lastPublishedAt = 0;
  private readonly queue: Array<{ changes: readonly Change[]; resolve(o: ReportOutcome): void; reject(e: Error): void }> = [];
  private running = false;
  private journalFd: number | null = null;
  private readonly statePath: string;
  private readonly journalPath: string;
  private readonly lockPath: string;

  constructor(
    private readonly options: {
      readonly view: string;
      readonly lane: string;
      readonly key: SequencerKey;
      readonly store: ObjectWriter;
      readonly stateDir: string;
      readonly keyPrefix?: string;
      readonly now?: () => number;
      readonly onPublished?: (c: SequencedCheckpoint) => void;
      readonly onError?: (err: Error) => void;
    },
  ) {
    checkpointLogKeys(options.view); // validates the view name
    mkdirSync(options.stateDir, { recursive: true, mode: 0o700 });
    this.statePath = join(options.stateDir, `${options.view}.state`);
    this.journalPath = join(options.stateDir, `${options.view}.journal`);
    this.lockPath = join(options.stateDir, `${options.view}.lock`);
    this.lock();
    this.loadState();
    this.journalFd = openSync(this.journalPath, "a", 0o600);
  }

  get view(): string {
    return this.options.view;
  }

  /** What the sequencer has sealed last (null before its first checkpoint). */
  get current(): SequencedCheckpoint | null {
    return this.lastSealed;
  }

  get size(): number {
    return this.entries.size;
  }

  get rootHash(): Buffer {
    return this.map.rootHash();
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** One sequencer per view and state dir: a second one would fork the seq. A stale lock (dead pid) is taken over. */
  private lock(): void {
    if (existsSync(this.lockPath)) {
      const pid = Number(readFileSync(this.lockPath, "utf8").trim());
      let alive = false;
      if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid) {
        try {
          process.kill(pid, 0);
          alive = true;
        } catch {
          alive = false;
        }
      }
      if (alive) throw new SequencerStateError(`${this.lockPath}: another sequencer (pid ${pid}) owns view ${this.options.view}'s state`);
      if (pid === process.pid) throw new SequencerStateError(`${this.lockPath}: this process already runs a sequencer for view ${this.options.view}`);
    }
    writeFileSync(this.lockPath, `${process.pid}\n`, { mode: 0o600 });
  }

  private loadState(): void {
    if (existsSync(this.statePath)) {
      const s = packr.unpack(readFileSync(this.statePath)) as {
        v: number;
        view: string;
        lane: string;
        seq: number;
        as_of: number;
        last_change: number;
        snapshot: Snapshot | null;
        entries: Array<[string, Uint8Array]>;
      };
      if (s.v !== 1 || s.view !== this.options.view) throw new SequencerStateError(`${this.statePath}: not the state of view ${this.options.view}`);
      if (s.lane !== this.options.lane) throw new SequencerStateError(`${this.statePath}: state of lane ${s.lane}, not ${this.options.lane}`);
      for (const [entity, value] of s.entries) this.setEntry(entity, Buffer.from(value));
      this.seq = s.seq;
      this.asOf = s.as_of;
      this.lastChange = s.last_change;
      this.snapshot = s.snapshot;
    }
    if (existsSync(this.journalPath)) {
      const lines = readFileSync(this.journalPath, "utf8").split("\n");
      for (const line of lines) {
        if (line.trim() === "") continue;
        let j: JournalLine;
        try {
          j = JSON.parse(line) as JournalLine;
        } catch {
          // A torn last line (crash mid-append): that checkpoint was never published (publication follows the fsync).
          break;
        }
        if (j.seq <= this.seq) continue;
        for (const [entity, hex] of j.changes ?? []) {
          if (hex === null) this.deleteEntry(entity);
          else this.setEntry(entity, Buffer.from(hex, "hex"));
        }
        this.seq = j.seq;
        this.asOf = j.as_of;
        this.lastChange = j.last_change;
        this.snapshot = j.snapshot;
        this.journalLines++;
      }
    }
  }

  private setEntry(entity: string, value: Buffer): void {
    if (value.length !== VALUE_BYTES) throw new SequencerStateError(`value of ${entity} is not ${VALUE_BYTES} bytes`);
    this.entries.set(entity, value);
    this.map.set(entityMapKey(this.options.view, entity), value);
  }

  private deleteEntry(entity: string): void {
    if (this.entries.delete(entity)) this.map.delete(entityMapKey(this.options.view, entity));
  }

  /** Apply writers' reports (entity → its new object's 40-byte value, or null: removed) and seal a checkpoint. */
  report(changes: readonly Change[]): Promise<ReportOutcome> {
    for (const [entity, value] of changes) {
      if (typeof entity !== "string" || entity.length === 0) return Promise.reject(new RangeError("a change needs an entity"));
      if (value !== null && value.length !== VALUE_BYTES) return Promise.reject(new RangeError(`a value is ${VALUE_BYTES} bytes`));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ changes, resolve, reject });
      void this.pump();
    });
  }

  /** A heartbeat (same root, new seq and as_of) unless something was sealed within HEARTBEAT_MS. */
  heartbeat(minGapMs = HEARTBEAT_MS - 50): Promise<ReportOutcome> | null {
    if (this.running || this.queue.length > 0 || this.now() - this.lastPublishedAt < minGapMs) return null;
    return this.report([]);
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0);
        const counts = batch.map(() => ({ applied: 0, unchanged: 0, ignored_older: 0 }));
        // entity → final value of this step (Map keeps first-seen order).
        const effective = new Map<string, Buffer | null>();
        batch.forEach((item, i) => {
          for (const [entity, value] of item.changes) {
            const held = effective.has(entity) ? effective.get(entity)! : (this.entries.get(entity) ?? null);
            if (value === null) {
              if (held === null) counts[i].unchanged++;
              else {
                effective.set(entity, null);
                counts[i].applied++;
              }
            } else if (held !== null && held.equals(value)) counts[i].unchanged++;
            else if (held !== null && eventTimeOf(held) > eventTimeOf(value)) counts[i].ignored_older++;
            else {
              effective.set(entity, value);
              counts[i].applied++;
            }
          }
        });
        try {
          const sealed = await this.step([...effective].filter(([e, v]) => (v === null ? this.entries.has(e) : !this.entries.get(e)?.equals(v))));
          batch.forEach((item, i) => item.resolve({ view: this.options.view, seq: sealed.seq, as_of: sealed.as_of, ...counts[i] }));
        } catch (err) {
          this.options.onError?.(err as Error);
          for (const item of batch) item.reject(err as Error);
        }
      }
    } finally {
      this.running = false;
    }
  }

  /** Apply, journal (fsync), then publish: deltas and snapshot first, the head last. */
  private async step(changes: ReadonlyArray<readonly [string, Buffer | null]>): Promise<SequencedCheckpoint> {
    const keys = checkpointLogKeys(this.options.view, this.options.keyPrefix);
    const deltas: Array<{ key: string; bytes: Buffer }> = [];
    const journal: JournalLine[] = [];
    let seq = this.seq;
    // as_of never moves back (enclaves refuse a checkpoint older than the one they hold).
    const asOf = Math.max(this.now(), this.asOf);
    for (let i = 0; i < changes.length; i += MAX_LOG_ENTRIES) {
      const chunk = changes.slice(i, i + MAX_LOG_ENTRIES);
      for (const [entity, value] of chunk) {
        if (value === null) this.deleteEntry(entity);
        else this.setEntry(entity, value);
      }
      seq++;
      deltas.push({ key: keys.delta(seq), bytes: encodeLogDelta({ view: this.options.view, seq, prev: this.lastChange, root: this.map.rootHash(), changes: chunk }) });
      this.lastChange = seq;
      this.deltasSinceSnapshot++;
      this.changesSinceSnapshot += chunk.length;
      journal.push({ seq, as_of: asOf, last_change: seq, snapshot: this.snapshot, changes: chunk.map(([e, v]) => [e, v === null ? null : v.toString("hex")] as const) });
    }
    if (changes.length === 0) {
      seq++;
      journal.push({ seq, as_of: asOf, last_change: this.lastChange, snapshot: this.snapshot });
    }
    const snapshotDue =
      this.needSnapshot ||
      this.snapshot === null ||
      this.deltasSinceSnapshot >= SNAPSHOT_EVERY_DELTAS ||
      this.changesSinceSnapshot > Math.max(MAX_LOG_ENTRIES, this.entries.size / 4);
    const snapshotParts: Array<{ key: string; bytes: Buffer }> = [];
    if (snapshotDue) {
      const sorted = [...this.entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      const parts = Math.max(1, Math.ceil(sorted.length / MAX_LOG_ENTRIES));
      const root = this.map.rootHash();
      for (let p = 0; p < parts; p++) {
        snapshotParts.push({
          key: keys.snapshotPart(seq, p),
          bytes: encodeLogSnapshotPart({ view: this.options.view, seq, part: p, parts, root, entries: sorted.slice(p * MAX_LOG_ENTRIES, (p + 1) * MAX_LOG_ENTRIES) }),
        });
      }
      this.snapshot = { seq, parts };
      journal[journal.length - 1] = { ...journal[journal.length - 1], snapshot: this.snapshot };
    }
    const root = this.map.rootHash();
    const sealedBytes = sealCheckpoint(
      { lane: this.options.lane, view: this.options.view, seq, as_of: asOf, root, entities: this.entries.size },
      this.options.key.kid,
      this.options.key.key,
    );
    // Durable before anyone can see it: the seq is spent once it is journalled.
    this.appendJournal(journal);
    this.seq = seq;
    this.asOf = asOf;
    const sealed: SequencedCheckpoint = { seq, as_of: asOf, root, entities: this.entries.size, sealed: sealedBytes };
    this.lastSealed = sealed;
    try {
      const store = this.options.store;
      await Promise.all([...deltas, ...snapshotParts].map((o) => store.put(o.key, o.bytes, { contentType: "application/msgpack" })));
      await store.put(keys.head, encodeLogHead({ view: this.options.view, seq, checkpoint: sealedBytes, last_change: this.lastChange, snapshot: this.snapshot }), {
        contentType: "application/msgpack",
      });
    } catch (err) {
      // The next checkpoint carries a snapshot, so followers never depend on a delta that was lost here.
      this.needSnapshot = true;
      throw err;
    }
    if (snapshotDue) {
      this.needSnapshot = false;
      this.deltasSinceSnapshot = 0;
      this.changesSinceSnapshot = 0;
    }
    this.lastPublishedAt = this.now();
    this.options.onPublished?.(sealed);
    if (this.journalLines >= COMPACT_EVERY_LINES) this.compact();
    return sealed;
  }

  private appendJournal(lines: readonly JournalLine[]): void {
    if (this.journalFd === null) throw new SequencerStateError("sequencer is closed");
    writeSync(this.journalFd, lines.map((l) => `${JSON.stringify(l)}\n`).join(""));
    fsyncSync(this.journalFd);
    this.journalLines += lines.length;
  }

  /** Fold the journal into the state file (atomic rename), then start an empty journal. */
  private compact(): void {
    const tmp = `${this.statePath}.tmp`;
    const bytes = packr.pack({
      v: 1,
      view: this.options.view,
      lane: this.options.lane,
      seq: this.seq,
      as_of: this.asOf,
      last_change: this.lastChange,
      snapshot: this.snapshot,
      entries: [...this.entries],
    });
    const fd = openSync(tmp, "w", 0o600);
    writeSync(fd, bytes);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, this.statePath);
    if (this.journalFd !== null) closeSync(this.journalFd);
    this.journalFd = openSync(this.journalPath, "w", 0o600);
    fsyncSync(this.journalFd);
    this.journalLines = 0;
  }

  /** Waits for what is queued, folds the journal, releases the lock. */
  async close(): Promise<void> {
    while (this.running || this.queue.length > 0) await new Promise((r) => setTimeout(r, 10));
    if (this.journalFd === null) return;
    this.compact();
    closeSync(this.journalFd);
    this.journalFd = null;
    try {
      unlinkSync(this.lockPath);
    } catch {
      /* already gone */
    }
  }
}

import { Packr } from "msgpackr";
import { objectKey } from "../../wire/object";
import {
  checkpointLogKeys,
  CheckpointLogError,
  decodeLogDelta,
  decodeLogHead,
  decodeLogSnapshotPart,
  encodeLogDelta,
  encodeLogHead,
  encodeLogSnapshotPart,
  MAX_LOG_ENTRIES,
} from "../../wire/checkpoint-log";

const v40 = (b: number) => Buffer.alloc(40, b);
const root = Buffer.alloc(32, 7);
const packr = new Packr({ useRecords: false, moreTypes: false });

describe("checkpoint log keys", () => {
  it("never collide with entity object keys, for any prefix", () => {
    const k = checkpointLogKeys("user_profile", "p/");
    for (const key of [k.head, k.delta(3), k.snapshotPart(5, 0)]) {
      expect(key.startsWith("p/_lane/checkpoints/user_profile/")).toBe(true);
      // An entity object key is {prefix}{view}/…, and views start with a letter.
      expect(key.slice(2)[0]).toBe("_");
      expect(objectKey("user_profile", "_lane", "p/")).not.toBe(key);
    }
    expect(k.delta(12)).toBe("p/_lane/checkpoints/user_profile/delta/0000000000000012");
    expect(k.snapshotPart(9, 2)).toBe("p/_lane/checkpoints/user_profile/snapshot/0000000000000009/000002");
    expect(() => checkpointLogKeys("../x")).toThrow(CheckpointLogError);
    expect(() => checkpointLogKeys("_lane")).toThrow(CheckpointLogError);
  });
});

describe("checkpoint log records", () => {
  it("round-trip head, delta and snapshot part", () => {
    const head = { view: "v", seq: 9, checkpoint: Buffer.from("sealed"), last_change: 4, snapshot: { seq: 2, parts: 1 } };
    expect(decodeLogHead(encodeLogHead(head), "v")).toEqual(head);
    const delta = {
      view: "v",
      seq: 4,
      prev: 2,
      root,
      changes: [
        ["a", v40(1)],
        ["b", null],
      ] as Array<[string, Buffer | null]>,
    };
    expect(decodeLogDelta(encodeLogDelta(delta), "v", 4)).toEqual(delta);
    const part = { view: "v", seq: 2, part: 0, parts: 1, root, entries: [["a", v40(2)]] as Array<[string, Buffer]> };
    expect(decodeLogSnapshotPart(encodeLogSnapshotPart(part), "v", 2, 0, 1)).toEqual(part);
  });

  it("refuses records for another view or position (a host moving log objects around)", () => {
    const delta = encodeLogDelta({ view: "v", seq: 4, prev: 2, root, changes: [] });
    expect(() => decodeLogDelta(delta, "w", 4)).toThrow(CheckpointLogError);
    expect(() => decodeLogDelta(delta, "v", 5)).toThrow(/another seq/);
    const part = encodeLogSnapshotPart({ view: "v", seq: 2, part: 0, parts: 2, root, entries: [] });
    expect(() => decodeLogSnapshotPart(part, "v", 2, 1, 2)).toThrow(/another position/);
    expect(() => decodeLogHead(encodeLogHead({ view: "v", seq: 1, checkpoint: Buffer.alloc(1), last_change: 0, snapshot: null }), "w")).toThrow(CheckpointLogError);
  });

  it("bounds what it parses", () => {
    const bad = (m: unknown) => packr.pack(m);
    expect(() => decodeLogHead(Buffer.from([0xc1]), "v")).toThrow(CheckpointLogError);
    expect(() => decodeLogHead(bad({ v: 2, view: "v" }), "v")).toThrow(/v1 map/);
    expect(() => decodeLogHead(bad({ v: 1, view: "v", seq: 1, checkpoint: Buffer.alloc(2000), last_change: 0 }), "v")).toThrow(/sealed checkpoint/);
    expect(() => decodeLogHead(bad({ v: 1, view: "v", seq: 1, checkpoint: Buffer.alloc(1), last_change: 2 }), "v")).toThrow(/out of range/);
    expect(() => decodeLogDelta(bad({ v: 1, view: "v", seq: 3, prev: 3, root, changes: [] }), "v", 3)).toThrow(/prev/);
    expect(() => decodeLogDelta(bad({ v: 1, view: "v", seq: 3, prev: 1, root, changes: [["a", Buffer.alloc(39)]] }), "v", 3)).toThrow(/40 bytes/);
    expect(() => decodeLogDelta(bad({ v: 1, view: "v", seq: 3, prev: 1, root, changes: [["", null]] }), "v", 3)).toThrow(/entity/);
    expect(() => decodeLogDelta(bad({ v: 1, view: "v", seq: 3, prev: 1, root: Buffer.alloc(31), changes: [] }), "v", 3)).toThrow(/root/);
    expect(() => decodeLogDelta(bad({ v: 1, view: "v", seq: 3, prev: 1, root, changes: Array.from({ length: MAX_LOG_ENTRIES + 1 }, () => ["a", null]) }), "v", 3)).toThrow(
      /at most/,
    );
    expect(() => decodeLogSnapshotPart(bad({ v: 1, view: "v", seq: 2, part: 0, parts: 1, root, entries: [["a", null]] }), "v", 2, 0, 1)).toThrow(/40 bytes/);
    expect(() => encodeLogDelta({ view: "v", seq: 2, prev: 2, root, changes: [] })).toThrow(CheckpointLogError);
  });
});

import { featureTime, mergeRow } from "../../wire/merge";
import { decodeObjectBody, decodeObjectBodyProjected, encodeObjectBody, KeySelector, type FeatureObject } from "../../wire/object";

const T = 1_800_000_000_000;
const current: FeatureObject = { v: 2, view: "users", entity: "u1", event_time: T, written_time: T + 5, features: { a: 1, b: "two" } };

describe("wire/merge", () => {
  it("merge keeps the features a row does not carry, with their own (older) event times", () => {
    const r = mergeRow("users", current, { entity: "u1", event_time: T + 1000, features: { a: 2 } }, "merge");
    expect(r).toEqual({ ok: true, unchanged: false, object: { view: "users", entity: "u1", event_time: T + 1000, features: { a: 2, b: "two" }, feature_times: { b: T } } });
    if (!r.ok || r.unchanged) throw new Error("expected an object");
    expect(featureTime(r.object, "a")).toBe(T + 1000);
    expect(featureTime(r.object, "b")).toBe(T);
  });

  it("replace drops the features the row does not carry", () => {
    const r = mergeRow("users", current, { entity: "u1", event_time: T + 1000, features: { a: 2 } }, "replace");
    expect(r).toEqual({ ok: true, unchanged: false, object: { view: "users", entity: "u1", event_time: T + 1000, features: { a: 2 } } });
  });

  it("refuses a row older than the stored object, saying which is newer", () => {
    const r = mergeRow("users", current, { entity: "u1", event_time: T - 1, features: { a: 2 } }, "merge");
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.code).toBe("older_than_stored");
    expect(r.message).toContain(new Date(T).toISOString());
  });

  it("a delete is a tombstone; an older write after it is refused; a newer one starts afresh (no merge with the tombstone)", () => {
    const del = mergeRow("users", current, { entity: "u1", event_time: T + 10, features: {}, deleted: true }, "merge");
    expect(del).toEqual({ ok: true, unchanged: false, object: { view: "users", entity: "u1", event_time: T + 10, features: {}, deleted: true } });
    if (!del.ok || del.unchanged) return;
    const tomb: FeatureObject = { v: 2, written_time: T + 11, ...del.object };
    const older = mergeRow("users", tomb, { entity: "u1", event_time: T + 5, features: { a: 3 } }, "merge");
    expect(older).toMatchObject({ ok: false, code: "older_than_stored" });
    if (!older.ok) expect(older.message).toMatch(/deleted/);
    expect(mergeRow("users", tomb, { entity: "u1", event_time: T + 20, features: { a: 3 } }, "merge")).toEqual({
      ok: true,
      unchanged: false,
      object: { view: "users", entity: "u1", event_time: T + 20, features: { a: 3 } },
    });
  });

  it("a row that changes nothing is unchanged (idempotent re-push); a tie with other values wins", () => {
    expect(mergeRow("users", current, { entity: "u1", event_time: T, features: { a: 1 } }, "merge")).toEqual({ ok: true, unchanged: true });
    expect(mergeRow("users", current, { entity: "u1", event_time: T, features: { a: 9 } }, "merge")).toMatchObject({ ok: true, unchanged: false });
    // replace at the same time with a subset is a change (b goes away)
    expect(mergeRow("users", current, { entity: "u1", event_time: T, features: { a: 1 } }, "replace")).toMatchObject({ ok: true, unchanged: false });
  });

  it("repeated merges keep each feature's own time and drop entries equal to the object's", () => {
    const first = mergeRow("users", current, { entity: "u1", event_time: T + 1000, features: { a: 2 } }, "merge");
    if (!first.ok || first.unchanged) throw new Error();
    const second = mergeRow("users", { v: 2, written_time: 0, ...first.object }, { entity: "u1", event_time: T + 2000, features: { b: "three" } }, "merge");
    expect(second).toMatchObject({ ok: true, object: { event_time: T + 2000, features: { a: 2, b: "three" }, feature_times: { a: T + 1000 } } });
  });
});

describe("wire/object layout v2 optional fields", () => {
  it("feature_times and deleted round-trip through full and projected decoding; absent fields add no bytes", () => {
    const plain = encodeObjectBody({ view: "users", entity: "u1", event_time: T, written_time: T, features: { a: 1 } });
    expect(encodeObjectBody({ view: "users", entity: "u1", event_time: T, written_time: T, features: { a: 1 }, feature_times: {} })).toEqual(plain);
    expect(decodeObjectBody(plain)).not.toHaveProperty("feature_times");
    const merged = encodeObjectBody({ view: "users", entity: "u1", event_time: T, written_time: T, features: { a: 1, b: "x" }, feature_times: { b: T - 5 } });
    expect(decodeObjectBody(merged).feature_times).toEqual({ b: T - 5 });
    expect(decodeObjectBodyProjected(merged, new KeySelector(["b"])).feature_times).toEqual({ b: T - 5 });
    const tomb = encodeObjectBody({ view: "users", entity: "u1", event_time: T, written_time: T, features: {}, deleted: true });
    expect(decodeObjectBody(tomb).deleted).toBe(true);
    expect(decodeObjectBodyProjected(tomb, new KeySelector(["a"])).deleted).toBe(true);
  });
});

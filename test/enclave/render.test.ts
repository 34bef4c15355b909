import fc from "fast-check";
import { Unpackr } from "msgpackr";
import { isoTime, renderRead } from "../../enclave/render";
import { generateSealKey, SealKeyring } from "../../enclave/seal";
import { defineRegistry } from "../../wire/registry";
import type { ReadRequest } from "../../wire/request";

const registry = defineRegistry([
  {
    name: "users",
    entityKey: "user_id",
    owner: "tests",
    description: "render tests",
    ttlSeconds: 3600, // reads below are at event_time: never outside max age
    features: [
      { name: "seen", type: "timestamp" },
      { name: "score", type: "float" },
      { name: "tags", type: "string" },
    ],
  },
]);
const seals = new SealKeyring([generateSealKey("render")]);
const request = (format: ReadRequest["format"], entities: string[], features: string[] | null): ReadRequest => ({
  kind: entities.length === 1 ? "single" : "batch",
  view: "users",
  entities,
  features,
  format,
  signature: { label: "sig1" },
});

describe("enclave/render", () => {
  it("reports each entity's status and age at the read time, in request order (metrics only)", () => {
    const readTimeMs = 1_800_000_000_000;
    const fresh = seals.seal({ view: "users", entity: "u1", event_time: readTimeMs - 30_000, written_time: readTimeMs - 20_000, features: { score: 1 } });
    const old = seals.seal({ view: "users", entity: "u2", event_time: readTimeMs - 7_200_000, written_time: readTimeMs - 7_000_000, features: { score: 2 } });
    const rendered = renderRead(request("json", ["u1", "u2", "u3", "u4"], null), [fresh, old, null, Buffer.from("not an object")], { seals, readTimeMs, registry });
    expect(rendered.served).toEqual([{ status: "found", ageSeconds: 30 }, { status: "outside_max_age", ageSeconds: 7200 }, { status: "not_found" }, { status: "refused" }]);
    const single = renderRead(request("json", ["u2"], ["score"]), [old], { seals, readTimeMs, registry });
    expect(single.served).toEqual([{ status: "outside_max_age", ageSeconds: 7200 }]);
  });

  // Times are turned into JSON text before JSON.stringify (the fast serializer path): the answer
  // must be byte-for-byte what stringifying Date objects gives, invalid dates included (null).
  it("writes times in JSON exactly as JSON.stringify writes Date objects", () => {
    const ms = fc.oneof(fc.integer({ min: -(8.64e15 + 5), max: 8.64e15 + 5 }), fc.maxSafeInteger());
    fc.assert(
      fc.property(ms, ms, ms, fc.boolean(), (eventTime, writtenTime, seen, projected) => {
        const bytes = seals.seal({ view: "users", entity: "u1", event_time: eventTime, written_time: writtenTime, features: { seen: new Date(seen), score: 0.5 } });
        const wanted = projected ? ["seen", "tags"] : null;
        const rendered = renderRead(request("json", ["u1", "u1"], wanted), [bytes, bytes], { seals, readTimeMs: eventTime, registry });
        const one = {
          entity: "u1",
          found: true,
          event_time: new Date(eventTime),
          written_time: new Date(writtenTime),
          written_by: "unknown",
          fresh_as_of: null,
          features: projected ? { seen: new Date(seen), tags: null } : { seen: new Date(seen), score: 0.5, tags: null },
          status: projected ? { seen: "PRESENT", tags: "NOT_FOUND" } : { seen: "PRESENT", score: "PRESENT", tags: "NOT_FOUND" },
        };
        expect(rendered.body.toString("utf8")).toBe(JSON.stringify({ view: "users", max_staleness: 60, results: [one, one] }));
      }),
      { numRuns: 300 },
    );
  });

  it("formats times exactly as Date#toJSON, over Date's whole range and beyond", () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: 0, max: 253_402_300_800_000 + 10 }), fc.integer({ min: -(8.64e15 + 5), max: 8.64e15 + 5 }), fc.double()), (ms) => {
        expect(isoTime(ms)).toBe(new Date(ms).toJSON());
      }),
      { numRuns: 5_000 },
    );
    for (const ms of [0, 951_782_400_000, 951_868_799_999, 4_107_542_400_000, 253_402_300_799_999, 253_402_300_800_000, -1, 8.64e15, 8.64e15 + 1]) {
      expect(isoTime(ms)).toBe(new Date(ms).toJSON());
    }
  });

  it("keeps times as MessagePack timestamps in MessagePack answers", () => {
    const bytes = seals.seal({ view: "users", entity: "u1", event_time: 1_000, written_time: 2_000, features: { seen: new Date(3_000) } });
    const rendered = renderRead(request("msgpack", ["u1"], ["seen"]), [bytes], { seals, readTimeMs: 1_000, registry });
    const answer = new Unpackr({ useRecords: false, mapsAsObjects: true }).unpack(rendered.body);
    expect(answer.event_time).toEqual(new Date(1_000));
    expect(answer.written_time).toEqual(new Date(2_000));
    expect(answer.features.seen).toEqual(new Date(3_000));
  });
});

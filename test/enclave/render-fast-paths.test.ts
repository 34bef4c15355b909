/**
 * The session-7 fast paths of enclave/render.ts against the plain computation they replace: JSON
 * answers with array values (copied into packed arrays before JSON.stringify), the projection plan
 * kept from one request to the next (keyed by view definition and selector), the ISO-time cache.
 */
import fc from "fast-check";
import { isoTime, renderRead } from "../../enclave/render";
import { generateSealKey, SealKeyring } from "../../enclave/seal";
import { defineRegistry, type FeatureSpec } from "../../wire/registry";
import type { ReadRequest } from "../../wire/request";

const seals = new SealKeyring([generateSealKey("render-fast")]);
const registryOf = (features: FeatureSpec[]) =>
  defineRegistry([{ name: "users", entityKey: "user_id", owner: "tests", description: "render fast paths", ttlSeconds: 3600, features }]);
const request = (format: ReadRequest["format"], entities: string[], features: string[] | null): ReadRequest => ({
  kind: entities.length === 1 ? "single" : "batch",
  view: "users",
  entities,
  features,
  format,
  signature: { label: "sig1" },
});

describe("enclave/render fast paths", () => {
  it("writes array values in JSON answers exactly as JSON.stringify writes the stored arrays (NaN, -0, huge and tiny doubles)", () => {
    const registry = registryOf([
      { name: "vec", type: "float_array" },
      { name: "ints", type: "float_array" },
      { name: "seen", type: "timestamp" },
    ]);
    const floats = fc.array(fc.double(), { maxLength: 60 }).map((xs) => xs.map((x) => (Number.isFinite(x) || Number.isNaN(x) ? x : 0)));
    fc.assert(
      fc.property(floats, fc.array(fc.integer(), { maxLength: 20 }), fc.integer({ min: 0, max: 4e12 }), fc.boolean(), (vec, ints, seen, projected) => {
        const bytes = seals.seal({ view: "users", entity: "u1", event_time: 1_000, written_time: 2_000, features: { vec, ints, seen: new Date(seen) } });
        const wanted = projected ? ["ints", "vec"] : null;
        const rendered = renderRead(request("json", ["u1", "u1"], wanted), [bytes, bytes], { seals, readTimeMs: 1_000, registry });
        const one = {
          entity: "u1",
          found: true,
          event_time: new Date(1_000),
          written_time: new Date(2_000),
          written_by: "unknown",
          fresh_as_of: null,
          features: projected ? { ints, vec } : { vec, ints, seen: new Date(seen) },
          status: projected ? { ints: "PRESENT", vec: "PRESENT" } : { vec: "PRESENT", ints: "PRESENT", seen: "PRESENT" },
        };
        expect(rendered.body.toString("utf8")).toBe(JSON.stringify({ view: "users", max_staleness: 60, results: [one, one] }));
      }),
      { numRuns: 300 },
    );
  });

  it("projects with the view definition and selector of each request, alternating registries and selectors", () => {
    // Same view name, feature "score" typed float in one registry and string in the other: a plan
    // kept across requests by name rather than by definition would report the wrong status.
    const asFloat = registryOf([
      { name: "score", type: "float" },
      { name: "label", type: "string" },
    ]);
    const asString = registryOf([
      { name: "score", type: "string" },
      { name: "label", type: "string" },
      { name: "extra", type: "int" },
    ]);
    const bytes = seals.seal({ view: "users", entity: "u1", event_time: 1_000, written_time: 2_000, features: { score: 0.5, label: "x", extra: 3 } });
    const statusOf = (registry: typeof asFloat, features: string[] | null) =>
      JSON.parse(renderRead(request("json", ["u1"], features), [bytes], { seals, readTimeMs: 1_000, registry }).body.toString("utf8")).status;
    for (let round = 0; round < 3; round++) {
      expect(statusOf(asFloat, null)).toEqual({ score: "PRESENT", label: "PRESENT" });
      expect(statusOf(asString, null)).toEqual({ score: "TYPE_MISMATCH", label: "PRESENT", extra: "PRESENT" });
      expect(statusOf(asFloat, ["label"])).toEqual({ label: "PRESENT" });
      expect(statusOf(asString, ["score"])).toEqual({ score: "TYPE_MISMATCH" });
      expect(statusOf(asFloat, ["score"])).toEqual({ score: "PRESENT" });
    }
  });

  it("answers features named like Object.prototype's properties (and __proto__) exactly as property-by-property objects serialize", () => {
    const pool = ["constructor", "toString", "valueOf", "hasOwnProperty", "__proto__", "a", "b"];
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.constantFrom(...pool), { minLength: 1 }),
        fc.array(fc.oneof(fc.integer(), fc.string({ maxLength: 4 }), fc.constant(null)), { minLength: 7, maxLength: 7 }),
        fc.boolean(),
        (names, values, projected) => {
          const registry = registryOf(names.map((name) => ({ name, type: "string" as const })));
          const stored: Record<string, unknown> = {};
          names.forEach((name, i) => Object.defineProperty(stored, name, { value: values[i], enumerable: true, writable: true, configurable: true }));
          const bytes = seals.seal({ view: "users", entity: "u1", event_time: 1_000, written_time: 2_000, features: stored as never });
          const wanted = projected ? [...names].reverse() : null;
          const body = renderRead(request("json", ["u1"], wanted), [bytes], { seals, readTimeMs: 1_000, registry }).body.toString("utf8");
          // The objects as project() built them before plans had templates: {} and one store per name.
          const features: Record<string, unknown> = {};
          const status: Record<string, string> = {};
          for (const name of wanted ?? names) {
            const value = values[names.indexOf(name)];
            features[name] = typeof value === "number" ? null : value;
            status[name] = value === null ? "NULL_VALUE" : typeof value === "number" ? "TYPE_MISMATCH" : "PRESENT";
          }
          const expected = {
            view: "users",
            max_staleness: 60,
            entity: "u1",
            found: true,
            event_time: new Date(1_000),
            written_time: new Date(2_000),
            written_by: "unknown",
            fresh_as_of: null,
            features,
            status,
          };
          expect(body).toBe(JSON.stringify(expected));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("gives the same ISO text for a time however often and in whatever order times share a cache slot", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: -1e13, max: 4e12 }), fc.constantFrom(-0, NaN, Infinity, 8.64e15, 8.64e15 + 1, 0.5)), { minLength: 1, maxLength: 40 }),
        fc.nat(4),
        (base, spread) => {
          // Times 512 apart share a slot: interleave them.
          const times = base.flatMap((ms) => [ms, ms + 512 * spread, ms]);
          for (const ms of times) expect(isoTime(ms)).toBe(new Date(ms).toJSON());
        },
      ),
      { numRuns: 500 },
    );
  });
});

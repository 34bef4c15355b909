import { readFileSync } from "node:fs";
import { join } from "node:path";
import { defineRegistry, RegistryError, validateFlatRow, validatePushRow, coerceValue, RowError } from "../../wire/registry";
import { DEFAULT_REGISTRY, USER_PROFILE } from "../../registry/views";
import { demoObject } from "../../dev/lane/demo-data";
import { parseReadRequest } from "../../wire/request";
import type { LaneError } from "../../wire/errors";

const base = { name: "v", entityKey: "id", owner: "o", description: "d", ttlSeconds: 60, features: [{ name: "a", type: "int" as const }] };

describe("registry", () => {
  // Not a hard-coded list of views (every new view used to break this test): the bundled registry
  // is exactly the checked-in views file, and it has the views demo and bench code rely on.
  it("is the checked-in default views file, with the views demo and bench use", () => {
    const file = JSON.parse(readFileSync(join(__dirname, "../../registry/views.json"), "utf8")) as { views: { name: string }[] };
    expect(DEFAULT_REGISTRY.names.sort()).toEqual(file.views.map((v) => v.name).sort());
    expect(DEFAULT_REGISTRY.names).toEqual(expect.arrayContaining(["user_profile", "merchant_risk", "express_lane_bench"]));
  });

  it("demo data conforms to user_profile exactly", () => {
    const view = DEFAULT_REGISTRY.get("user_profile")!;
    for (const i of [0, 1, 42, 2999]) {
      const o = demoObject(i, 1_800_000_000_000);
      expect(Object.keys(o.features).sort()).toEqual([...view.featureNames].sort());
      const row = validateFlatRow(view, { user_id: o.entity, event_time: o.event_time, ...o.features }, "json", 1_800_000_000_000);
      expect(row.features).toEqual(o.features);
    }
    expect(USER_PROFILE.features).toHaveLength(60);
  });

  it("reports every problem of a bad definition at once", () => {
    try {
      defineRegistry([
        { ...base, name: "Bad-Name" },
        {
          ...base,
          ttlSeconds: 0,
          owner: "",
          features: [
            { name: "a", type: "int" },
            { name: "a", type: "float" },
            { name: "b", type: "decimal" as never },
            { name: "c", type: "int", length: 3 },
          ],
        },
        base,
        base,
      ]);
      throw new Error("expected RegistryError");
    } catch (err) {
      expect(err).toBeInstanceOf(RegistryError);
      const problems = (err as RegistryError).problems.join("\n");
      for (const p of ["name must match", "ttlSeconds", "owner is required", "defined twice", "type must be one of", "length applies to float_array only"])
        expect(problems).toContain(p);
    }
  });

  it("coerces text cells per type and refuses mismatches", () => {
    const f = (type: string, length?: number) => ({ name: "f", type: type as never, length });
    expect(coerceValue(f("int"), "12", "text")).toBe(12);
    expect(coerceValue(f("float"), "1.5", "text")).toBe(1.5);
    expect(coerceValue(f("bool"), "TRUE", "text")).toBe(true);
    expect(coerceValue(f("float_array", 2), "[1,2]", "text")).toEqual([1, 2]);
    expect(coerceValue(f("timestamp"), "2025-01-01T00:00:00+05:30", "text")).toEqual(new Date("2024-12-31T18:30:00Z"));
    expect(coerceValue(f("string"), "", "text")).toBeNull();
    for (const [type, value, source] of [
      ["int", "1.5", "text"],
      ["int", "12", "json"],
      ["bool", "yes", "text"],
      ["bool", 1, "json"],
      ["float", NaN, "json"],
      ["timestamp", "2025-01-01 00:00", "text"],
      ["string", 5, "json"],
    ] as const) {
      expect(() => coerceValue(f(type), value, source)).toThrow(RowError);
    }
  });

  it("validates push rows strictly", () => {
    const view = DEFAULT_REGISTRY.get("merchant_risk")!;
    const T = 1_800_000_000_000;
    expect(validatePushRow(view, { entity: "m", event_time: T, features: { txn_count_1h: 1 } }, T + 1000)).toEqual({ entity: "m", event_time: T, features: { txn_count_1h: 1 } });
    expect(() => validatePushRow(view, { entity: "m", event_time: 1000, features: {}, extra: 1 })).toThrow(/unknown field/);
    expect(() => validatePushRow(view, { entity: "m", event_time: 1000 })).toThrow(/features must be an object/);
  });

  it("refuses implausible event times (epoch seconds read as ms land in 1970) and says what the number probably was", () => {
    const view = DEFAULT_REGISTRY.get("merchant_risk")!;
    const now = 1_800_000_000_000;
    const row = (event_time: unknown) => ({ entity: "m", event_time, features: { txn_count_1h: 1 } });
    expect(() => validatePushRow(view, row(1_799_999_000), now)).toThrow(
      /before 2000-01-01 \(1799999000 looks like seconds: say event_time_unit "s", or send milliseconds, 1799999000000/,
    );
    expect(() => validatePushRow(view, row("1999-12-31T23:59:59Z"), now)).toThrow(RowError);
    try {
      validatePushRow(view, row(5), now);
    } catch (err) {
      expect((err as RowError).code).toBe("implausible_event_time");
    }
    expect(validatePushRow(view, row("2000-01-01T00:00:00Z"), now).event_time).toBe(946_684_800_000);
  });

  it("the shared read parser refuses unknown views (404) and features (400)", () => {
    const err = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return [(e as LaneError).status, (e as LaneError).code];
      }
      return null;
    };
    expect(err(() => parseReadRequest({ method: "GET", path: "/v1/features/nope/u", query: "" }, DEFAULT_REGISTRY))).toEqual([404, "unknown_view"]);
    expect(err(() => parseReadRequest({ method: "GET", path: "/v1/features/user_profile/u", query: "?features=country,zzz" }, DEFAULT_REGISTRY))).toEqual([400, "unknown_feature"]);
    expect(parseReadRequest({ method: "GET", path: "/v1/features/user_profile/u", query: "?features=country" }, DEFAULT_REGISTRY).features).toEqual(["country"]);
  });
});

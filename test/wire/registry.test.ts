/**
 * wire/registry.ts: view definitions (every problem reported at once), the registry's lookups,
 * and the row checks writers, the push API and the signer all run (event times and their units,
 * value coercion per type, flat source rows with Feast's columns, push rows and deletes). The
 * lane's own views are tested in test/registry/registry.test.ts.
 */
import {
  checkEventTimeUnit,
  coerceValue,
  defineRegistry,
  DEFAULT_MAX_STALENESS_SECONDS,
  MAX_FLOAT_ARRAY_LENGTH,
  MAX_FUTURE_SKEW_MS,
  maxStalenessOf,
  MIN_PLAUSIBLE_EVENT_TIME_MS,
  parseTime,
  RegistryError,
  RowError,
  validateFlatRow,
  validatePushRow,
  type FeatureSpec,
  type RowErrorCode,
  type ViewSpec,
} from "../../wire/registry";

const NOW = 1_800_000_000_000;
const T = NOW - 60_000;

const ORDERS: ViewSpec = {
  name: "orders",
  entityKey: "order_id",
  owner: "tests",
  description: "registry tests",
  ttlSeconds: 3600,
  features: [
    { name: "n", type: "int" },
    { name: "x", type: "float" },
    { name: "s", type: "string" },
    { name: "b", type: "bool" },
    { name: "v", type: "float_array", length: 2 },
    { name: "t", type: "timestamp" },
  ],
};
const registry = defineRegistry([ORDERS, { ...ORDERS, name: "bounded", maxStalenessSeconds: 300 }]);
const orders = registry.get("orders")!;

/** The RowError code `fn` throws (and that it throws one). */
function rowError(fn: () => unknown): RowErrorCode {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(RowError);
    return (err as RowError).code;
  }
  throw new Error("expected a RowError");
}

function problemsOf(specs: unknown[]): string[] {
  try {
    defineRegistry(specs as ViewSpec[]);
  } catch (err) {
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).message).toMatch(/^invalid feature registry:\n {2}- /);
    return [...(err as RegistryError).problems];
  }
  throw new Error("expected a RegistryError");
}

describe("defineRegistry and Registry", () => {
  it("builds lookups for valid views", () => {
    expect(registry.names).toEqual(["orders", "bounded"]);
    expect(registry.all.map((v) => v.name)).toEqual(["orders", "bounded"]);
    expect(registry.get("nope")).toBeUndefined();
    expect(orders.featureNames).toEqual(["n", "x", "s", "b", "v", "t"]);
    expect(orders.featureIndex.get("v")).toEqual({ name: "v", type: "float_array", length: 2 });
    expect(defineRegistry([]).names).toEqual([]);
  });

  it("reports every problem of a bad definition at once", () => {
    const base = { name: "v", entityKey: "id", owner: "o", description: "d", ttlSeconds: 60, features: [{ name: "a", type: "int" }] };
    const problems = problemsOf([
      { ...base, name: "Bad-Name" },
      {
        ...base,
        ttlSeconds: 0,
        owner: "",
        features: [
          { name: "a", type: "int" },
          { name: "a", type: "float" },
          { name: "b", type: "decimal" },
          { name: "c", type: "int", length: 3 },
        ],
      },
      base,
      base,
    ]).join("\n");
    for (const p of ["name must match", "ttlSeconds", "owner is required", "defined twice", "type must be one of", "length applies to float_array only"])
      expect(problems).toContain(p);
  });

  it("names each rule a view breaks", () => {
    const base = { name: "v", entityKey: "id", owner: "o", description: "d", ttlSeconds: 60, features: [{ name: "a", type: "int" }] };
    const one = (spec: unknown) => problemsOf([spec]);
    expect(one(null)).toEqual(["a view definition must be an object"]);
    expect(problemsOf([base, { ...base, owner: "someone else" }])).toEqual(['view "v": defined twice']);
    expect(one({ ...base, entityKey: "1id" })).toEqual([expect.stringMatching(/^view "v": entityKey must match/)]);
    expect(one({ ...base, entityKey: "event_time" })).toEqual(['view "v": entityKey may not be "event_time"']);
    for (const ttl of [0, 1.5, 10 * 365 * 86_400 + 1]) expect(one({ ...base, ttlSeconds: ttl })).toEqual([expect.stringMatching(/ttlSeconds must be an integer in 1\.\./)]);
    expect(defineRegistry([{ ...base, ttlSeconds: 10 * 365 * 86_400 } as ViewSpec]).names).toEqual(["v"]);
    for (const bound of [0, 2.5, 365 * 86_400 + 1])
      expect(one({ ...base, maxStalenessSeconds: bound })).toEqual([expect.stringMatching(/maxStalenessSeconds must be an integer in 1\.\./)]);
    expect(one({ ...base, description: "  " })).toEqual(['view "v": description is required']);
    expect(one({ ...base, features: [] })).toEqual(['view "v": features must be a non-empty array']);
    expect(one({ ...base, features: "a" })).toEqual(['view "v": features must be a non-empty array']);
    expect(one({ ...base, features: [{ name: "bad name", type: "int" }, null] })).toEqual([
      expect.stringMatching(/^view "v" feature "bad name": name must match/),
      expect.stringMatching(/^view "v" feature undefined: name must match/),
    ]);
    expect(one({ ...base, features: [{ name: "id", type: "int" }] })).toEqual(['view "v" feature "id": collides with the entity key or "event_time" column']);
    expect(one({ ...base, features: [{ name: "event_time", type: "int" }] })).toEqual(['view "v" feature "event_time": collides with the entity key or "event_time" column']);
    for (const length of [0, 1.5, MAX_FLOAT_ARRAY_LENGTH + 1])
      expect(one({ ...base, features: [{ name: "e", type: "float_array", length }] })).toEqual([`view "v" feature "e": length must be an integer in 1..${MAX_FLOAT_ARRAY_LENGTH}`]);
  });

  it("gives each view its max staleness bound, 60 s by default", () => {
    expect(DEFAULT_MAX_STALENESS_SECONDS).toBe(60);
    expect(maxStalenessOf(orders)).toBe(60);
    expect(maxStalenessOf(registry.get("bounded")!)).toBe(300);
  });
});

describe("parseTime", () => {
  it("takes integer ms, digit strings, Dates and ISO 8601 with a zone", () => {
    expect(parseTime(T, "t")).toBe(T);
    expect(parseTime(` ${T} `, "t")).toBe(T);
    expect(parseTime(new Date(T), "t")).toBe(T);
    expect(parseTime("2025-01-31T12:00:00Z", "t")).toBe(Date.UTC(2025, 0, 31, 12));
    expect(parseTime("2025-01-31 12:00z", "t")).toBe(Date.UTC(2025, 0, 31, 12));
    expect(parseTime("2025-01-31T12:00:00.250+05:30", "t")).toBe(Date.UTC(2025, 0, 31, 6, 30, 0, 250));
    expect(parseTime("2025-01-31T12:00:00-0100", "t")).toBe(Date.UTC(2025, 0, 31, 13));
  });

  it("refuses times without a zone, before the epoch, fractional or unsafe, and says what it wanted", () => {
    for (const bad of ["2025-01-31T12:00:00", "2025-01-31", "1969-12-31T23:59:59Z", "yesterday", "", -1, 1.5, 2 ** 53, new Date(NaN), null, {}, true])
      expect(() => parseTime(bad, "when")).toThrow(/^when must be integer milliseconds since the epoch or ISO 8601 with a zone/);
  });
});

describe("coerceValue", () => {
  const f = (type: FeatureSpec["type"], length?: number): FeatureSpec => ({ name: "f", type, length });
  const refused = (spec: FeatureSpec, value: unknown, source: "json" | "text") => {
    expect(rowError(() => coerceValue(spec, value, source))).toBe("bad_value");
  };

  it("coerces text cells per type and refuses mismatches", () => {
    expect(coerceValue(f("int"), "12", "text")).toBe(12);
    expect(coerceValue(f("int"), " -3 ", "text")).toBe(-3);
    expect(coerceValue(f("float"), "1.5", "text")).toBe(1.5);
    expect(coerceValue(f("bool"), "TRUE", "text")).toBe(true);
    expect(coerceValue(f("bool"), " 0 ", "text")).toBe(false);
    expect(coerceValue(f("float_array", 2), "[1,2]", "text")).toEqual([1, 2]);
    expect(coerceValue(f("timestamp"), "2025-01-01T00:00:00+05:30", "text")).toEqual(new Date("2024-12-31T18:30:00Z"));
    for (const type of ["int", "float", "string", "bool", "float_array", "timestamp"] as const) expect(coerceValue(f(type), "", "text")).toBeNull();
    for (const [type, value] of [
      ["int", "1.5"],
      ["int", "9007199254740993"],
      ["float", "abc"],
      ["bool", "yes"],
      ["float_array", "[1,2"],
      ["timestamp", "2025-01-01 00:00"],
    ] as const)
      refused(f(type), value, "text");
  });

  it("keeps JSON's types: no strings for numbers or booleans", () => {
    expect(coerceValue(f("int"), 7, "json")).toBe(7);
    expect(coerceValue(f("bool"), false, "json")).toBe(false);
    expect(coerceValue(f("string"), "", "json")).toBe("");
    expect(coerceValue(f("timestamp"), T, "json")).toEqual(new Date(T));
    for (const type of ["int", "string", "timestamp"] as const) {
      expect(coerceValue(f(type), null, "json")).toBeNull();
      expect(coerceValue(f(type), undefined, "json")).toBeNull();
    }
    for (const [type, value] of [
      ["int", "12"],
      ["int", 2 ** 53],
      ["int", 1.5],
      ["float", "1.5"],
      ["float", NaN],
      ["float", Infinity],
      ["bool", 1],
      ["bool", "true"],
      ["string", 5],
      ["float_array", "[1,2]"],
    ] as const)
      refused(f(type), value, "json");
  });

  it("bounds strings at 64 KiB of UTF-8 and arrays at their declared or maximum length", () => {
    expect(coerceValue(f("string"), "a".repeat(65_536), "json")).toHaveLength(65_536);
    refused(f("string"), "é".repeat(32_769), "json"); // 65 538 bytes in 32 769 characters
    expect(coerceValue(f("float_array"), new Array(MAX_FLOAT_ARRAY_LENGTH).fill(0), "json")).toHaveLength(MAX_FLOAT_ARRAY_LENGTH);
    refused(f("float_array"), new Array(MAX_FLOAT_ARRAY_LENGTH + 1).fill(0), "json");
    refused(f("float_array", 2), [1], "json");
    refused(f("float_array"), [1, "2"], "json");
    refused(f("float_array"), [1, NaN], "json");
    expect(() => coerceValue(f("float_array", 2), [1, 2, 3], "json")).toThrow("feature f: expected an array of exactly 2 numbers (got 3)");
  });

  it("says which feature, what it expected and what it got (strings cut at 40 characters)", () => {
    expect(() => coerceValue(f("int"), "x".repeat(100), "json")).toThrow(`feature f: expected an integer (|n| < 2^53), got "${"x".repeat(40)}"`);
    expect(() => coerceValue(f("string"), { a: 1 }, "json")).toThrow("feature f: expected a string, got an object/array");
    expect(() => coerceValue(f("timestamp"), "noon", "json")).toThrow(/^feature f must be integer milliseconds/);
  });
});

describe("event times", () => {
  const push = (event_time: unknown, unit?: Parameters<typeof validatePushRow>[3]) => validatePushRow(orders, { entity: "o", event_time, features: {} }, NOW, unit).event_time;

  it("checkEventTimeUnit names the four units and refuses others", () => {
    for (const unit of ["s", "ms", "us", "ns"]) expect(checkEventTimeUnit(unit)).toBe(unit);
    for (const bad of ["m", "MS", "", 1, undefined]) expect(rowError(() => checkEventTimeUnit(bad))).toBe("bad_event_time");
  });

  it("scales numeric times by unit: numbers, bigints and digit strings; fractional seconds are rounded", () => {
    expect(push(T / 1000, "s")).toBe(T);
    expect(push(T / 1000 + 0.2506, "s")).toBe(T + 251);
    expect(push(T, "ms")).toBe(T);
    expect(push(T * 1000 + 999, "us")).toBe(T);
    expect(push(BigInt(T) * 1_000_000n + 999_999n, "ns")).toBe(T);
    expect(push(`${BigInt(T) * 1_000_000n}`, "ns")).toBe(T);
    expect(push(BigInt(T))).toBe(T); // a bigint with no unit (Parquet INT64): milliseconds
    expect(push("2027-01-15T08:00:00Z", "s")).toBe(Date.parse("2027-01-15T08:00:00Z")); // ISO needs no unit
  });

  it("refuses counts a unit cannot express, and non-integer milliseconds", () => {
    for (const [value, unit] of [
      [-5, "s"],
      [T + 0.5, "ms"],
      [T * 1e6, "ns"], // beyond 2^53 as a number: send a bigint or a digit string
      [-1n, "ms"],
    ] as const)
      expect(rowError(() => push(value, unit))).toBe("bad_event_time");
    expect(rowError(() => push(T + 0.5))).toBe("bad_event_time");
    expect(rowError(() => push("soon"))).toBe("bad_event_time");
  });

  it("refuses the future beyond the skew, and anything before 2000 with a hint when it looks like seconds", () => {
    expect(push(NOW + MAX_FUTURE_SKEW_MS)).toBe(NOW + MAX_FUTURE_SKEW_MS);
    expect(rowError(() => push(NOW + MAX_FUTURE_SKEW_MS + 1))).toBe("future_event_time");
    expect(push(MIN_PLAUSIBLE_EVENT_TIME_MS)).toBe(946_684_800_000);
    expect(push("2000-01-01T00:00:00Z")).toBe(946_684_800_000);
    expect(rowError(() => push(MIN_PLAUSIBLE_EVENT_TIME_MS - 1))).toBe("implausible_event_time");
    expect(rowError(() => push("1999-12-31T23:59:59Z"))).toBe("implausible_event_time");
    expect(() => push(1_799_999_000)).toThrow(/before 2000-01-01 \(1799999000 looks like seconds: say event_time_unit "s", or send milliseconds, 1799999000000/);
    expect(() => push(5)).toThrow(/^event_time 1970-01-01T00:00:00\.005Z is before 2000-01-01$/); // no plausible reading of 5: no hint
    expect(() => push(1_799_999, "s")).toThrow(/is before 2000-01-01$/); // a unit was given: no guess
  });

  it("requires an event time", () => {
    for (const missing of [undefined, null, ""]) expect(rowError(() => push(missing))).toBe("missing_event_time");
  });
});

describe("validatePushRow", () => {
  it("takes {entity, event_time, features} with JSON-typed values", () => {
    expect(validatePushRow(orders, { entity: "o1", event_time: T, features: { n: 1, v: [0.5, 1], t: T } }, NOW)).toEqual({
      entity: "o1",
      event_time: T,
      features: { n: 1, v: [0.5, 1], t: new Date(T) },
    });
    expect(validatePushRow(orders, { entity: 42, event_time: T, features: { n: undefined } }, NOW)).toEqual({ entity: "42", event_time: T, features: {} });
  });

  it("takes a delete as {entity, event_time, delete: true}, with no features", () => {
    expect(validatePushRow(orders, { entity: "o1", event_time: T, delete: true }, NOW)).toEqual({ entity: "o1", event_time: T, features: {}, deleted: true });
    expect(() => validatePushRow(orders, { entity: "o1", event_time: T, delete: false }, NOW)).toThrow("delete must be true when present");
    expect(() => validatePushRow(orders, { entity: "o1", event_time: T, delete: true, features: {} }, NOW)).toThrow("a delete row carries no features");
    expect(rowError(() => validatePushRow(orders, { entity: "", event_time: T, delete: true }, NOW))).toBe("missing_entity");
  });

  it("refuses anything else, strictly", () => {
    const code = (row: unknown) => rowError(() => validatePushRow(orders, row, NOW));
    expect(code(null)).toBe("bad_row");
    expect(code([{ entity: "o1" }])).toBe("bad_row");
    expect(() => validatePushRow(orders, { entity: "o1", event_time: T, features: {}, extra: 1 }, NOW)).toThrow(/unknown field "extra"/);
    expect(() => validatePushRow(orders, { entity: "o1", event_time: T }, NOW)).toThrow(/features must be an object/);
    expect(code({ entity: "o1", event_time: T, features: [1] })).toBe("bad_row");
    expect(code({ event_time: T, features: {} })).toBe("missing_entity");
    expect(code({ entity: { id: 1 }, event_time: T, features: {} })).toBe("bad_entity");
    expect(code({ entity: 1.5, event_time: T, features: {} })).toBe("bad_entity");
    expect(code({ entity: "o1", event_time: T, features: { zzz: 1 } })).toBe("unknown_feature");
    expect(code({ entity: "o1", event_time: T, features: { n: "1" } })).toBe("bad_value");
  });
});

describe("validateFlatRow", () => {
  it("reads the entity key column, event_time and feature columns; text cells are parsed per type", () => {
    expect(validateFlatRow(orders, { order_id: "o1", event_time: `${T}`, n: "12", b: "false", v: "[1,2]", s: "" }, "text", NOW)).toEqual({
      entity: "o1",
      event_time: T,
      features: { n: 12, b: false, v: [1, 2], s: null },
    });
    expect(validateFlatRow(orders, { order_id: 7, event_time: T }, "json", NOW)).toEqual({ entity: "7", event_time: T, features: {} });
  });

  it("accepts Feast's event_timestamp when there is no event_time, and drops its created column unless it is a feature", () => {
    expect(validateFlatRow(orders, { order_id: "o1", event_timestamp: T, created: NOW, n: 1 }, "json", NOW)).toEqual({ entity: "o1", event_time: T, features: { n: 1 } });
    // Both present: event_time wins, and event_timestamp is an unknown column.
    expect(rowError(() => validateFlatRow(orders, { order_id: "o1", event_time: T, event_timestamp: T }, "json", NOW))).toBe("unknown_feature");
    const withCreated = defineRegistry([{ ...ORDERS, features: [...ORDERS.features, { name: "created", type: "timestamp" }] }]).get("orders")!;
    expect(validateFlatRow(withCreated, { order_id: "o1", event_time: T, created: NOW }, "json", NOW).features).toEqual({ created: new Date(NOW) });
  });

  it("takes other column names and a unit from the options", () => {
    const options = { entityColumn: "id", eventTimeColumn: "ts", eventTimeUnit: "s" } as const;
    expect(validateFlatRow(orders, { id: "o1", ts: T / 1000, x: 0.5 }, "json", NOW, options)).toEqual({ entity: "o1", event_time: T, features: { x: 0.5 } });
    // The view's own columns are then just unknown columns.
    expect(rowError(() => validateFlatRow(orders, { id: "o1", ts: T / 1000, order_id: "o2" }, "json", NOW, options))).toBe("unknown_feature");
    // A named column that is missing is reported by its own check.
    expect(() => validateFlatRow(orders, { id: "o1" }, "json", NOW, options)).toThrow(/^event_time is missing$/);
    expect(() => validateFlatRow(orders, { ts: T / 1000 }, "json", NOW, options)).toThrow(/^entity key id is missing$/);
  });

  it("says how to name the columns when the defaults are missing", () => {
    expect(() => validateFlatRow(orders, { order_id: "o1", n: 1 }, "json", NOW)).toThrow("no event_time column (nor Feast's event_timestamp); name yours with --event-time-column");
    expect(() => validateFlatRow(orders, { event_time: T, n: 1 }, "json", NOW)).toThrow(
      "entity key order_id is missing (view orders's entity key; name another column with --entity-column)",
    );
  });

  it("refuses non-objects, unknown columns and bad values", () => {
    for (const row of [null, [1, 2], "o1,123"]) expect(rowError(() => validateFlatRow(orders, row as never, "json", NOW))).toBe("bad_row");
    expect(() => validateFlatRow(orders, { order_id: "o1", event_time: T, colour: "red" }, "json", NOW)).toThrow('view orders has no feature "colour"');
    expect(rowError(() => validateFlatRow(orders, { order_id: "o1", event_time: T, n: "1.5" }, "text", NOW))).toBe("bad_value");
    expect(rowError(() => validateFlatRow(orders, { order_id: "", event_time: T }, "text", NOW))).toBe("missing_entity");
  });
});

import { formatMaxAge, parseMaxAge, pathText, viewsFileValue, viewsFromFileValue, ViewsFileError } from "../../wire/views-file";
import { defaultRegistryRef, registryFromViews } from "../../wire/registry-document";
import { maxStalenessOf } from "../../wire/registry";

const view = (over: Record<string, unknown> = {}) => ({
  name: "clicks",
  entity_key: "user_id",
  max_age: "12h",
  owner: "ml@example.com",
  description: "click counts",
  features: [{ name: "n", type: "int" }],
  ...over,
});

function problems(value: unknown): string[] {
  try {
    viewsFromFileValue(value, "views.yaml");
  } catch (err) {
    if (err instanceof ViewsFileError) return [...err.problems.map((p) => `${pathText(p.path)}: ${p.message}`)];
    throw err;
  }
  return [];
}

describe("wire/views-file", () => {
  it("reads max ages as durations or integer seconds, and spells them back shortest", () => {
    expect([parseMaxAge("7d"), parseMaxAge("12h"), parseMaxAge("30m"), parseMaxAge("3600s"), parseMaxAge(90)]).toEqual([604_800, 43_200, 1800, 3600, 90]);
    expect([parseMaxAge("7 weeks"), parseMaxAge(-1), parseMaxAge(1.5), parseMaxAge(null)]).toEqual([null, null, null, null]);
    expect([formatMaxAge(604_800), formatMaxAge(3600), formatMaxAge(90), formatMaxAge(61)]).toEqual(["7d", "1h", "90s", "61s"]);
  });

  it("a valid file becomes views in document form, and round-trips", () => {
    const views = viewsFromFileValue({ views: [view()] }, "views.yaml");
    expect(views).toEqual([
      { name: "clicks", entity_key: "user_id", max_age_seconds: 43_200, owner: "ml@example.com", description: "click counts", features: [{ name: "n", type: "int" }] },
    ]);
    expect(viewsFromFileValue(viewsFileValue(views), "again")).toEqual(views);
  });

  it("reports every problem at once, each at its path", () => {
    expect(problems({ views: [view({ max_age: "forever", extra: 1, features: [{ name: "n", type: "decimal" }] })], version: 2 })).toEqual(
      expect.arrayContaining([
        'version: unknown top-level field "version" (expected only views)',
        'views[0].extra: unknown field "extra"',
        expect.stringMatching(/^views\[0\]\.max_age: max_age must be a duration/),
        expect.stringMatching(/^views\[0\]\.features\[0\]\.type: type must be one of/),
      ]),
    );
    expect(problems("not a mapping")).toEqual([": the file must be a mapping with a `views:` list"]);
  });

  it("semantic problems (the registry's own validation) are located at the view", () => {
    const found = problems({ views: [view(), view()] });
    expect(found.length).toBeGreaterThan(0);
    expect(found.every((p) => p.startsWith("views"))).toBe(true);
  });
});

describe("max_staleness (docs/trust.md P8): optional per view, default 60 s", () => {
  const [parse, back, build, ref] = [viewsFromFileValue, viewsFileValue, registryFromViews, defaultRegistryRef];
  const file = (extra: Record<string, unknown> = {}) => ({
    views: [{ name: "orders", entity_key: "order_id", max_age: "2d", owner: "o", description: "d", features: [{ name: "a", type: "int" }], ...extra }],
  });

  it("parses a duration, round-trips, and reaches the registry; absent, the default and the same digest as before", () => {
    const withBound = parse(file({ max_staleness: "5m" }), "views.yaml");
    expect(withBound[0]!.max_staleness_seconds).toBe(300);
    expect((back(withBound).views[0] as Record<string, unknown>).max_staleness).toBe("5m");
    expect(maxStalenessOf(build(withBound).get("orders")!)).toBe(300);
    const without = parse(file(), "views.yaml");
    expect("max_staleness_seconds" in without[0]!).toBe(false);
    expect(maxStalenessOf(build(without).get("orders")!)).toBe(60);
    expect(ref(without).digest).not.toBe(ref(withBound).digest);
  });

  it("refuses what is not a positive duration", () => {
    expect(() => parse(file({ max_staleness: "soon" }), "views.yaml")).toThrow(/max_staleness/);
    expect(() => build([{ ...parse(file(), "views.yaml")[0]!, max_staleness_seconds: 0 }])).toThrow(/maxStalenessSeconds/);
  });
});

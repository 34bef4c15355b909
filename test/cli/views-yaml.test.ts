import { parseViewsText } from "../../cli/views-yaml";
import { diffViews, formatDiff } from "../../cli/apply";
import { ViewsFileError, formatMaxAge, parseMaxAge, viewsFileValue } from "../../wire/views-file";
import { DEFAULT_VIEWS } from "../../registry/views";
import { stringify } from "yaml";

function problems(text: string): string[] {
  try {
    parseViewsText(text, "views.yaml");
  } catch (err) {
    expect(err).toBeInstanceOf(ViewsFileError);
    return [...(err as ViewsFileError).lines];
  }
  throw new Error("accepted");
}

const GOOD = `views:
  - name: orders
    entity_key: order_id
    max_age: 12h
    owner: checkout@example.com
    description: Per-order signals
    features:
      - {name: amount, type: float}
      - name: embedding
        type: float_array
        length: 8
`;

describe("views files (YAML/JSON)", () => {
  it("reads a views.yaml into document form (max age in seconds)", () => {
    const [v] = parseViewsText(GOOD, "views.yaml");
    expect(v).toEqual({
      name: "orders",
      entity_key: "order_id",
      max_age_seconds: 43_200,
      owner: "checkout@example.com",
      description: "Per-order signals",
      features: [
        { name: "amount", type: "float" },
        { name: "embedding", type: "float_array", length: 8 },
      ],
    });
  });

  it("reads JSON too, and the default views round-trip through the file form", () => {
    expect(parseViewsText(JSON.stringify(viewsFileValue(DEFAULT_VIEWS)), "views.json")).toEqual(DEFAULT_VIEWS);
    expect(parseViewsText(stringify(viewsFileValue(DEFAULT_VIEWS)), "views.yaml")).toEqual(DEFAULT_VIEWS);
  });

  it("locates every problem at file:line:col, all at once", () => {
    const bad = GOOD.replace("type: float}", "type: decimal}").replace("max_age: 12h", "max_age: soon").replace("        length: 8", "        length: 8\n        colour: red");
    expect(problems(bad)).toEqual([
      'views.yaml:4:14: views[0].max_age: max_age must be a duration like "7d", "12h", "30m", "3600s" or integer seconds',
      "views.yaml:8:30: views[0].features[0].type: type must be one of int, float, string, bool, float_array, timestamp",
      'views.yaml:12:17: views[0].features[1].colour: unknown field "colour"',
    ]);
  });

  it("semantic problems (the registry's own checks) point at the view or feature", () => {
    const dup = GOOD.replace("{name: amount, type: float}", "{name: order_id, type: float}");
    expect(problems(dup)[0]).toMatch(/^views\.yaml:8:9: views\[0\]\.features\[0\]: view "orders" feature "order_id": collides/);
    expect(problems("views: [\n")[0]).toMatch(/^views\.yaml:\d+:\d+: /);
    expect(problems("nothing: here\n")[0]).toMatch(/views:` list/);
  });

  it("max ages: durations and seconds", () => {
    expect(parseMaxAge("7d")).toBe(604_800);
    expect(parseMaxAge("3600s")).toBe(3600);
    expect(parseMaxAge(90)).toBe(90);
    expect(parseMaxAge("1w")).toBeNull();
    expect(parseMaxAge(-1)).toBeNull();
    expect(formatMaxAge(604_800)).toBe("7d");
    expect(formatMaxAge(90)).toBe("90s");
  });

  it("diffs added/removed views, added/removed features, type and max-age changes", () => {
    const [orders] = parseViewsText(GOOD, "views.yaml");
    const changed = {
      ...orders!,
      max_age_seconds: 3600,
      features: [
        { name: "amount", type: "int" as const },
        { name: "coupon", type: "string" as const },
      ],
    };
    const d = diffViews([orders!, DEFAULT_VIEWS[1]!], [changed, DEFAULT_VIEWS[0]!]);
    expect(d.addedViews).toEqual(["user_profile"]);
    expect(d.removedViews).toEqual(["merchant_risk"]);
    expect(d.changed.orders).toEqual([
      "max age 12h → 1h",
      "~ feature amount: type float → int (stored values of the old type read TYPE_MISMATCH)",
      "+ feature coupon (string)",
      "- feature embedding (stored values stay in objects; reads and pushes refuse it)",
    ]);
    expect(formatDiff(d, [changed, DEFAULT_VIEWS[0]!])).toMatch(/^\+ view user_profile .*\n- view merchant_risk .*\n~ view orders\n {4}max age/);
    expect(formatDiff(diffViews(DEFAULT_VIEWS, DEFAULT_VIEWS), DEFAULT_VIEWS)).toBe("no changes\n");
  });
});

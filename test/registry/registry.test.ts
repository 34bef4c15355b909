import { readFileSync } from "node:fs";
import { join } from "node:path";
import { validateFlatRow } from "../../wire/registry";
import { DEFAULT_REGISTRY, USER_PROFILE } from "../../registry/views";
import { demoObject } from "../../dev/lane/demo-data";
import { parseReadRequest } from "../../wire/request";
import type { LaneError } from "../../wire/errors";

// The schema and row checks themselves (wire/registry.ts) are tested in test/wire/registry.test.ts.
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

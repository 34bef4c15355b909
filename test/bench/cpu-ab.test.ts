import { DEMO_TEN, demoScript } from "../../bench/cpu-ab";
import { DEMO_VIEW, demoEntityId } from "../../dev/demo-data";
import { USER_PROFILE } from "../../registry/views";

/** What a wrk Lua script asks for: the paths of its GETs (entity ids drawn as the script does) or its POST bodies. */
function gets(lua: string, entities: number, n: number): string[] {
  const path = /"GET", "([^"]+)" \.\. string\.format\("([^"]+)", i\) \.\. "([^"]*)"/.exec(lua)!;
  const step = Number(/i = \(i \+ (\d+)\) % n/.exec(lua)![1]);
  let i = 0;
  return Array.from({ length: n }, () => {
    i = (i + step) % entities;
    return `${path[1]}${path[2].replace("%06d", String(i).padStart(6, "0"))}${path[3]}`;
  });
}

describe("bench/cpu-ab (the workload bench/cpu.ts and the lane A/B drive)", () => {
  it("asks for entities the local lane loads (the demo view, demo ids 0 … n−1), not the benchmark dataset", () => {
    const paths = gets(demoScript("projected", 2000), 2000, 50);
    for (const p of paths) {
      const m = /^\/v1\/features\/([^/]+)\/([^?]+)\?features=(.*)$/.exec(p)!;
      expect(m[1]).toBe(DEMO_VIEW);
      const index = Number(m[2].slice("user_".length));
      expect(m[2]).toBe(demoEntityId(index));
      expect(index).toBeLessThan(2000);
      expect(m[3].split(",")).toEqual(DEMO_TEN);
    }
    expect(gets(demoScript("full", 2000), 2000, 1)[0]).toMatch(new RegExp(`^/v1/features/${DEMO_VIEW}/user_\\d{6}$`));
  });

  it("projects 10 features the demo view defines, and batches 100 distinct demo entities", () => {
    const names = new Set(USER_PROFILE.features.map((f) => f.name));
    expect(DEMO_TEN).toHaveLength(10);
    for (const f of DEMO_TEN) expect(names.has(f)).toBe(true);
    const lua = demoScript("batch", 2000);
    expect(lua).toContain(`"/v1/features/${DEMO_VIEW}/batch"`);
    const bodies = [...lua.matchAll(/^(?:local bodies = \{)?("(?:[^"\\]|\\.)*")[,}]/gm)].map(
      (m) => JSON.parse(JSON.parse(m[1]) as string) as { entities: string[]; features: string[] },
    );
    expect(bodies).toHaveLength(16);
    for (const b of bodies) {
      expect(new Set(b.entities).size).toBe(100);
      for (const e of b.entities) expect(e).toMatch(/^user_\d{6}$/);
      expect(b.features).toEqual(DEMO_TEN);
    }
  });
});

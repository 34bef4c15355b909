import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as perms from "../../constructs/perms";
import { LANE_KEY_PURPOSE } from "../../wire/lane-key";
import { SEAL_KEY_PURPOSE } from "../../wire/seal-keys";

const CONSTRUCTS = join(__dirname, "../../constructs");

function constructSources(dir = CONSTRUCTS): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? constructSources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : []));
}

describe("constructs/perms: the permissions vocabulary", () => {
  test("encryption-context purposes are spelled as the runtime spells them (constructs may not import wire/)", () => {
    expect(perms.SEAL_PURPOSE).toBe(SEAL_KEY_PURPOSE);
    expect(perms.LANE_KEY_PURPOSE).toBe(LANE_KEY_PURPOSE);
  });

  test("administration, operation and reading never include cryptographic use", () => {
    for (const set of [perms.KEY_ADMIN_ACTIONS, perms.KEY_LIFECYCLE_ACTIONS, perms.KEY_POLICY_ACTIONS, perms.KEY_READ_ACTIONS]) {
      expect(set.filter((a) => perms.KEY_USE_ACTIONS.includes(a))).toEqual([]);
    }
    expect(perms.KEY_LIFECYCLE_ACTIONS.filter((a) => !perms.KEY_ADMIN_ACTIONS.includes(a))).toEqual([]);
  });

  test("each condition key, tag and metadata name is written once: only perms.ts spells it", () => {
    const vocabulary = Object.entries(perms as Record<string, unknown>).filter(
      (e): e is [string, string] => typeof e[1] === "string" && /CONDITION_KEY$|_TAG$|_METADATA$/.test(e[0]),
    );
    expect(vocabulary.length).toBeGreaterThanOrEqual(10);
    const repeats: string[] = [];
    for (const file of constructSources().filter((f) => !f.endsWith("perms.ts"))) {
      const text = readFileSync(file, "utf8");
      for (const [name, value] of vocabulary) if (text.includes(`"${value}"`)) repeats.push(`${file.slice(CONSTRUCTS.length + 1)} spells ${name} (${value})`);
    }
    expect(repeats).toEqual([]);
  });

  test("no construct imports a policy rule's module for vocabulary (rules read constructs, not the reverse)", () => {
    const offenders = constructSources()
      .filter((f) => !f.includes("/policies/"))
      .filter((f) => /from "\.\/policies\/(?!suppressions")/.test(readFileSync(f, "utf8")))
      .map((f) => f.slice(CONSTRUCTS.length + 1));
    expect(offenders).toEqual([]);
  });
});

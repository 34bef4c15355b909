/**
 * The scope of the permissions added for the lane stack's EventBridge rule, log metric filters
 * and published-key listing (constructs/permissions.ts): each allows the lane's own request
 * (deployability.test.ts evaluates every call) and nothing next to it — another lane's rule,
 * another team's rule or target, another prefix of the artifact bucket. And every permission the
 * lane's roles are granted fits the permissions boundary the deploy role must attach, so no grant
 * is silently dead.
 */
import { ACCOUNT, Json, REGION, Synth, evaluate, principalPolicies, resources, roleArn, synth } from "./simulate";

const s: Synth = synth();
const other: Synth = synth({ laneName: "eu1" });
const as = (x: Synth, roleName: string) => ({ principal: roleArn(roleName), ...principalPolicies(x, roleName) });
const deploy = as(s, s.config.deployRoleName);
const plan = as(s, s.config.planRoleName);
const rule = (name: string, region = REGION) => `arn:aws:events:${region}:${ACCOUNT}:rule/${name}`;
const laneRule = rule(resources(s.lane, "aws_cloudwatch_event_rule")[0].name);
const eu1Rule = rule(resources(other.lane, "aws_cloudwatch_event_rule")[0].name);
const main = { "aws:ResourceTag/ExpressLaneLane": "main" };
const eu1 = { "aws:ResourceTag/ExpressLaneLane": "eu1" };
const topic = `arn:aws:sns:${REGION}:${ACCOUNT}:${resources(s.lane, "aws_sns_topic")[0].name}`;

describe("EventBridge rules: the deploy role manages the lane's rules only", () => {
  test("the lane's rule: PutRule, DescribeRule, DeleteRule allowed", async () => {
    for (const action of ["events:PutRule", "events:DescribeRule", "events:DeleteRule", "events:TagResource"]) {
      expect([action, await evaluate({ ...deploy, action, resource: laneRule, context: main })]).toEqual([action, "Allowed"]);
    }
  });

  test("another lane's rule (same name prefix, its own lane tag) is explicitly denied", async () => {
    // `express-lane-eu1-failed-launches` matches `express-lane-*`: the lane tag tells them apart.
    expect(eu1Rule).toMatch(/rule\/express-lane-eu1-/);
    for (const action of ["events:PutRule", "events:DeleteRule", "events:RemoveTargets", "events:PutTargets"]) {
      expect([action, await evaluate({ ...deploy, action, resource: eu1Rule, context: { ...eu1, "events:TargetArn": topic } })]).toEqual([action, "ExplicitlyDenied"]);
    }
  });

  test("another team's rule, or a rule in another region, is denied", async () => {
    for (const resource of [rule("billing-nightly"), rule(resources(s.lane, "aws_cloudwatch_event_rule")[0].name, "eu-west-1")]) {
      expect([resource, await evaluate({ ...deploy, action: "events:PutRule", resource })]).not.toEqual([resource, "Allowed"]);
    }
  });

  test("targets: the lane's topics only (no Lambda, no other team's topic, no target-less call)", async () => {
    expect(await evaluate({ ...deploy, action: "events:PutTargets", resource: laneRule, context: { ...main, "events:TargetArn": topic } })).toBe("Allowed");
    for (const target of [
      `arn:aws:lambda:${REGION}:${ACCOUNT}:function:billing`,
      `arn:aws:sns:${REGION}:${ACCOUNT}:billing-alerts`,
      `arn:aws:sns:eu-west-1:${ACCOUNT}:express-lane-alarms`,
    ]) {
      expect([target, await evaluate({ ...deploy, action: "events:PutTargets", resource: laneRule, context: { ...main, "events:TargetArn": target } })]).not.toEqual([
        target,
        "Allowed",
      ]);
    }
    expect(await evaluate({ ...deploy, action: "events:PutTargets", resource: laneRule, context: main })).not.toBe("Allowed");
  });

  test("no role can be passed to EventBridge (a target running with a role)", async () => {
    expect(await evaluate({ ...deploy, action: "iam:PassRole", resource: roleArn("express-lane-host"), context: { "iam:PassedToService": "events.amazonaws.com" } })).not.toBe(
      "Allowed",
    );
  });
});

describe("the plan role reads the lane's rules, metric filters and published keys, and writes nothing", () => {
  test("reads allowed", async () => {
    for (const action of ["events:DescribeRule", "events:ListTagsForResource", "events:ListTargetsByRule"]) {
      expect([action, await evaluate({ ...plan, action, resource: laneRule, context: main })]).toEqual([action, "Allowed"]);
    }
    expect(await evaluate({ ...plan, action: "logs:DescribeMetricFilters", resource: `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/express-lane/runtime` })).toBe("Allowed");
    const artifacts = `arn:aws:s3:::${s.config.artifactBucketName}`;
    expect(await evaluate({ ...plan, action: "s3:ListBucket", resource: artifacts, context: { "s3:prefix": "seal-keys/wrapped.json" } })).toBe("Allowed");
  });

  test("writes, other log groups and other prefixes denied", async () => {
    for (const action of ["events:PutRule", "events:PutTargets", "events:DeleteRule", "events:RemoveTargets"]) {
      expect([action, await evaluate({ ...plan, action, resource: laneRule, context: { ...main, "events:TargetArn": topic } })]).not.toEqual([action, "Allowed"]);
    }
    expect(await evaluate({ ...plan, action: "logs:DescribeMetricFilters", resource: `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/billing/app` })).not.toBe("Allowed");
    const artifacts = `arn:aws:s3:::${s.config.artifactBucketName}`;
    for (const prefix of ["releases/", ""]) {
      expect([prefix, await evaluate({ ...plan, action: "s3:ListBucket", resource: artifacts, context: { "s3:prefix": prefix } })]).not.toEqual([prefix, "Allowed"]);
    }
  });
});

/** A concrete request for each action × resource of an Allow statement, its conditions' values as the context. */
function requestsOf(statement: Json): { action: string; resource: string; context: Record<string, string> }[] {
  const list = (v: unknown): string[] => (v === undefined ? [] : Array.isArray(v) ? v.map(String) : [String(v)]);
  const context: Record<string, string> = {};
  for (const [op, block] of Object.entries((statement.Condition ?? {}) as Record<string, Record<string, unknown>>)) {
    if (!/^(StringEquals|StringLike|ArnLike|ArnEquals)$/.test(op)) throw new Error(`unhandled condition operator ${op} in ${statement.Sid}`);
    for (const [key, value] of Object.entries(block)) context[key] = list(value)[0].replace(/\*/g, "x");
  }
  // A trailing `:*` on a log group is its log streams.
  const concrete = (r: string) => (r === "*" ? "*" : r.replace(/^(arn:aws:logs:.*:log-group:.*):\*$/, "$1:log-stream:x").replace(/\*/g, "x"));
  return list(statement.Action).flatMap((action) => list(statement.Resource).map((r) => ({ action, resource: concrete(r), context })));
}

/**
 * KMS requires the key policy to allow every request (iam-simulate models that): a key policy that
 * delegates to IAM (the account root statement, KMS Developer Guide, "Default key policy") leaves
 * the decision to the identity policy and the boundary, which is the question here.
 */
const delegatingKeyPolicy = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: "kms:*", Resource: "*" }] };

describe("every permission of the roles the deploy role creates fits the permissions boundary", () => {
  const roles = resources(s.lane, "aws_iam_role").map((r) => r.name as string);

  test.each(roles)("%s", async (roleName) => {
    const principal = as(s, roleName);
    expect(principal.permissionBoundaryPolicies).toHaveLength(1);
    const outside: string[] = [];
    for (const policy of principal.identityPolicies) {
      for (const st of (policy.policy.Statement as Json[]).filter((x) => x.Effect === "Allow")) {
        const evaluable = new Set<string>();
        for (const req of requestsOf(st)) {
          const resourcePolicy = req.action.startsWith("kms:") ? delegatingKeyPolicy : undefined;
          const d = await evaluate({ ...principal, ...req, resourcePolicy }).catch((e: Error) => e.message);
          // A resource the action does not apply to (a log group for PutLogEvents, which acts on streams).
          if (/no\.resource\.types/.test(d)) continue;
          evaluable.add(req.action);
          if (d !== "Allowed") outside.push(`${st.Sid}: ${req.action} on ${req.resource}: ${d}`);
        }
        for (const action of [st.Action].flat()) if (!evaluable.has(action)) outside.push(`${st.Sid}: ${action}: no resource of the statement could be evaluated`);
      }
    }
    expect(outside).toEqual([]);
  });
});

/**
 * B8 and environment protection: the deploy role's trust evaluated for GitHub OIDC tokens.
 */
import { ACCOUNT, evaluate, role, roleArn, synth } from "./simulate";

const PROVIDER = `arn:aws:iam::${ACCOUNT}:oidc-provider/token.actions.githubusercontent.com`;
const s = synth({ repository: "acme/express-lane", repositoryOwnerId: "123456", repositoryId: "456789" });
const trust = role(s, "express-lane-deploy").assume_role_policy as string;

const assume = (sub: string, aud = "sts.amazonaws.com") =>
  evaluate({
    principal: PROVIDER,
    action: "sts:AssumeRoleWithWebIdentity",
    resource: roleArn("express-lane-deploy"),
    context: { "token.actions.githubusercontent.com:sub": sub, "token.actions.githubusercontent.com:aud": aud },
    resourcePolicy: trust,
  });
const wf = (repo: string, file: string, ref = "refs/heads/main", env = "production") =>
  `repo:${repo}:environment:${env}:job_workflow_ref:acme/express-lane/.github/workflows/${file}@${ref}`;

describe("deploy role trust (GitHub OIDC)", () => {
  test("the named workflows on the default branch, in both subject formats", async () => {
    for (const file of ["deploy.yml", "destroy.yml", "bench.yml"]) {
      expect(await assume(wf("acme/express-lane", file))).toBe("Allowed");
      expect(await assume(wf("acme@123456/express-lane@456789", file))).toBe("Allowed");
    }
  });

  test("not from another branch, another workflow, another environment, another repository or audience", async () => {
    expect(await assume(wf("acme/express-lane", "deploy.yml", "refs/heads/feature"))).not.toBe("Allowed");
    expect(await assume(wf("acme/express-lane", "evil.yml"))).not.toBe("Allowed");
    expect(await assume(wf("acme/express-lane", "deploy.yml", "refs/heads/main", "staging"))).not.toBe("Allowed");
    expect(await assume(wf("acme@999/express-lane@456789", "deploy.yml"))).not.toBe("Allowed");
    expect(await assume("repo:acme/express-lane:environment:production")).not.toBe("Allowed");
    expect(await assume("repo:acme/express-lane:pull_request")).not.toBe("Allowed");
    expect(await assume(wf("acme/express-lane", "deploy.yml"), "https://github.com/acme")).not.toBe("Allowed");
  });

  test("classic environment subject when workflows are not pinned (EXPRESS_LANE_DEPLOY_WORKFLOWS=*)", async () => {
    const open = synth({ repository: "acme/express-lane", deployWorkflows: "*" });
    const t = role(open, "express-lane-deploy").assume_role_policy as string;
    const d = await evaluate({
      principal: PROVIDER,
      action: "sts:AssumeRoleWithWebIdentity",
      resource: roleArn("express-lane-deploy"),
      context: { "token.actions.githubusercontent.com:sub": "repo:acme/express-lane:environment:production", "token.actions.githubusercontent.com:aud": "sts.amazonaws.com" },
      resourcePolicy: t,
    });
    expect(d).toBe("Allowed");
  });
});

describe("plan role trust", () => {
  const planTrust = role(s, "express-lane-plan").assume_role_policy as string;
  const assumePlan = (sub: string) =>
    evaluate({
      principal: PROVIDER,
      action: "sts:AssumeRoleWithWebIdentity",
      resource: roleArn("express-lane-plan"),
      context: { "token.actions.githubusercontent.com:sub": sub, "token.actions.githubusercontent.com:aud": "sts.amazonaws.com" },
      resourcePolicy: planTrust,
    });
  test("the <env>-plan environment only; the deploy role never for it", async () => {
    expect(await assumePlan(wf("acme/express-lane", "deploy.yml", "refs/heads/main", "production-plan"))).toBe("Allowed");
    expect(await assumePlan(wf("acme@123456/express-lane@456789", "destroy.yml", "refs/heads/main", "production-plan"))).toBe("Allowed");
    expect(await assumePlan(wf("acme/express-lane", "deploy.yml"))).not.toBe("Allowed");
    expect(await assume(wf("acme/express-lane", "deploy.yml", "refs/heads/main", "production-plan"))).not.toBe("Allowed");
  });
});

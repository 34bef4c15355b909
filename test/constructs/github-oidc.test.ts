import { TerraformStack, Testing } from "cdktf";
import { GITHUB_OIDC_HOST, GithubOidc, githubSubjects } from "../../constructs/github-oidc";

const base = { repository: "acme/lane", environment: "production" };

describe("githubSubjects", () => {
  it("classic by default: repo:OWNER/REPO:environment:NAME", () => {
    expect(githubSubjects(base)).toEqual(["repo:acme/lane:environment:production"]);
  });

  it("with repository ids: the classic and the immutable (owner@id/name@id) forms", () => {
    expect(githubSubjects({ ...base, repositoryIds: { ownerId: "11", repositoryId: "22" } })).toEqual([
      "repo:acme/lane:environment:production",
      "repo:acme@11/lane@22:environment:production",
    ]);
    expect(githubSubjects({ ...base, repositoryIds: { ownerId: "11", repositoryId: "22" }, subjectFormats: ["immutable"] })).toEqual([
      "repo:acme@11/lane@22:environment:production",
    ]);
  });

  it("the immutable form without ids is refused", () => {
    expect(() => githubSubjects({ ...base, subjectFormats: ["immutable"] })).toThrow(/needs repositoryIds/);
  });

  it("restricted to workflows: one subject per workflow, pinned to the default branch, naming the workflow by its repository path", () => {
    expect(githubSubjects({ ...base, restrictToWorkflows: ["deploy.yml", "rotate.yml"], defaultBranch: "trunk", repositoryIds: { ownerId: "11", repositoryId: "22" } })).toEqual([
      "repo:acme/lane:environment:production:job_workflow_ref:acme/lane/.github/workflows/deploy.yml@refs/heads/trunk",
      "repo:acme/lane:environment:production:job_workflow_ref:acme/lane/.github/workflows/rotate.yml@refs/heads/trunk",
      "repo:acme@11/lane@22:environment:production:job_workflow_ref:acme/lane/.github/workflows/deploy.yml@refs/heads/trunk",
      "repo:acme@11/lane@22:environment:production:job_workflow_ref:acme/lane/.github/workflows/rotate.yml@refs/heads/trunk",
    ]);
    expect(githubSubjects({ ...base, restrictToWorkflows: ["deploy.yml"] })[0]).toMatch(/@refs\/heads\/main$/);
  });

  it("an empty workflow list trusts no subject at all (not every workflow)", () => {
    expect(githubSubjects({ ...base, restrictToWorkflows: [] })).toEqual([]);
  });
});

describe("GithubOidc", () => {
  type Trust = { Statement: Array<{ Action: string; Principal: { Federated: string }; Condition: { StringEquals: Record<string, unknown> } }> };
  const trustOf = (stack: TerraformStack, name: string): Trust => {
    const roles = JSON.parse(Testing.synth(stack)).resource.aws_iam_role as Record<string, { name: string; assume_role_policy: string }>;
    return JSON.parse(Object.values(roles).find((r) => r.name === name)!.assume_role_policy);
  };

  it("creates the provider for sts.amazonaws.com and a deploy role only those subjects (and that audience) may assume", () => {
    const s = new TerraformStack(Testing.app(), "s");
    const oidc = new GithubOidc(s, "gh", { ...base, roleName: "deploy" });
    const tf = JSON.parse(Testing.synth(s));
    expect(Object.values(tf.resource.aws_iam_openid_connect_provider)).toEqual([
      expect.objectContaining({ url: `https://${GITHUB_OIDC_HOST}`, client_id_list: ["sts.amazonaws.com"] }),
    ]);
    const [statement] = trustOf(s, "deploy").Statement;
    expect(statement!.Action).toBe("sts:AssumeRoleWithWebIdentity");
    expect(statement!.Condition.StringEquals).toEqual({ [`${GITHUB_OIDC_HOST}:aud`]: "sts.amazonaws.com", [`${GITHUB_OIDC_HOST}:sub`]: "repo:acme/lane:environment:production" });
    expect(oidc.subjects).toEqual(["repo:acme/lane:environment:production"]);
    expect(oidc.planRole).toBeUndefined();
  });

  it("uses the account's existing provider when asked (one per issuer per account) and creates none", () => {
    const s = new TerraformStack(Testing.app(), "s");
    const oidc = new GithubOidc(s, "gh", { ...base, roleName: "deploy", useExistingProvider: true });
    expect(oidc.resource).toBeUndefined();
    expect(oidc.providerArn).toMatch(new RegExp(`:oidc-provider/${GITHUB_OIDC_HOST.replace(/\./g, "\\.")}$`));
    expect(JSON.parse(Testing.synth(s)).resource.aws_iam_openid_connect_provider).toBeUndefined();
  });

  it("a plan role trusts its own environment with the same workflows, never the deploy environment", () => {
    const s = new TerraformStack(Testing.app(), "s");
    const oidc = new GithubOidc(s, "gh", { ...base, roleName: "deploy", restrictToWorkflows: ["deploy.yml"], planRole: { roleName: "plan", environment: "production-plan" } });
    expect(oidc.planSubjects).toEqual(["repo:acme/lane:environment:production-plan:job_workflow_ref:acme/lane/.github/workflows/deploy.yml@refs/heads/main"]);
    const sub = trustOf(s, "plan").Statement[0]!.Condition.StringEquals[`${GITHUB_OIDC_HOST}:sub`];
    expect(sub).toEqual(oidc.planSubjects![0]);
    expect(JSON.stringify(sub)).not.toContain("environment:production:");
  });

  it("lists several subjects as an array in the condition", () => {
    const s = new TerraformStack(Testing.app(), "s");
    new GithubOidc(s, "gh", { ...base, roleName: "deploy", repositoryIds: { ownerId: "1", repositoryId: "2" } });
    expect(trustOf(s, "deploy").Statement[0]!.Condition.StringEquals[`${GITHUB_OIDC_HOST}:sub`]).toHaveLength(2);
  });
});

import { TerraformStack, Testing } from "cdktf";
import { IamRole } from "../../constructs/aws";
import { githubSubjects } from "../../constructs/github-oidc";
import { PermissionsBoundary, Role } from "../../constructs/iam";
import { ExistingKeyPolicy, Key } from "../../constructs/key";
import { KEY_POLICY_ACTIONS } from "../../constructs/perms";
import { LaneKeys } from "../../constructs/lane-keys";

const stack = () => new TerraformStack(Testing.app(), "s");
const PCR0 = "ab".repeat(48);

describe("Key / ExistingKeyPolicy", () => {
  test("operators get administrative actions only; a key needs an admin", () => {
    expect(
      () => new Key(stack(), "k", { description: "d", admins: ["arn:aws:iam::1:role/a"], operators: ["arn:aws:iam::1:role/o"], operatorActions: ["kms:CreateGrant"] }),
    ).toThrow(/operator actions must be administrative/);
    expect(() => new Key(stack(), "k", { description: "d", admins: ["arn:aws:iam::1:role/a"], operators: ["arn:aws:iam::1:role/o"], operatorActions: ["kms:Decrypt"] })).toThrow(
      /operator actions/,
    );
    expect(() => new Key(stack(), "k", { description: "d", admins: [] })).toThrow(/at least one admin/);
  });

  test("an existing key's policy is kept on destroy (bypass flag) and always leaves someone with PutKeyPolicy", () => {
    const s = stack();
    const p = new ExistingKeyPolicy(s, "p", {
      keyArn: "arn:aws:kms:r:1:key/x",
      admins: ["arn:aws:iam::1:role/a"],
      operators: ["arn:aws:iam::1:role/o"],
      operatorActions: KEY_POLICY_ACTIONS,
    });
    const json = JSON.parse(Testing.synth(s));
    expect(Object.values(json.resource.aws_kms_key_policy as Record<string, { bypass_policy_lockout_safety_check: boolean }>)[0].bypass_policy_lockout_safety_check).toBe(true);
    expect(p.policyAdmins).toEqual(["arn:aws:iam::1:role/a", "arn:aws:iam::1:role/o"]);
  });

  test("statement ids stay unique when grants repeat", () => {
    const k = new Key(stack(), "k", { description: "d", admins: ["arn:aws:iam::1:role/a"] });
    const g = { grantPrincipal: { principalArn: "arn:aws:iam::1:role/g", addToPrincipalPolicy: () => undefined } };
    k.grant(g, "Use", ["kms:Decrypt"]);
    k.grant(g, "Use", ["kms:Decrypt"]);
    expect(k.policyStatements.map((x) => x.sid)).toEqual(["KeyAdministration", "Use", "Use2"]);
  });
});

describe("LaneKeys", () => {
  const props = { prefix: "p", admins: ["arn:aws:iam::1:role/a"], operators: ["arn:aws:iam::1:role/o"], sealKeyArn: "arn:aws:kms:r:1:key/x" };
  test("one or two PCR0 values, never all zeros, never malformed", () => {
    expect(new LaneKeys(stack(), "k", { ...props, pcr0s: [PCR0, "cd".repeat(48)] }).pcr0s).toHaveLength(2);
    expect(() => new LaneKeys(stack(), "k", { ...props, pcr0s: ["0".repeat(96)] })).toThrow(/all zeros/);
    expect(() => new LaneKeys(stack(), "k", { ...props, pcr0s: [PCR0, PCR0.toUpperCase()] })).toThrow(/96 lowercase hex/);
    expect(() => new LaneKeys(stack(), "k", { ...props, pcr0s: [] })).toThrow(/pcr0s/);
    expect(() => new LaneKeys(stack(), "k", { ...props, pcr0s: [PCR0, "cd".repeat(48), "ef".repeat(48)] })).toThrow(/at most one previous/);
  });
  test("writer ids are validated", () => {
    const keys = new LaneKeys(stack(), "k", { ...props, pcr0s: [PCR0] });
    const g = { grantPrincipal: { principalArn: "arn:aws:iam::1:role/w", addToPrincipalPolicy: () => undefined } };
    expect(() => keys.grantSeal(g, "Bad Id")).toThrow(/writer id/);
  });
});

describe("githubSubjects", () => {
  test("classic, immutable, pinned workflows", () => {
    expect(githubSubjects({ repository: "o/r", environment: "prod" })).toEqual(["repo:o/r:environment:prod"]);
    expect(
      githubSubjects({
        repository: "o/r",
        environment: "prod",
        repositoryIds: { ownerId: "1", repositoryId: "2" },
        subjectFormats: ["immutable"],
        restrictToWorkflows: ["d.yml"],
        defaultBranch: "trunk",
      }),
    ).toEqual(["repo:o@1/r@2:environment:prod:job_workflow_ref:o/r/.github/workflows/d.yml@refs/heads/trunk"]);
    expect(() => githubSubjects({ repository: "o/r", environment: "prod", subjectFormats: ["immutable"] })).toThrow(/repositoryIds/);
  });
});

describe("PermissionsBoundary", () => {
  test("applies to every role under the scope, keeps an explicit one", () => {
    const s = stack();
    new Role(s, "a", { roleName: "a", assumedBy: [{ actions: ["sts:AssumeRole"], principals: { Service: ["ec2.amazonaws.com"] } }] });
    new Role(s, "b", {
      roleName: "b",
      assumedBy: [{ actions: ["sts:AssumeRole"], principals: { Service: ["ec2.amazonaws.com"] } }],
      permissionsBoundary: "arn:aws:iam::1:policy/own",
    });
    new IamRole(s, "c", { name: "c", assumeRolePolicy: "{}" });
    PermissionsBoundary.of(s).apply("arn:aws:iam::1:policy/lane");
    const roles = Object.values(JSON.parse(Testing.synth(s)).resource.aws_iam_role as Record<string, { name: string; permissions_boundary: string }>);
    expect(Object.fromEntries(roles.map((r) => [r.name, r.permissions_boundary]))).toEqual({
      a: "arn:aws:iam::1:policy/lane",
      b: "arn:aws:iam::1:policy/own",
      c: "arn:aws:iam::1:policy/lane",
    });
  });
});

import "cdktf/lib/testing/adapters/jest";
import { Testing } from "cdktf";
import { asList, resources, statements, synthStacks } from "./helpers";

const s = synthStacks({ repository: "acme/express-lane", environment: "production" });
const deployRole = (json: Record<string, any>) => resources(json, "aws_iam_role").find((r) => r.name === "express-lane-deploy")!; // eslint-disable-line @typescript-eslint/no-explicit-any
const deployPolicy = (json: Record<string, any>) => resources(json, "aws_iam_role_policy").find((p) => p.role === "${aws_iam_role.Github_DeployRole_9472A1FB.id}")!; // eslint-disable-line @typescript-eslint/no-explicit-any
const workflowSub = (repo: string, w: string) => `repo:${repo}:environment:production:job_workflow_ref:acme/express-lane/.github/workflows/${w}@refs/heads/main`;
const b = s.bootstrapJson;

describe("bootstrap stack", () => {
  test("state and artifact buckets: versioned, encrypted, public access blocked, TLS only", () => {
    const buckets = resources(b, "aws_s3_bucket")
      .map((x) => x.bucket)
      .sort();
    expect(buckets).toEqual(["express-lane-artifacts-ap-south-1", "express-lane-tfstate-ap-south-1"]);
    const versioning = resources(b, "aws_s3_bucket_versioning");
    expect(versioning).toHaveLength(2);
    for (const v of versioning) expect(v.versioning_configuration).toEqual({ status: "Enabled" });
    for (const e of resources(b, "aws_s3_bucket_server_side_encryption_configuration")) {
      expect(asList(e.rule)[0].apply_server_side_encryption_by_default.sse_algorithm).toBe("aws:kms");
    }
    const pab = resources(b, "aws_s3_bucket_public_access_block");
    expect(pab).toHaveLength(2);
    for (const p of pab)
      expect(p).toEqual(expect.objectContaining({ block_public_acls: true, block_public_policy: true, ignore_public_acls: true, restrict_public_buckets: true }));
    for (const p of resources(b, "aws_s3_bucket_policy")) {
      expect(statements(p.policy).find((x) => x.Sid === "DenyInsecureTransport")?.Condition).toEqual({ Bool: { "aws:SecureTransport": "false" } });
    }
  });

  test("GitHub OIDC provider", () => {
    expect(Testing.synth(s.bootstrap)).toHaveResourceWithProperties(
      { tfResourceType: "aws_iam_openid_connect_provider" },
      {
        url: "https://token.actions.githubusercontent.com",
        client_id_list: ["sts.amazonaws.com"],
      },
    );
  });

  test("deploy role trusted only for this repository, the named environment, the named workflows on the default branch", () => {
    const role = deployRole(b);
    const trust = statements(role.assume_role_policy);
    expect(trust).toHaveLength(1);
    expect(trust[0].Action).toBe("sts:AssumeRoleWithWebIdentity");
    expect(trust[0].Principal.Federated).toMatch(/aws_iam_openid_connect_provider\./);
    expect(trust[0].Condition).toEqual({
      StringEquals: {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": ["deploy.yml", "destroy.yml", "bench.yml"].map((w) => workflowSub("acme/express-lane", w)),
      },
    });
    expect(JSON.stringify(trust)).not.toMatch(/StringLike|\*/);
    expect(role.name).toBe("express-lane-deploy");
  });

  test("B8: the immutable subject format (owner@id/repo@id) is accepted next to the classic one when the ids are configured", () => {
    const ids = synthStacks({ repository: "acme/express-lane", repositoryOwnerId: "123456", repositoryId: "456789", deployWorkflows: "deploy.yml" });
    const trust = statements(deployRole(ids.bootstrapJson).assume_role_policy);
    expect(trust[0].Condition.StringEquals["token.actions.githubusercontent.com:sub"]).toEqual([
      workflowSub("acme/express-lane", "deploy.yml"),
      workflowSub("acme@123456/express-lane@456789", "deploy.yml"),
    ]);
    const immutableOnly = synthStacks({
      repository: "acme/express-lane",
      repositoryOwnerId: "123456",
      repositoryId: "456789",
      oidcSubjectFormats: "immutable",
      deployWorkflows: "*",
    });
    expect(statements(deployRole(immutableOnly.bootstrapJson).assume_role_policy)[0].Condition.StringEquals["token.actions.githubusercontent.com:sub"]).toBe(
      "repo:acme@123456/express-lane@456789:environment:production",
    );
  });

  test("an existing OIDC provider (one per account) can be used instead of creating one", () => {
    const existing = synthStacks({ oidcProvider: "existing" });
    expect(resources(existing.bootstrapJson, "aws_iam_openid_connect_provider")).toHaveLength(0);
    expect(statements(deployRole(existing.bootstrapJson).assume_role_policy)[0].Principal.Federated).toMatch(
      /^arn:aws:iam::\$\{data\.aws_caller_identity\.Github_Account_[0-9A-F]+\.account_id\}:oidc-provider\/token\.actions\.githubusercontent\.com$/,
    );
  });

  test("B1: the seal key and the admin signing key name the bootstrap caller (its role, via aws_iam_session_context) as admin", () => {
    for (const key of resources(b, "aws_kms_key")) {
      const admin = statements(key.policy).find((x) => x.Sid === "KeyAdministration")!;
      expect(asList(admin.Principal.AWS)).toContain("${data.aws_iam_session_context.CallerSession.issuer_arn}");
      expect(asList(admin.Action)).toContain("kms:PutKeyPolicy");
    }
    expect(b.data.aws_iam_session_context.CallerSession.arn).toBe("${data.aws_caller_identity.Caller.arn}");
    const seal = resources(b, "aws_kms_key").find((k) => k.tags?.ExpressLaneKeyRole === "seal")!;
    expect(seal.lifecycle.precondition[0].condition).toMatch(/endswith\(data\.aws_iam_session_context\.CallerSession\.issuer_arn, ":root"\)/);
  });

  test("the admin signing key: Ed25519 SIGN_VERIFY, output next to seal_key_arn", () => {
    const signing = resources(b, "aws_kms_key").find((k) => k.tags?.ExpressLaneKeyRole === "signing")!;
    expect([signing.customer_master_key_spec, signing.key_usage]).toEqual(["ECC_NIST_EDWARDS25519", "SIGN_VERIFY"]);
    expect(b.output.directory_signing_key_arn.value).toMatch(/aws_kms_key\.DirectorySigningKey_.*\.arn/);
    expect(Object.keys(b.output).sort()).toEqual(
      [
        "artifact_bucket",
        "break_glass_admin_arn",
        "deploy_role_arn",
        "directory_bucket_base",
        "directory_signing_key_arn",
        "oidc_subjects",
        "permissions_boundary_arn",
        "plan_oidc_subjects",
        "plan_role_arn",
        "seal_key_arn",
        "state_bucket",
      ].sort(),
    );
  });

  test("deploy role can use state lock files and publish releases; outputs the role ARN", () => {
    const policy = statements(deployPolicy(b).policy);
    const write = policy.filter((x) => asList(x.Action).includes("s3:PutObject"));
    expect(write.flatMap((x) => asList(x.Resource)).join(" ")).toMatch(/StateBucket.*\/\*/);
    expect(write.flatMap((x) => asList(x.Resource)).join(" ")).toMatch(/ArtifactBucket.*\/releases\/\*/);
    const infra = policy.find((x) => x.Sid === "DeployLaneNetworkAndCompute")!;
    expect(infra.Condition).toEqual({ StringEquals: { "aws:RequestedRegion": "ap-south-1" } });
    expect(b.output.deploy_role_arn.value).toMatch(/aws_iam_role\..*\.arn/);
  });

  test("deploy role may run commands only on the lane's hosts, only AWS-RunShellScript (the bench workflow)", () => {
    const policy = statements(deployPolicy(b).policy);
    const send = policy.filter((x) => asList(x.Action).includes("ssm:SendCommand"));
    expect(send.map((x) => x.Sid).sort()).toEqual(["RunCommandOnLaneHosts", "RunShellScriptDocument"]);
    const onHosts = send.find((x) => x.Sid === "RunCommandOnLaneHosts")!;
    expect(onHosts.Resource).toBe("arn:aws:ec2:ap-south-1:*:instance/*");
    expect(onHosts.Condition).toEqual({ StringEquals: { "ssm:resourceTag/Name": "express-lane-host" } });
    expect(send.find((x) => x.Sid === "RunShellScriptDocument")!.Resource).toBe("arn:aws:ssm:ap-south-1::document/AWS-RunShellScript");
    // …and may become the writer role (the lane stack's, by name) to load the benchmark's entities.
    const assume = policy.find((x) => x.Sid === "LoadBenchmarkDataAsWriter")!;
    expect(assume).toMatchObject({ Action: "sts:AssumeRole", Resource: "arn:aws:iam::*:role/express-lane-writer-*" });
    expect(resources(s.laneJson, "aws_iam_role").map((r) => r.name)).toContain("express-lane-writer-loader");
    // The hosts the lane stack creates carry exactly that tag.
    const asg = resources(s.laneJson, "aws_autoscaling_group")[0];
    expect(asList(asg.tag)).toEqual(expect.arrayContaining([expect.objectContaining({ key: "Name", value: "express-lane-host" })]));
  });

  test("a read-only plan role for the plan jobs, trusted for the <env>-plan environment, output as plan_role_arn", () => {
    const plan = resources(b, "aws_iam_role").find((r) => r.name === "express-lane-plan")!;
    expect(statements(plan.assume_role_policy)[0].Condition.StringEquals["token.actions.githubusercontent.com:sub"]).toEqual(
      ["deploy.yml", "destroy.yml", "bench.yml"].map(
        (w) => `repo:acme/express-lane:environment:production-plan:job_workflow_ref:acme/express-lane/.github/workflows/${w}@refs/heads/main`,
      ),
    );
    expect(b.output.plan_role_arn.value).toMatch(/aws_iam_role\.Github_PlanRole_.*\.arn/);
  });

  test("bootstrap state: a local file per lane first, then migrated into the state bucket (EXPRESS_LANE_BOOTSTRAP_STATE=s3)", () => {
    expect(b.terraform.backend.local.path).toMatch(/terraform\.express-lane-bootstrap\.tfstate$/);
    expect(synthStacks({ laneName: "eu1" }).bootstrapJson.terraform.backend.local.path).toMatch(/terraform\.express-lane-eu1-bootstrap\.tfstate$/);
    const migrated = synthStacks({ bootstrapState: "s3" }).bootstrapJson.terraform.backend;
    expect(migrated.local).toBeUndefined();
    expect(migrated.s3).toEqual(expect.objectContaining({ bucket: "express-lane-tfstate-ap-south-1", key: "bootstrap/main/terraform.tfstate", use_lockfile: true, encrypt: true }));
  });

  test("no IAM users or access keys anywhere", () => {
    for (const json of [b, s.laneJson]) {
      expect(resources(json, "aws_iam_user")).toHaveLength(0);
      expect(resources(json, "aws_iam_access_key")).toHaveLength(0);
    }
  });
});

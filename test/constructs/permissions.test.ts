import { TerraformStack, Testing } from "cdktf";
import { Role, renderPolicyDocument, type PolicyStatement } from "../../constructs/iam";
import { boundaryPolicyName, grantLaneDeployment, grantLanePlanning, laneBoundaryStatements, type LaneNames } from "../../constructs/permissions";
import { actionMatches, conditionsMatch } from "../../constructs/policies/evaluate";
import { asList, type IamStatementJson } from "../../constructs/policies/rule";
import { RESOURCE_WILDCARD_ACTIONS } from "../../constructs/policies/allowlist";
import { LANE_TAG } from "../../constructs/perms";

const LANE_TAG_KEY = `aws:ResourceTag/${LANE_TAG}`;

const names: LaneNames = { prefix: "express-lane", laneName: "prod", region: "ap-south-1", bucketBaseName: "lane", artifactBucketName: "express-lane-artifacts" };
const BOUNDARY = "arn:aws:iam::111122223333:policy/express-lane-boundary";
const SELF = "arn:aws:iam::*:role/express-lane-deploy";

const json = (statements: readonly PolicyStatement[]) => JSON.parse(renderPolicyDocument(statements)).Statement as IamStatementJson[];
const glob = (pattern: string, value: string) => new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`).test(value);
const onResource = (s: IamStatementJson, arn: string) =>
  s.NotResource !== undefined ? !asList(s.NotResource).some((r) => glob(r, arn)) : asList(s.Resource).some((r) => glob(r, arn));
const matches = (s: IamStatementJson, action: string, arn: string, context: Record<string, string | undefined>) =>
  (s.NotAction !== undefined ? !asList(s.NotAction).some((a) => actionMatches(a, action)) : asList(s.Action).some((a) => actionMatches(a, action))) &&
  onResource(s, arn) &&
  conditionsMatch(s, context) !== "no";

/** An identity policy's answer for one request: an Allow matches and no Deny certainly does. */
function allows(statements: readonly IamStatementJson[], action: string, arn: string, context: Record<string, string | undefined> = {}): boolean {
  if (statements.some((s) => s.Effect === "Deny" && matches(s, action, arn, context) && conditionsMatch(s, context) === "yes")) return false;
  return statements.some((s) => (s.Effect ?? "Allow") === "Allow" && matches(s, action, arn, context));
}

function deployStatements() {
  const s = new TerraformStack(Testing.app(), "s");
  const deploy = new Role(s, "deploy", { roleName: "express-lane-deploy", assumedBy: [] });
  const grant = grantLaneDeployment(deploy, { ...names, boundaryArn: BOUNDARY, selfRoleArn: SELF });
  return { grant, statements: json(deploy.policyStatements), deploy };
}

describe("laneBoundaryStatements (the cap on every role the lane creates)", () => {
  const boundary = json(laneBoundaryStatements(names));

  it("grants no IAM, no key administration and no grants", () => {
    for (const action of ["iam:CreateRole", "iam:PassRole", "kms:CreateGrant", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:CreateKey"]) {
      expect(allows(boundary, action, "arn:aws:kms:ap-south-1:111122223333:key/k")).toBe(false);
    }
  });

  it("reaches only the lane's directory bucket, artifact bucket and log groups", () => {
    expect(allows(boundary, "s3express:CreateSession", "arn:aws:s3express:ap-south-1:111122223333:bucket/lane--aps1-az1--x-s3")).toBe(true);
    expect(allows(boundary, "s3express:CreateSession", "arn:aws:s3express:ap-south-1:111122223333:bucket/other--aps1-az1--x-s3")).toBe(false);
    expect(allows(boundary, "s3:GetObject", "arn:aws:s3:::express-lane-artifacts/releases/x/runtime.js")).toBe(true);
    expect(allows(boundary, "s3:GetObject", "arn:aws:s3:::someone-elses-bucket/x")).toBe(false);
    expect(allows(boundary, "logs:PutLogEvents", "arn:aws:logs:ap-south-1:111122223333:log-group:/express-lane/runtime:log-stream:i-1")).toBe(true);
    expect(allows(boundary, "logs:PutLogEvents", "arn:aws:logs:ap-south-1:111122223333:log-group:/other/app:log-stream:i-1")).toBe(false);
    expect(allows(boundary, "s3express:CreateSession", "arn:aws:s3express:us-east-1:111122223333:bucket/lane--use1-az4--x-s3")).toBe(false);
  });

  it('uses Resource "*" only for actions without resource-level permissions (and the SSM agent\'s)', () => {
    for (const s of boundary.filter((st) => asList(st.Resource).includes("*"))) {
      for (const a of asList(s.Action)) expect(a in RESOURCE_WILDCARD_ACTIONS || s.Sid === "SsmManagedInstance").toBe(true);
    }
  });

  it("names the boundary policy after the prefix", () => {
    expect(boundaryPolicyName("express-lane")).toBe("express-lane-boundary");
  });
});

describe("grantLaneDeployment", () => {
  const { statements, grant, deploy } = deployStatements();
  const role = (name: string) => `arn:aws:iam::111122223333:role/${name}`;

  it("creates lane roles only with the lane boundary attached", () => {
    expect(allows(statements, "iam:CreateRole", role("express-lane-host"), { "iam:PermissionsBoundary": BOUNDARY })).toBe(true);
    expect(allows(statements, "iam:CreateRole", role("express-lane-host"))).toBe(false);
    expect(allows(statements, "iam:CreateRole", role("express-lane-host"), { "iam:PermissionsBoundary": "arn:aws:iam::aws:policy/AdministratorAccess" })).toBe(false);
    expect(allows(statements, "iam:CreateRole", role("admin"), { "iam:PermissionsBoundary": BOUNDARY })).toBe(false);
    expect(allows(statements, "iam:DeleteRolePermissionsBoundary", role("express-lane-host"))).toBe(false);
  });

  it("never touches its own role", () => {
    for (const action of ["iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:UpdateAssumeRolePolicy"]) {
      expect(allows(statements, action, "arn:aws:iam::111122223333:role/express-lane-deploy", { "iam:PermissionsBoundary": BOUNDARY })).toBe(false);
    }
  });

  it("passes lane roles to EC2 only", () => {
    expect(allows(statements, "iam:PassRole", role("express-lane-host"), { "iam:PassedToService": "ec2.amazonaws.com" })).toBe(true);
    expect(allows(statements, "iam:PassRole", role("express-lane-host"), { "iam:PassedToService": "lambda.amazonaws.com" })).toBe(false);
  });

  it("keeps EC2 in its region and away from other workloads' disks, images and internet paths", () => {
    const inRegion = { "aws:RequestedRegion": "ap-south-1" };
    expect(allows(statements, "ec2:RunInstances", "arn:aws:ec2:ap-south-1:111122223333:instance/*", inRegion)).toBe(true);
    expect(allows(statements, "ec2:RunInstances", "arn:aws:ec2:us-east-1:111122223333:instance/*", { "aws:RequestedRegion": "us-east-1" })).toBe(false);
    for (const action of ["ec2:CreateSnapshot", "ec2:CreateImage", "ec2:CreateInternetGateway", "ec2:CreateNatGateway", "ec2:AllocateAddress"]) {
      expect(allows(statements, action, "*", inRegion)).toBe(false);
    }
    const other = { ...inRegion, "aws:ResourceTag/Name": "payments-api" };
    expect(allows(statements, "ec2:ModifyInstanceAttribute", "arn:aws:ec2:ap-south-1:111122223333:instance/i-1", other)).toBe(false);
    expect(
      allows(statements, "ec2:ModifyInstanceAttribute", "arn:aws:ec2:ap-south-1:111122223333:instance/i-1", { ...inRegion, "aws:ResourceTag/Name": "express-lane-host" }),
    ).toBe(true);
  });

  it("manages KMS keys only by the lane's tag, and never grants or key-policy changes by tag alone", () => {
    const key = "arn:aws:kms:ap-south-1:111122223333:key/k";
    expect(allows(statements, "kms:ScheduleKeyDeletion", key, { [LANE_TAG_KEY]: "prod" })).toBe(true);
    expect(allows(statements, "kms:ScheduleKeyDeletion", key, { [LANE_TAG_KEY]: "staging" })).toBe(false);
    expect(allows(statements, "kms:ScheduleKeyDeletion", key)).toBe(false);
    expect(allows(statements, "kms:CreateGrant", key, { [LANE_TAG_KEY]: "prod" })).toBe(false);
  });

  it("says what it wrote: one identity-policy grant on the deploy role", () => {
    expect(grant.principal).toBe(deploy.principalArn);
    expect(grant.statements.every((st) => st.policy === "principal")).toBe(true);
    expect(grant.statements).toHaveLength(deploy.policyStatements.length);
  });
});

describe("grantLanePlanning", () => {
  const s = new TerraformStack(Testing.app(), "s");
  const plan = new Role(s, "plan", { roleName: "express-lane-plan", assumedBy: [] });
  grantLanePlanning(plan, { ...names, stateBucketArn: "arn:aws:s3:::state", laneStateKey: "lane/terraform.tfstate" });
  const statements = json(plan.policyStatements);

  it("reads, never writes: no action it is granted creates, changes or deletes", () => {
    for (const st of statements) {
      for (const a of asList(st.Action)) expect(a.split(":")[1]).toMatch(/^(Describe|Get|List|CreateSession)/);
    }
  });

  it("reads the lane's state object and nothing else in the state bucket", () => {
    expect(allows(statements, "s3:GetObject", "arn:aws:s3:::state/lane/terraform.tfstate")).toBe(true);
    expect(allows(statements, "s3:GetObject", "arn:aws:s3:::state/bootstrap/terraform.tfstate")).toBe(false);
  });

  it("opens directory bucket sessions read-only", () => {
    const bucket = "arn:aws:s3express:ap-south-1:111122223333:bucket/lane--aps1-az1--x-s3";
    expect(allows(statements, "s3express:CreateSession", bucket, { "s3express:SessionMode": "ReadOnly" })).toBe(true);
    expect(allows(statements, "s3express:CreateSession", bucket, { "s3express:SessionMode": "ReadWrite" })).toBe(false);
  });

  it("lists published seal keys under their prefix only", () => {
    expect(allows(statements, "s3:ListBucket", "arn:aws:s3:::express-lane-artifacts", { "s3:prefix": "seal-keys/" })).toBe(true);
    expect(allows(statements, "s3:ListBucket", "arn:aws:s3:::express-lane-artifacts", { "s3:prefix": "releases/" })).toBe(false);
  });
});

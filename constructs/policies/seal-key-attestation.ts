import { TerraformResource } from "cdktf";
import { ContextValue, awsPrincipals, couldAllow } from "./evaluate";
import { Attrs, IamStatementJson, PolicyRule, asList, block, parsePolicy, resolvedValue } from "./rule";
import {
  ATTESTATION_PCR0_CONDITION_KEY as ATTESTATION_KEY,
  KEY_POLICY_ADMINS_METADATA,
  KEY_ROLE_METADATA,
  KEY_ROLE_TAG,
  LANE_CONDITION_KEY,
  LANE_KEY_PURPOSE as LANE_KEY_PURPOSE_VALUE,
  SEAL_PURPOSE as SEAL_PURPOSE_VALUE,
  SEAL_PURPOSE_CONDITION_KEY as SEAL_PURPOSE_KEY,
  SEAL_WRITER_CONDITION_KEY as SEAL_WRITER_KEY,
} from "../perms";

/** A principal no policy of ours names: catches `Principal: "*"` and account-root delegation. */
export const STRANGER = "arn:aws:iam::999999999999:role/stranger";

/** Actions that would hand out the seal key's plaintext, or the power to get it, without attestation. */
const UNSEAL_ACTIONS = ["kms:Decrypt", "kms:ReEncryptFrom"];
const ESCAPE_ACTIONS = ["kms:CreateGrant", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKeyPair"];

/** Every value a policy compares the given condition key with (to build concrete requests). */
function conditionValues(statements: readonly IamStatementJson[], key: string): string[] {
  const out = new Set<string>();
  for (const s of statements) {
    for (const [operator, entries] of Object.entries(s.Condition ?? {})) {
      if (/Null|Bool/.test(operator)) continue;
      for (const [k, v] of Object.entries(entries)) if (k.toLowerCase() === key.toLowerCase()) for (const x of asList(v as string | string[])) out.add(String(x));
    }
  }
  return [...out];
}

function metadataList(resource: TerraformResource, type: string): string[] | undefined {
  const m = resource.node.metadata.find((x) => x.type === type);
  return m ? resolvedValue(resource, m.data as string[]) : undefined;
}

/**
 * The seal key's policy (an aws_kms_key tagged as seal, or the aws_kms_key_policy the lane stack
 * attaches to it), evaluated for concrete requests with constructs/policies/evaluate.ts:
 *  - some principal may Decrypt with an attestation document whose ImageSha384 is a real PCR0
 *    (96 hex, not all zeros), and every PCR0 named is such a value;
 *  - nobody (named, or a stranger — `Principal: "*"`, account-root delegation) may Decrypt or
 *    ReEncryptFrom without attestation unless the ciphertext is a writer key
 *    (purpose express-lane-seal *and* a writer id), and the attested principals not even then;
 *  - nobody may CreateGrant or ReEncrypt (a grant or a re-encryption sidesteps the attestation
 *    condition);
 *  - kms:PutKeyPolicy (which can rewrite all of this) only for the declared key-policy admins
 *    (KEY_POLICY_ADMINS_METADATA), never for an attested or writer principal or a stranger.
 * A seal key created with `policyManagedElsewhere` must allow no use at all in its initial policy.
 */
export class SealKeyAttestation extends PolicyRule {
  readonly id = "EL-SEAL-ATTESTATION";
  readonly description = "the seal key's host Decrypt grant must require Nitro attestation (PCR0)";
  protected readonly resourceTypes = ["aws_kms_key", "aws_kms_key_policy"];
  protected check(attrs: Attrs, resource: TerraformResource): string[] {
    const admins = metadataList(resource, KEY_POLICY_ADMINS_METADATA);
    if (resource.terraformResourceType === "aws_kms_key_policy") {
      const role = resource.node.metadata.find((m) => m.type === KEY_ROLE_METADATA)?.data;
      return role === "seal" ? checkSealPolicy(attrs["policy"], admins) : [];
    }
    const tags = (attrs["tags"] ?? {}) as Record<string, unknown>;
    if (tags[KEY_ROLE_TAG] !== "seal") return [];
    const ignored = asList(block(attrs["lifecycle"])?.["ignore_changes"] as string | string[] | undefined);
    if (ignored.includes("policy")) return checkInitialPolicy(attrs["policy"], admins);
    return checkSealPolicy(attrs["policy"], admins);
  }
}

/** Principals named anywhere in the policy, plus the stranger. */
function universe(statements: readonly IamStatementJson[]): string[] {
  return [...new Set([...statements.flatMap(awsPrincipals).filter((p) => p !== "*"), STRANGER])];
}

const sids = (ss: IamStatementJson[]) => ss.map((s, i) => s.Sid ?? `#${i}`).join(", ");

/** The initial policy of a seal key whose policy the lane stack owns: administration only. */
export function checkInitialPolicy(policy: unknown, admins?: readonly string[]): string[] {
  const statements = parsePolicy(policy);
  if (statements === undefined) return ["seal key policy is not a literal JSON document"];
  const problems: string[] = [];
  const pcr0s = conditionValues(statements, ATTESTATION_KEY);
  for (const p of universe(statements)) {
    for (const action of [...UNSEAL_ACTIONS, ...ESCAPE_ACTIONS, "kms:GenerateDataKey", "kms:Encrypt"]) {
      for (const context of [{}, { [SEAL_PURPOSE_KEY]: SEAL_PURPOSE_VALUE }, ...pcr0s.map((v) => ({ [ATTESTATION_KEY]: v, [SEAL_PURPOSE_KEY]: SEAL_PURPOSE_VALUE }))]) {
        const allowing = couldAllow(statements, { principal: p, action, context });
        if (allowing.length > 0) {
          problems.push(`statements ${sids(allowing)}: the initial policy of a seal key whose policy is managed elsewhere must not allow ${action} (${p})`);
          break;
        }
      }
    }
  }
  problems.push(...putKeyPolicyProblems(statements, admins, new Set()));
  return [...new Set(problems)];
}

function putKeyPolicyProblems(statements: readonly IamStatementJson[], admins: readonly string[] | undefined, forbidden: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  for (const p of universe(statements)) {
    const allowing = couldAllow(statements, { principal: p, action: "kms:PutKeyPolicy" });
    if (allowing.length === 0) continue;
    if (p === STRANGER) problems.push(`statements ${sids(allowing)} let any principal (Principal "*" or the account root) call kms:PutKeyPolicy`);
    else if (forbidden.has(p)) problems.push(`statements ${sids(allowing)} let ${p}, which uses the seal key, call kms:PutKeyPolicy and rewrite its own access`);
    else if (admins !== undefined && !admins.includes(p)) problems.push(`statements ${sids(allowing)} let ${p} call kms:PutKeyPolicy; only the declared key-policy admins may`);
  }
  return problems;
}

export function checkSealPolicy(policy: unknown, admins?: readonly string[]): string[] {
  const statements = parsePolicy(policy);
  if (statements === undefined) return ["seal key policy is not a literal JSON document"];
  const problems: string[] = [];
  const pcr0s = conditionValues(statements, ATTESTATION_KEY);
  for (const v of pcr0s) {
    if (!/^[0-9a-fA-F]{96}$/.test(v)) problems.push(`${ATTESTATION_KEY} must be a 96-hex PCR0, got ${JSON.stringify(v)}`);
    else if (/^0+$/.test(v)) problems.push(`PCR0 ${v.slice(0, 8)}… is all zeros (debug-mode enclave)`);
  }
  const writerIds = conditionValues(statements, SEAL_WRITER_KEY);
  const principals = universe(statements);
  const seal = (extra: Record<string, ContextValue> = {}) => ({ [SEAL_PURPOSE_KEY]: SEAL_PURPOSE_VALUE, ...extra });

  // Who is attested: may Decrypt a writer key with a measured PCR0 but not without one.
  const attested = new Set<string>();
  for (const p of principals) {
    const withAttestation = pcr0s.some((v) => couldAllow(statements, { principal: p, action: "kms:Decrypt", context: seal({ [ATTESTATION_KEY]: v }) }).length > 0);
    if (withAttestation) attested.add(p);
  }
  const writers = new Set<string>();
  for (const p of principals) {
    // No Decrypt without attestation, except writer keys (purpose + writer id).
    for (const action of UNSEAL_ACTIONS) {
      for (const context of [{}, { [SEAL_PURPOSE_KEY]: "something-else" }, { [SEAL_PURPOSE_KEY]: LANE_KEY_PURPOSE_VALUE }, seal()]) {
        const allowing = couldAllow(statements, { principal: p, action, context });
        if (allowing.length > 0) {
          problems.push(
            `statements ${sids(allowing)} allow ${action} without a ${ATTESTATION_KEY} condition for ${p === STRANGER ? 'any principal (Principal "*" or the account root)' : p} (context ${JSON.stringify(context)}); only writers, on their own writer keys (${SEAL_PURPOSE_KEY} and ${SEAL_WRITER_KEY}), may`,
          );
          break;
        }
      }
      for (const w of writerIds) {
        const allowing = couldAllow(statements, { principal: p, action, context: seal({ [SEAL_WRITER_KEY]: w }) });
        if (allowing.length === 0) continue;
        if (action !== "kms:Decrypt" || p === STRANGER || attested.has(p)) {
          problems.push(
            `statements ${sids(allowing)} allow ${action} of writer ${w}'s keys without attestation for ${p === STRANGER ? "any principal" : p}${attested.has(p) ? ", which holds the attested grant (the host must have no path around attestation)" : ""}`,
          );
        } else writers.add(p);
      }
    }
    for (const action of ESCAPE_ACTIONS) {
      // GenerateDataKeyPair returns the private key in plaintext; the lane signing key must be made
      // with ...WithoutPlaintext so only enclaves ever hold it.
      const laneKey = { [SEAL_PURPOSE_KEY]: LANE_KEY_PURPOSE_VALUE };
      const contexts = [
        {},
        seal(),
        laneKey,
        ...conditionValues(statements, LANE_CONDITION_KEY).map((l) => ({ ...laneKey, [LANE_CONDITION_KEY]: l })),
        ...pcr0s.map((v) => seal({ [ATTESTATION_KEY]: v })),
        ...writerIds.map((w) => seal({ [SEAL_WRITER_KEY]: w })),
      ];
      const allowing = contexts.flatMap((context) => couldAllow(statements, { principal: p, action, context }));
      if (allowing.length > 0)
        problems.push(
          `statements ${sids([...new Set(allowing)])} allow ${action} on the seal key for ${p === STRANGER ? "any principal" : p}: it would sidestep the attestation condition`,
        );
    }
  }
  if (attested.has(STRANGER))
    problems.push(`the attested Decrypt is open to any principal (Principal "*" or the account root): any account running the image could unseal; name the host role`);
  problems.push(...putKeyPolicyProblems(statements, admins, new Set([...attested, ...writers])));
  if (attested.size === 0 && problems.length === 0) problems.push(`no statement grants the host kms:Decrypt under ${ATTESTATION_KEY}`);
  return [...new Set(problems)];
}

import { TerraformResource } from "cdktf";
import { awsPrincipals, couldAllow } from "./evaluate";
import { Attrs, PolicyRule, parsePolicy } from "./rule";
import { KEY_ROLE_TAG } from "../perms";
import { STRANGER } from "./seal-key-attestation";

/** Role names of principals that must never sign the key directory (hosts and writers). */
const LANE_WORKLOAD_ROLE = /:role\/[\w+=,.@-]*-(host|writer(-[\w+=,.@-]+)?)$|Hosts_Role|Writer/;

/**
 * The admin signing key (tag ExpressLaneKeyRole = signing) signs the writer key directory, which
 * decides which writer keys the enclave accepts. Evaluated for concrete requests: nobody outside
 * the principals the policy names (no `Principal: "*"`, no account-root delegation) may kms:Sign,
 * no host or writer role may kms:Sign, nobody may kms:CreateGrant (a grant could hand Sign to
 * anyone), and Sign must be limited to ED25519_SHA_512 (kms:SigningAlgorithm).
 */
export class SigningKeyPolicy extends PolicyRule {
  readonly id = "EL-SIGNING-KEY";
  readonly description = "only named directory publishers may sign with the admin signing key";
  protected readonly resourceTypes = ["aws_kms_key"];
  protected check(attrs: Attrs, _resource: TerraformResource): string[] {
    const tags = (attrs["tags"] ?? {}) as Record<string, unknown>;
    if (tags[KEY_ROLE_TAG] !== "signing") return [];
    const statements = parsePolicy(attrs["policy"]);
    if (statements === undefined) return ["signing key policy is not a literal JSON document"];
    const problems: string[] = [];
    const principals = [...new Set([...statements.flatMap(awsPrincipals).filter((p) => p !== "*"), STRANGER])];
    let anySigner = false;
    for (const p of principals) {
      const signs = couldAllow(statements, { principal: p, action: "kms:Sign", context: { "kms:SigningAlgorithm": "ED25519_SHA_512" } });
      const otherAlgorithm = couldAllow(statements, { principal: p, action: "kms:Sign", context: { "kms:SigningAlgorithm": "ED25519_PH_SHA_512" } });
      const grants = couldAllow(statements, { principal: p, action: "kms:CreateGrant" });
      const who = p === STRANGER ? 'any principal (Principal "*" or the account root)' : p;
      if (signs.length > 0) {
        anySigner = anySigner || p !== STRANGER;
        if (p === STRANGER || LANE_WORKLOAD_ROLE.test(p)) problems.push(`${who} may kms:Sign with the admin signing key; only named directory publishers may`);
      }
      if (otherAlgorithm.length > 0) problems.push(`${who} may kms:Sign with an algorithm other than ED25519_SHA_512 (condition kms:SigningAlgorithm)`);
      if (grants.length > 0) problems.push(`${who} may kms:CreateGrant on the admin signing key`);
    }
    if (!anySigner && problems.length === 0) problems.push("nobody may sign the key directory (name a directory publisher)");
    return [...new Set(problems)];
  }
}

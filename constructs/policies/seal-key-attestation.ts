import { TerraformResource } from "cdktf";
import { Attrs, IamStatementJson, PolicyRule, asList, block, parsePolicy } from "./rule";

/** Tag that marks a KMS key as the enclave seal key. */
export const KEY_ROLE_TAG = "ExpressLaneKeyRole";
/** Construct metadata on an aws_kms_key_policy naming its key's role (constructs/key.ts). */
export const KEY_ROLE_METADATA = "express-lane:key-role";
export const ATTESTATION_KEY = "kms:RecipientAttestation:ImageSha384";
/** The one un-attested Decrypt allowed: writers unwrapping seal keys (wire/seal-keys.ts purpose). */
export const SEAL_PURPOSE_KEY = "kms:EncryptionContext:purpose";
export const SEAL_PURPOSE_VALUE = "express-lane-seal";

const DECRYPT = (a: string) => a === "*" || a === "kms:*" || a === "kms:Decrypt" || a === "kms:Decrypt*";

const principalsOf = (s: IamStatementJson): string[] => {
  const p = s.Principal;
  if (p === "*") return ["*"];
  const aws = (p as { AWS?: string | string[] } | undefined)?.AWS;
  return asList(aws);
};

/**
 * On the seal key's policy (an aws_kms_key tagged as seal, or the aws_kms_key_policy the lane stack
 * attaches to it): some statement must grant kms:Decrypt under
 * `kms:RecipientAttestation:ImageSha384` = a real (non-zero) PCR0, and every other statement that
 * allows Decrypt must be the writers' seal-key unwrap: conditioned on the seal encryption context,
 * naming explicit principals none of which holds the attested grant (the host must have no path
 * around attestation). A seal key created with `policyManagedElsewhere` (its policy is owned by a
 * later stack) must grant no Decrypt at all in its initial policy.
 */
export class SealKeyAttestation extends PolicyRule {
  readonly id = "EL-SEAL-ATTESTATION";
  readonly description = "the seal key's host Decrypt grant must require Nitro attestation (PCR0)";
  protected readonly resourceTypes = ["aws_kms_key", "aws_kms_key_policy"];
  protected check(attrs: Attrs, resource: TerraformResource): string[] {
    if (resource.terraformResourceType === "aws_kms_key_policy") {
      const role = resource.node.metadata.find((m) => m.type === KEY_ROLE_METADATA)?.data;
      return role === "seal" ? this.checkPolicy(attrs["policy"]) : [];
    }
    const tags = (attrs["tags"] ?? {}) as Record<string, unknown>;
    if (tags[KEY_ROLE_TAG] !== "seal") return [];
    const ignored = asList(block(attrs["lifecycle"])?.["ignore_changes"] as string | string[] | undefined);
    if (ignored.includes("policy")) {
      const statements = parsePolicy(attrs["policy"]);
      if (statements === undefined) return ["seal key policy is not a literal JSON document"];
      return statements
        .filter((s) => (s.Effect ?? "Allow") === "Allow" && asList(s.Action).some(DECRYPT))
        .map((s, i) => `statement ${s.Sid ?? `#${i}`}: the initial policy of a seal key whose policy is managed elsewhere must not allow kms:Decrypt`);
    }
    return this.checkPolicy(attrs["policy"]);
  }

  private checkPolicy(policy: unknown): string[] {
    const statements = parsePolicy(policy);
    if (statements === undefined) return ["seal key policy is not a literal JSON document"];
    const problems: string[] = [];
    const attestedPrincipals = new Set<string>();
    const unattested: { name: string; statement: IamStatementJson }[] = [];
    statements.forEach((s, i) => {
      if ((s.Effect ?? "Allow") !== "Allow" || !asList(s.Action).some(DECRYPT)) return;
      const name = s.Sid ?? `#${i}`;
      const values = Object.entries(s.Condition ?? {})
        .filter(([op]) => op === "StringEqualsIgnoreCase" || op === "StringEquals")
        .map(([, kv]) => kv[ATTESTATION_KEY])
        .filter((v) => v !== undefined);
      if (values.length === 0) {
        unattested.push({ name, statement: s });
        return;
      }
      for (const v of values.flatMap((x) => (Array.isArray(x) ? x : [x]))) {
        if (typeof v !== "string" || !/^[0-9a-fA-F]{96}$/.test(v)) problems.push(`statement ${name}: ${ATTESTATION_KEY} must be a 96-hex PCR0, got ${JSON.stringify(v)}`);
        else if (/^0+$/.test(v)) problems.push(`statement ${name}: PCR0 is all zeros (debug-mode enclave)`);
      }
      for (const p of principalsOf(s)) attestedPrincipals.add(p);
    });
    for (const { name, statement } of unattested) {
      const purpose = (statement.Condition?.["StringEquals"] ?? {})[SEAL_PURPOSE_KEY];
      const principals = principalsOf(statement);
      const writerUnwrap = purpose === SEAL_PURPOSE_VALUE && principals.length > 0 && !principals.includes("*") && !principals.some((p) => attestedPrincipals.has(p));
      if (!writerUnwrap) {
        problems.push(
          `statement ${name} allows kms:Decrypt without a ${ATTESTATION_KEY} condition (only a writers' unwrap under StringEquals ${SEAL_PURPOSE_KEY}=${SEAL_PURPOSE_VALUE}, for principals without the attested grant, may)`,
        );
      }
    }
    if (attestedPrincipals.size === 0 && problems.length === 0) problems.push(`no statement grants the host kms:Decrypt under ${ATTESTATION_KEY}`);
    return problems;
  }
}

import { Attrs, PolicyRule, asList, parsePolicy } from "./rule";

/** Tag that marks a KMS key as the enclave seal key. */
export const KEY_ROLE_TAG = "ExpressLaneKeyRole";
export const ATTESTATION_KEY = "kms:RecipientAttestation:ImageSha384";

const DECRYPT = (a: string) => a === "*" || a === "kms:*" || a === "kms:Decrypt" || a === "kms:Decrypt*";

/**
 * On the seal key, some statement must grant kms:Decrypt under
 * `kms:RecipientAttestation:ImageSha384` = a real (non-zero) PCR0, and every statement that
 * allows Decrypt must carry that condition.
 */
export class SealKeyAttestation extends PolicyRule {
  readonly id = "EL-SEAL-ATTESTATION";
  readonly description = "the seal key's host Decrypt grant must require Nitro attestation (PCR0)";
  protected readonly resourceTypes = ["aws_kms_key"];
  protected check(attrs: Attrs): string[] {
    const tags = (attrs["tags"] ?? {}) as Record<string, unknown>;
    if (tags[KEY_ROLE_TAG] !== "seal") return [];
    const statements = parsePolicy(attrs["policy"]);
    if (statements === undefined) return ["seal key policy is not a literal JSON document"];
    const problems: string[] = [];
    let attested = 0;
    statements.forEach((s, i) => {
      if ((s.Effect ?? "Allow") !== "Allow" || !asList(s.Action).some(DECRYPT)) return;
      const name = s.Sid ?? `#${i}`;
      const values = Object.entries(s.Condition ?? {})
        .filter(([op]) => op === "StringEqualsIgnoreCase" || op === "StringEquals")
        .map(([, kv]) => kv[ATTESTATION_KEY])
        .filter((v) => v !== undefined);
      if (values.length === 0) {
        problems.push(`statement ${name} allows kms:Decrypt without a ${ATTESTATION_KEY} condition`);
        return;
      }
      for (const v of values.flatMap((x) => (Array.isArray(x) ? x : [x]))) {
        if (typeof v !== "string" || !/^[0-9a-fA-F]{96}$/.test(v)) problems.push(`statement ${name}: ${ATTESTATION_KEY} must be a 96-hex PCR0, got ${JSON.stringify(v)}`);
        else if (/^0+$/.test(v)) problems.push(`statement ${name}: PCR0 is all zeros (debug-mode enclave)`);
      }
      attested++;
    });
    if (attested === 0 && problems.length === 0) problems.push(`no statement grants the host kms:Decrypt under ${ATTESTATION_KEY}`);
    return problems;
  }
}

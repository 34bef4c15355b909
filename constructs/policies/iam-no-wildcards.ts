import { TerraformResource } from "cdktf";
import { RESOURCE_WILDCARD_ACTIONS, SELF_REFERENCING_POLICY_TYPES, WILDCARD_STATEMENT_ALLOWLIST } from "./allowlist";
import { Attrs, PolicyRule, asList, parsePolicy } from "./rule";

const POLICY_ATTRIBUTE: Readonly<Record<string, string>> = {
  aws_iam_role_policy: "policy",
  aws_iam_policy: "policy",
  aws_iam_user_policy: "policy",
  aws_iam_group_policy: "policy",
  aws_kms_key: "policy",
  aws_s3_bucket_policy: "policy",
  aws_sns_topic_policy: "policy",
};

/**
 * Allow statements must not use `*` or `service:*` actions, `Resource: "*"`, NotAction or
 * NotResource, except statements documented in constructs/policies/allowlist.ts.
 */
export class IamNoWildcards extends PolicyRule {
  readonly id = "EL-IAM-NO-WILDCARD";
  readonly description = "no * actions or resources in IAM except the documented allowlist";
  protected readonly resourceTypes = Object.keys(POLICY_ATTRIBUTE);
  protected check(attrs: Attrs, resource: TerraformResource): string[] {
    const type = resource.terraformResourceType;
    const statements = parsePolicy(attrs[POLICY_ATTRIBUTE[type]]);
    if (statements === undefined) return [`${POLICY_ATTRIBUTE[type]} is not a literal JSON policy document; it cannot be checked`];
    const problems: string[] = [];
    statements.forEach((s, i) => {
      if ((s.Effect ?? "Allow") !== "Allow") return;
      const name = s.Sid ? `statement ${s.Sid}` : `statement #${i}`;
      const documented = s.Sid !== undefined && WILDCARD_STATEMENT_ALLOWLIST[s.Sid] !== undefined;
      if (s.NotAction !== undefined || s.NotResource !== undefined) problems.push(`${name} uses NotAction/NotResource in an Allow`);
      const actions = asList(s.Action);
      const wildActions = actions.filter((a) => a === "*" || /^[a-z0-9-]+:\*$/i.test(a));
      if (wildActions.length > 0 && !documented) problems.push(`${name} allows wildcard actions ${wildActions.join(", ")}`);
      const resources = asList(s.Resource);
      if (resources.includes("*")) {
        const selfRef = SELF_REFERENCING_POLICY_TYPES.includes(type);
        const actionsNeedStar = actions.length > 0 && actions.every((a) => RESOURCE_WILDCARD_ACTIONS[a] !== undefined);
        if (!selfRef && !documented && !actionsNeedStar) problems.push(`${name} allows ${actions.join(", ")} on Resource "*"`);
      }
    });
    return problems;
  }
}

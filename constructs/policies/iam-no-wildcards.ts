import { TerraformResource } from "cdktf";
import { RESOURCE_WILDCARD_ACTIONS, SELF_REFERENCING_POLICY_TYPES } from "./allowlist";
import { awsPrincipals, isAccountPrincipal } from "./evaluate";
import { Attrs, PolicyRule, asList, parsePolicy } from "./rule";
import { PolicySuppressions } from "./suppressions";

/** Policy-bearing attributes by resource type; trust policies are read too. */
const POLICY_ATTRIBUTES: Readonly<Record<string, readonly string[]>> = {
  aws_iam_role_policy: ["policy"],
  aws_iam_policy: ["policy"],
  aws_iam_user_policy: ["policy"],
  aws_iam_group_policy: ["policy"],
  aws_iam_role: ["assume_role_policy"],
  aws_kms_key: ["policy"],
  aws_kms_key_policy: ["policy"],
  aws_s3_bucket_policy: ["policy"],
  aws_sns_topic_policy: ["policy"],
};

export const IAM_NO_WILDCARD_ID = "EL-IAM-NO-WILDCARD";

/**
 * Allow statements must not use `*` or `service:*` actions, `Resource: "*"`, NotAction,
 * NotResource or NotPrincipal, must not name `Principal: "*"`, and trust and key policies must not
 * name the account root (that trusts, or delegates to, every identity of the account). Each
 * finding has a name (`Action::ec2:*`, `Resource::*`, `Principal::*`, `Principal::account-root`,
 * `NotAction`, ...) that a suppression on the construct may list with its reason.
 */
export class IamNoWildcards extends PolicyRule {
  readonly id = IAM_NO_WILDCARD_ID;
  readonly description = "no * actions, resources or principals in IAM unless suppressed on the construct with a reason";
  protected readonly resourceTypes = Object.keys(POLICY_ATTRIBUTES);

  protected check(attrs: Attrs, resource: TerraformResource): string[] {
    const type = resource.terraformResourceType;
    const problems: string[] = [];
    for (const attribute of POLICY_ATTRIBUTES[type]) {
      if (attrs[attribute] === undefined && type === "aws_kms_key") continue;
      const statements = parsePolicy(attrs[attribute]);
      if (statements === undefined) {
        problems.push(`${attribute} is not a literal JSON policy document; it cannot be checked`);
        continue;
      }
      const trustOrKey = attribute === "assume_role_policy" || type === "aws_kms_key" || type === "aws_kms_key_policy";
      statements.forEach((s, i) => {
        if ((s.Effect ?? "Allow") !== "Allow") return;
        const name = s.Sid ? `statement ${s.Sid}` : `statement #${i}`;
        const findings: [string, string][] = [];
        if (s.NotAction !== undefined) findings.push(["NotAction", `${name} uses NotAction in an Allow`]);
        if (s.NotResource !== undefined) findings.push(["NotResource", `${name} uses NotResource in an Allow`]);
        if ((s as { NotPrincipal?: unknown }).NotPrincipal !== undefined) findings.push(["NotPrincipal", `${name} uses NotPrincipal in an Allow`]);
        const actions = asList(s.Action);
        for (const a of actions.filter((x) => x === "*" || /^[a-z0-9-]+:\*$/i.test(x))) findings.push([`Action::${a}`, `${name} allows wildcard action ${a}`]);
        const resources = asList(s.Resource);
        if (resources.includes("*")) {
          const selfRef = SELF_REFERENCING_POLICY_TYPES.includes(type);
          const actionsNeedStar = actions.length > 0 && actions.every((a) => RESOURCE_WILDCARD_ACTIONS[a] !== undefined);
          if (!selfRef && !actionsNeedStar) findings.push(["Resource::*", `${name} allows ${actions.join(", ")} on Resource "*"`]);
        }
        const principals = awsPrincipals(s);
        if (principals.includes("*")) findings.push(["Principal::*", `${name} allows Principal "*"`]);
        if (trustOrKey && principals.some(isAccountPrincipal)) {
          findings.push([
            "Principal::account-root",
            `${name} names the account root: ${attribute === "assume_role_policy" ? "the whole account may assume the role" : "the key policy delegates to every IAM policy of the account"}`,
          ]);
        }
        for (const [finding, message] of findings) {
          if (!PolicySuppressions.covers(resource, this.id, finding)) problems.push(message);
        }
      });
    }
    return problems;
  }
}

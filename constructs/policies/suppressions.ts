/**
 * Rule exemptions attached to the construct that needs them (the cdk-nag model:
 * `NagSuppressions.addResourceSuppressions(construct, [{ id, reason, appliesTo }])`), not keyed by
 * statement Sid: a statement elsewhere that happens to reuse a Sid gains nothing.
 *
 * A suppression names the rule, says why, and (for the wildcard rule) lists exactly the findings it
 * covers — `Action::ec2:*`, `Resource::*` — so a new wildcard on the same construct still fails.
 */
import { IConstruct } from "constructs";

export const SUPPRESSION_METADATA = "express-lane:policy-suppression";

export interface PolicySuppression {
  /** Rule ID, e.g. `EL-IAM-NO-WILDCARD`. */
  readonly id: string;
  /** Why the exemption is safe; required and non-trivial. */
  readonly reason: string;
  /**
   * Findings covered (rule-specific strings such as `Action::kms:*` or `Resource::*`).
   * @default every finding of the rule on this construct
   */
  readonly appliesTo?: readonly string[];
}

export const PolicySuppressions = {
  /** Attaches suppressions to `construct` (they cover its L1 resources and their descendants). */
  add(construct: IConstruct, suppressions: readonly PolicySuppression[]): void {
    for (const s of suppressions) {
      if (s.reason.trim().length < 20) throw new Error(`${construct.node.path}: suppression of ${s.id} needs a real reason (got "${s.reason}")`);
      construct.node.addMetadata(SUPPRESSION_METADATA, { ...s, appliesTo: s.appliesTo ? [...s.appliesTo] : undefined });
    }
  },

  /** Suppressions of `ruleId` on `construct` and its ancestors. */
  of(construct: IConstruct, ruleId: string): PolicySuppression[] {
    return construct.node.scopes
      .flatMap((c) => c.node.metadata)
      .filter((m) => m.type === SUPPRESSION_METADATA && (m.data as PolicySuppression).id === ruleId)
      .map((m) => m.data as PolicySuppression);
  },

  /** True when `finding` (e.g. `Action::ec2:*`) of `ruleId` is suppressed on `construct`. */
  covers(construct: IConstruct, ruleId: string, finding: string): boolean {
    return PolicySuppressions.of(construct, ruleId).some((s) => s.appliesTo === undefined || s.appliesTo.includes(finding));
  },
};

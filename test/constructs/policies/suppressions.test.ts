import { Testing, TerraformStack } from "cdktf";
import { Construct } from "constructs";
import { PolicySuppressions, SUPPRESSION_METADATA } from "../../../constructs/policies/suppressions";

const REASON = "the deploy role creates resources whose ids are unknown";

function tree() {
  const stack = new TerraformStack(Testing.app(), "s");
  const parent = new Construct(stack, "parent");
  const child = new Construct(parent, "child");
  const sibling = new Construct(stack, "sibling");
  return { stack, parent, child, sibling };
}

describe("PolicySuppressions", () => {
  it("a suppression covers its construct and everything under it, not its siblings", () => {
    const { parent, child, sibling } = tree();
    PolicySuppressions.add(parent, [{ id: "EL-X", reason: REASON }]);
    expect(PolicySuppressions.of(parent, "EL-X")).toHaveLength(1);
    expect(PolicySuppressions.of(child, "EL-X")).toHaveLength(1);
    expect(PolicySuppressions.of(sibling, "EL-X")).toEqual([]);
    expect(PolicySuppressions.of(child, "EL-OTHER")).toEqual([]);
  });

  it("without appliesTo it covers every finding of its rule; with it, exactly the findings listed", () => {
    const { parent, child } = tree();
    PolicySuppressions.add(parent, [{ id: "EL-ALL", reason: REASON }]);
    PolicySuppressions.add(child, [{ id: "EL-SOME", reason: REASON, appliesTo: ["Action::ec2:*"] }]);
    expect(PolicySuppressions.covers(child, "EL-ALL", "anything")).toBe(true);
    expect(PolicySuppressions.covers(child, "EL-SOME", "Action::ec2:*")).toBe(true);
    expect(PolicySuppressions.covers(child, "EL-SOME", "Action::logs:*")).toBe(false);
    expect(PolicySuppressions.covers(parent, "EL-SOME", "Action::ec2:*")).toBe(false); // attached below the parent
  });

  it("needs a real reason", () => {
    const { parent } = tree();
    expect(() => PolicySuppressions.add(parent, [{ id: "EL-X", reason: "  ok because  " }])).toThrow(/needs a real reason/);
    expect(parent.node.metadata.filter((m) => m.type === SUPPRESSION_METADATA)).toEqual([]);
  });

  it("keeps its own copy of appliesTo (a caller changing its array later changes nothing)", () => {
    const { parent } = tree();
    const appliesTo = ["Resource::*"];
    PolicySuppressions.add(parent, [{ id: "EL-X", reason: REASON, appliesTo }]);
    appliesTo.push("Action::*");
    expect(PolicySuppressions.covers(parent, "EL-X", "Action::*")).toBe(false);
  });
});

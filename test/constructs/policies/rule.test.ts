import { TerraformStack, Testing, Fn } from "cdktf";
import { IamRolePolicy, KmsKey } from "../../../constructs/aws";
import { asList, block, blocks, isTrue, parsePolicy, PolicyRule, policyErrors, resolvedAttributes, resolvedValue, type Attrs } from "../../../constructs/policies/rule";
import { errorsOf } from "./helpers";

/** A rule that reports every aws_kms_key it sees, with its description. */
class ReportKeys extends PolicyRule {
  readonly id = "EL-TEST";
  readonly description = "test rule";
  protected readonly resourceTypes = ["aws_kms_key"];
  protected check(attrs: Attrs): string[] {
    return [`saw ${String(attrs["description"])}`];
  }
}

describe("PolicyRule", () => {
  it("annotates each violation of the resource types it looks at, as `[id] message (description)`", () => {
    expect(
      errorsOf(new ReportKeys(), (s) => {
        new KmsKey(s, "k", { description: "one" });
        new IamRolePolicy(s, "p", { role: "r", policy: "{}" }); // not a type the rule looks at
      }),
    ).toEqual(["[EL-TEST] saw one (test rule)"]);
  });

  it("sees attributes with tokens resolved and overrides applied", () => {
    expect(
      errorsOf(new ReportKeys(), (s) => {
        const k = new KmsKey(s, "k", { description: "before" });
        k.addOverride("description", "after");
      }),
    ).toEqual(["[EL-TEST] saw after (test rule)"]);
  });

  it("policyErrors is empty for a stack without violations", () => {
    const s = new TerraformStack(Testing.app(), "s");
    expect(policyErrors(s)).toEqual([]);
  });
});

describe("resolvedAttributes / resolvedValue", () => {
  it("resolve tokens as the synthesized JSON has them", () => {
    const s = new TerraformStack(Testing.app(), "s");
    const k = new KmsKey(s, "k", { description: Fn.join("-", ["a", "b"]) });
    expect(resolvedAttributes(k).description).toBe('${join("-", ["a", "b"])}');
    expect(resolvedValue(k, { arn: k.arn })).toEqual({ arn: "${aws_kms_key.k.arn}" });
  });
});

describe("attribute helpers", () => {
  it("block takes the first element of a block list, or the block itself", () => {
    expect(block([{ a: 1 }, { a: 2 }])).toEqual({ a: 1 });
    expect(block({ a: 1 })).toEqual({ a: 1 });
    expect(block([])).toBeUndefined();
    expect(block(null)).toBeUndefined();
    expect(block("x")).toBeUndefined();
  });

  it("blocks always gives a list", () => {
    expect(blocks([{ a: 1 }, { a: 2 }])).toHaveLength(2);
    expect(blocks({ a: 1 })).toEqual([{ a: 1 }]);
    expect(blocks(undefined)).toEqual([]);
  });

  it("isTrue accepts Terraform's boolean spellings only", () => {
    expect([true, "true"].map(isTrue)).toEqual([true, true]);
    expect([false, "false", 1, "TRUE", undefined].map(isTrue)).toEqual([false, false, false, false, false]);
  });

  it("asList normalises IAM's string-or-list fields", () => {
    expect(asList(undefined)).toEqual([]);
    expect(asList("a")).toEqual(["a"]);
    expect(asList(["a", "b"])).toEqual(["a", "b"]);
  });

  it("parsePolicy reads one statement or many; undefined when the policy is not literal JSON yet", () => {
    expect(parsePolicy(JSON.stringify({ Statement: { Effect: "Allow" } }))).toEqual([{ Effect: "Allow" }]);
    expect(parsePolicy(JSON.stringify({ Statement: [{ Sid: "a" }, { Sid: "b" }] }))).toHaveLength(2);
    expect(parsePolicy(JSON.stringify({ Version: "2012-10-17" }))).toEqual([]);
    expect(parsePolicy("${data.aws_iam_policy_document.x.json}")).toBeUndefined();
    expect(parsePolicy(undefined)).toBeUndefined();
  });
});

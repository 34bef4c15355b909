import { App, IAspect, TerraformStack, Testing } from "cdktf";
import { AwsProvider, CloudwatchLogGroup, IamRole, IamRolePolicy } from "../../../constructs/aws";
import { allRules, applyPolicies } from "../../../constructs/policies";
import * as pack from "../../../constructs/policies";
import { policyDoc } from "./helpers";

describe("policy pack", () => {
  test("violations fail a full app synth; compliant stacks synthesize", () => {
    const bad = new App({ outdir: Testing.app().outdir });
    const stack = new TerraformStack(bad, "bad");
    new AwsProvider(stack, "aws", { region: "ap-south-1" });
    new IamRole(stack, "r", { assumeRolePolicy: policyDoc({ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }) });
    new IamRolePolicy(stack, "p", { role: "r", policy: policyDoc({ Effect: "Allow", Action: "*", Resource: "*" }) });
    applyPolicies(bad);
    expect(() => bad.synth()).toThrow(/EL-IAM-NO-WILDCARD/);

    const good = new App({ outdir: Testing.app().outdir });
    const ok = new TerraformStack(good, "good");
    new AwsProvider(ok, "aws", { region: "ap-south-1" });
    new CloudwatchLogGroup(ok, "g", { name: "/x", retentionInDays: 7 });
    applyPolicies(good);
    expect(() => good.synth()).not.toThrow();
  });
  test("allRules() has every rule class the pack exports, once each, with distinct ids", () => {
    const rules = allRules() as Array<IAspect & { id: string }>;
    const exported = (Object.values(pack) as unknown[]).filter((v): v is new () => IAspect => typeof v === "function" && /^[A-Z]/.test(v.name));
    const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
    expect(rules.map((r) => r.constructor).sort(byName)).toEqual(exported.sort(byName));
    expect(new Set(rules.map((r) => r.id)).size).toBe(rules.length);
    for (const r of rules) expect(r.id).toMatch(/^EL-[A-Z0-9-]+$/);
  });

  test("applyPolicies refuses a scope with no stack (aspects on the App are not inherited)", () => {
    expect(() => applyPolicies(Testing.app())).toThrow(/no TerraformStack/);
  });
});

// Shared by the policy rules' tests (one file per rule, mirroring constructs/policies/).
import { Aspects, IAspect, TerraformStack, Testing } from "cdktf";
import { Construct } from "constructs";
import { LaunchTemplate } from "../../../constructs/aws";
import { policyErrors } from "../../../constructs/policies";

/** Builds a stack with `build`, applies one rule, returns its error annotations. */
export function errorsOf(rule: IAspect, build: (s: TerraformStack) => void): string[] {
  const app = Testing.app();
  const stack = new TerraformStack(app, "test");
  build(stack);
  Aspects.of(stack).add(rule);
  Testing.synth(stack);
  return policyErrors(stack);
}

/** A compliant launch template; `over` makes it not. */
export const lt = (s: Construct, over: Partial<ConstructorParameters<typeof LaunchTemplate>[2]> = {}) =>
  new LaunchTemplate(s, "lt", {
    metadataOptions: { httpTokens: "required" },
    networkInterfaces: [{ deviceIndex: 0, associatePublicIpAddress: "false" }],
    blockDeviceMappings: [{ deviceName: "/dev/xvda", ebs: { encrypted: "true", volumeType: "gp3" } }],
    ...over,
  });

export const policyDoc = (statement: Record<string, unknown>) => JSON.stringify({ Version: "2012-10-17", Statement: [statement] });
export const PCR0 = "ab".repeat(48);

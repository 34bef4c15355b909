import * as fs from "node:fs";
import * as path from "node:path";
import { policyErrors } from "../../constructs/policies";
import { BOOTSTRAP_STACK_ID, LANE_STACK_ID } from "../../stacks/main";
import { synthStacks } from "./helpers";

describe("app", () => {
  test("full synth writes Terraform JSON for both stacks with zero policy violations", () => {
    const s = synthStacks();
    s.app.synth();
    expect(policyErrors(s.lane)).toEqual([]);
    expect(policyErrors(s.bootstrap)).toEqual([]);
    for (const id of [BOOTSTRAP_STACK_ID, LANE_STACK_ID]) {
      const file = path.join(s.outdir, "stacks", id, "cdk.tf.json");
      expect(JSON.parse(fs.readFileSync(file, "utf8")).resource).toBeDefined();
    }
  });

  test("a policy violation makes app.synth() fail with the rule's message", () => {
    const s = synthStacks();
    s.lane.hosts.resource.addOverride("metadata_options.http_tokens", "optional");
    expect(() => s.app.synth()).toThrow(/EL-IMDSV2/);
  });
});

/**
 * cdktf app entry: `npx tsx stacks/main.ts` (cdktf.json "app"; `npm run synth`).
 * Synthesizes both stacks into cdktf.out/ with the policy pack applied; a policy violation or
 * an invalid configuration makes this process exit non-zero with a readable message.
 */
import { App } from "cdktf";
import { applyPolicies } from "../constructs/policies";
import { BootstrapStack } from "./bootstrap-stack";
import { ConfigError, LaneConfig, loadConfig } from "./config";
import { LaneStack } from "./lane-stack";

export const BOOTSTRAP_STACK_ID = "express-lane-bootstrap";
export const LANE_STACK_ID = "express-lane";

/** Builds the app (without synthesizing). */
export function buildApp(config: LaneConfig, outdir?: string): { app: App; bootstrap: BootstrapStack; lane: LaneStack } {
  const app = new App({ outdir: outdir ?? process.env.CDKTF_OUTDIR ?? "cdktf.out" });
  const bootstrap = new BootstrapStack(app, BOOTSTRAP_STACK_ID, config);
  const lane = new LaneStack(app, LANE_STACK_ID, config);
  applyPolicies(app);
  return { app, bootstrap, lane };
}

function main(): void {
  let config: LaneConfig;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message);
      process.exit(1);
    }
    throw e;
  }
  if (config.measurements.development) {
    console.error(`note: using development enclave measurements from ${config.measurementsFile} (not a release)`);
  }
  buildApp(config).app.synth();
}

if (require.main === module) main();
